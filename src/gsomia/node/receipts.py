"""What a receiving node judges for itself before it takes a peer's word.

Instants. A peer stamps what it sends (a release's ``at``, a report's ``reported_at``, a consent's
``granted_at``) with its own scenario clock, and a hostile peer stamps what suits it: a release
backdated to before its consent expired, or dated 2099. The receiver judges every such instant
against its own clock:

* never in the future: an instant later than the receiver's now plus ``MAX_SKEW`` is refused.
  The skew is defined in wall seconds and scaled by the clock's rate, so three nodes sharing the
  demo's clock at 500,000x still agree within it;
* never before what the receiver itself knows: a report or consent request is not older than the
  instant the originator's records show the sender came to hold the item; a consent answer is
  not older than the request it answers;
* a release is decided again at the receiver's instant, with the consent it carries, and must be
  allowed then: a consent that has expired, or an agreement that has ended, by the time the
  release arrives refuses it, whatever instant the releaser wrote. There is deliberately no
  bound on a release's age beyond that: a peer down for an hour receives, when it returns,
  releases stamped an hour ago, and they are still good if they are still allowed (the sender
  has re-decided each at send time too).

Holders. Only a party that the originator's records show holding an item may report on it or
ask consent about it: a party in a grant of the originator's own sealed item, a recipient of a
release record on that item, a recipient of a consent the originator granted, and — closing
over those — a party that a holder could have passed the item to under standing consent
(the 2023 link's hub relays warning data without asking): the engine, without any explicit
consent, allows that holder to release it to that party either at the instant the holder came
to hold it or at the receiver's now. Anything else is answered exactly as an unknown item.

Every refusal goes to the audit log with its real reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from gsomia.domain.instants import format_instant, parse_instant
from gsomia.domain.labels import Label
from gsomia.domain.release import decide
from gsomia.errors import Denied, GsomiaError, NotFound
from gsomia.node import audit
from gsomia.node.holdings import CONSENT_INBOX, Held
from gsomia.node.service import Node

#: How far (in wall time) a peer's instant may lie ahead of the receiver's clock.
MAX_SKEW = timedelta(minutes=5)


def skew(node: Node) -> timedelta:
    """``MAX_SKEW`` in the node's own clock (scaled by its rate when simulated)."""
    return MAX_SKEW * node.clock.rate


def refuse(node: Node, sender: str, what: str, reason: str) -> None:
    audit.refused(f"accept peer {what}", reason, party=node.party, sender=sender)


def require_not_future(
    node: Node, sender: str, instant: datetime, now: datetime, what: str
) -> None:
    """Denied (and audited) if ``instant`` is later than ``now`` plus the skew."""
    if instant > now + skew(node):
        reason = (
            f"{what} is dated {format_instant(instant)}, after this node's now "
            f"({format_instant(now)}) plus the accepted skew"
        )
        refuse(node, sender, what, reason)
        raise Denied(reason)


def holders(node: Node, item: Held, now: datetime) -> dict[str, datetime]:
    """Who the originator's records show holding ``item`` (an item originated here), and since
    when: grants and release records of its own copy, consents it granted, and the parties a
    holder could pass it to under standing consent."""
    item_id = item.item_id
    verified = item.verified
    since: dict[str, datetime] = {node.party: verified.label.created}
    for grant in verified.grants:
        since.setdefault(grant.party, grant.at)
    for release in verified.releases:
        since.setdefault(release.recipient, release.at)
    with node.store.reading() as r:
        docs = r.documents(CONSENT_INBOX, item_id)
    for doc in docs:
        if doc.body.get("source") is not None:
            continue  # a consent to a derived item going on: its recipient gets no copy of this
        if doc.body.get("status") == "granted" and isinstance(doc.body.get("recipient"), str):
            answered = parse_instant(doc.body["answered_at"], "consent inbox: answered_at")
            since.setdefault(doc.body["recipient"], answered)
    label = verified.domain_label(verified.classification)
    changed = True
    while changed:  # the closure under standing consent (a handful of parties)
        changed = False
        for holder, at in list(since.items()):
            for party in label.releasable_to:
                if party in since or holder == label.originator:
                    continue
                if _standing_allows(node, label, holder, party, (at, now)):
                    since[party] = at
                    changed = True
    return since


def _standing_allows(
    node: Node, label: Label, holder: str, party: str, instants: Iterable[datetime]
) -> bool:
    """The engine allows ``holder`` to release to ``party`` without an explicit consent (that
    is, on standing consent) at one of ``instants``."""
    for at in instants:
        try:
            decision = decide(node.scenario, label, holder=holder, recipient=party, at=at)
        except GsomiaError:
            continue
        if decision.allowed:
            return True
    return False


def require_holder(
    node: Node,
    sender: str,
    item: Held,
    instant: datetime,
    now: datetime,
    *,
    what: str,
    unknown: str,
) -> None:
    """NotFound with ``unknown`` (the answer for an item that does not exist) unless the
    originator's records show ``sender`` holding ``item`` and ``instant`` is neither before it
    came to hold it nor ahead of ``now``; the real reason is audited."""
    since = holders(node, item, now).get(sender)
    margin = skew(node)
    if since is None:
        reason = f"{sender} holds {item.item_id} by none of {node.party}'s records"
    elif instant < since - margin:
        reason = (
            f"{what} is dated {format_instant(instant)}, before {sender} came to hold the "
            f"item ({format_instant(since)})"
        )
    elif instant > now + margin:
        reason = (
            f"{what} is dated {format_instant(instant)}, after this node's now "
            f"({format_instant(now)}) plus the accepted skew"
        )
    else:
        return
    refuse(node, sender, what, reason)
    raise NotFound(unknown)


def require_answer_instant(
    node: Node, sender: str, what: str, *, instant: datetime, asked: datetime, now: datetime
) -> None:
    """An originator's answer (a consent, a purpose approval): dated neither ahead of this
    node's now nor before the request it answers was made; Denied (audited) otherwise."""
    require_not_future(node, sender, instant, now, what)
    if instant < asked - skew(node):
        reason = (
            f"{what} is dated {format_instant(instant)}, before the request was made "
            f"({format_instant(asked)})"
        )
        refuse(node, sender, what, reason)
        raise Denied(reason)
