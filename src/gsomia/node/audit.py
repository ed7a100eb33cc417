"""The node's audit trail: one line per refusal or accepted change, in one format, on the
``gsomia.audit`` logger (a node's stderr).

Every line reads ``<outcome>: action=… user=… party=… reason=… key=value…``: the outcome
(``refused`` or ``accepted``), then the fields in that order, then the caller's own fields in the
order given. A value of letters, digits and ``-_.:/@+,`` is written bare; any other value (spaces,
quotes, ``=``, control characters: whatever a client sent) is written as a JSON string, so a
line always splits back into its fields and one request never writes two lines. A missing value
is ``-``; every value is cut to ``MAX_VALUE`` characters. Callers pass names, ids, parties,
addresses and reasons — never a token, a passphrase or sealed content.
"""

from __future__ import annotations

import json
import logging
import re

AUDIT = logging.getLogger("gsomia.audit")

#: The longest value written (a hostile id or name is cut, never echoed whole).
MAX_VALUE = 2000

_BARE = re.compile(r"[A-Za-z0-9_.:/@+,\-]+")

REFUSED = "refused"
ACCEPTED = "accepted"


def value(raw: object) -> str:
    """One field's value as written: bare when safe, else a JSON string; ``-`` for None."""
    if raw is None:
        return "-"
    text = str(raw)[:MAX_VALUE]
    return text if _BARE.fullmatch(text) else json.dumps(text)


def line(outcome: str, action: str, **fields: object) -> str:
    """The audit line for ``outcome`` of ``action`` with ``fields`` (order kept)."""
    parts = [f"action={value(action)}"] + [f"{key}={value(v)}" for key, v in fields.items()]
    return f"{outcome}: " + " ".join(parts)


def refused(
    action: str,
    reason: str,
    *,
    user: str | None = None,
    party: str | None = None,
    level: int = logging.WARNING,
    **fields: object,
) -> None:
    """Audit a refusal of ``action`` (by ``user`` at the node of ``party``) and why."""
    AUDIT.log(level, "%s", line(REFUSED, action, user=user, party=party, reason=reason, **fields))


def accepted(
    action: str, *, user: str | None = None, party: str | None = None, **fields: object
) -> None:
    """Audit an accepted change that others must be able to trace (a reclassification…)."""
    AUDIT.info("%s", line(ACCEPTED, action, user=user, party=party, **fields))
