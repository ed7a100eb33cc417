"""Records appended to a sealed item — releases and classification notices — and consent
tokens: their JSON bodies (the field sets the verifier holds them to) and how they are made.

A release wraps the data key again, from the releasing holder to the recipient, and is signed
by the holder; a notice and a consent are signed by the originator.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gsomia.domain.instants import format_instant
from gsomia.errors import BadInput
from gsomia.seal.batch import sign_batch
from gsomia.seal.canonical import canonical_json
from gsomia.seal.channels import ChannelCache, wrap_with
from gsomia.seal.item import (
    CONSENT_MAGIC,
    KIND_NOTICE,
    KIND_RELEASE,
    ZERO_DIGEST,
    Item,
    Record,
    SignedObject,
    consent_digest,
    record_digest,
)
from gsomia.seal.keys import KeyRing

if TYPE_CHECKING:
    from gsomia.seal.opener import Opener
    from gsomia.seal.views import VerifiedItem

RELEASE_FIELDS = frozenset(
    (
        "type",
        "item_digest",
        "prev",
        "holder",
        "recipient",
        "at",
        "agreements",
        "marking",
        "standing_consent",
    )
)
NOTICE_FIELDS = frozenset(("type", "item_digest", "prev", "originator", "classification", "at"))
CONSENT_FIELDS = frozenset(
    ("type", "item", "item_digest", "originator", "recipient", "granted_at", "expires_at")
)
SOURCE_CONSENT_FIELDS = CONSENT_FIELDS | {"source"}
"""A source consent (DOMAIN.md §7.6): a source's originator consents to the DERIVED item
``item`` (written from its item ``source``) going to ``recipient``; signed by that originator."""


def append_release(
    keyring: KeyRing,
    opener: Opener,
    verified: VerifiedItem,
    *,
    recipient: str,
    at: datetime,
    agreements: Sequence[str],
    marking: dict[str, Any],
    standing_consent: str | None,
    consent: bytes | None,
    channels: ChannelCache | None = None,
) -> bytes:
    """The item with a release record by this party to ``recipient`` appended."""
    holder = keyring.party
    data_key = opener.data_key(verified)
    cache = channels if channels is not None else ChannelCache(keyring)
    wrap = wrap_with(cache.channel(recipient, at), data_key, verified.core.nonce)
    prev = verified.item.records[-1].digest() if verified.item.records else ZERO_DIGEST
    body = canonical_json(
        {
            "type": "release",
            "item_digest": verified.digest.hex(),
            "prev": prev.hex(),
            "holder": holder,
            "recipient": recipient,
            "at": format_instant(at),
            "agreements": list(agreements),
            "marking": marking,
            "standing_consent": standing_consent,
        }
    )
    consent_bytes = consent or b""
    leaf = record_digest(KIND_RELEASE, body, wrap, consent_bytes)
    signature = sign_batch(holder, keyring.current, [leaf])[0]
    record = Record(KIND_RELEASE, body, wrap, consent_bytes, signature)
    item = verified.item
    return Item(item.core, item.signature, (*item.records, record)).encode()


def append_notice(
    keyring: KeyRing, verified: VerifiedItem, *, classification: str, at: datetime
) -> bytes:
    """The item with the originator's classification-change notice appended (Art. 6(g))."""
    if keyring.party != verified.label.originator:
        raise BadInput(
            f"only the originator ({verified.label.originator}) changes the classification"
        )
    prev = verified.item.records[-1].digest() if verified.item.records else ZERO_DIGEST
    body = canonical_json(
        {
            "type": "classification-change",
            "item_digest": verified.digest.hex(),
            "prev": prev.hex(),
            "originator": keyring.party,
            "classification": classification,
            "at": format_instant(at),
        }
    )
    signature = sign_batch(
        keyring.party, keyring.current, [record_digest(KIND_NOTICE, body, b"", b"")]
    )[0]
    record = Record(KIND_NOTICE, body, b"", b"", signature)
    item = verified.item
    return Item(item.core, item.signature, (*item.records, record)).encode()


def make_consent(
    keyring: KeyRing,
    verified: VerifiedItem,
    *,
    recipient: str,
    granted_at: datetime,
    expires_at: datetime | None,
) -> bytes:
    """The originator's signed consent to ``verified`` going to ``recipient``."""
    if keyring.party != verified.label.originator:
        raise BadInput(f"only the originator ({verified.label.originator}) grants consent")
    if expires_at is not None and expires_at <= granted_at:
        raise BadInput("the consent would expire before it is granted")
    return consent_token(
        keyring,
        item=verified.label.id,
        item_digest=verified.digest,
        recipient=recipient,
        granted_at=granted_at,
        expires_at=expires_at,
    )


def make_source_consent(
    keyring: KeyRing,
    verified: VerifiedItem,
    *,
    source: str,
    recipient: str,
    granted_at: datetime,
    expires_at: datetime | None,
) -> bytes:
    """A source originator's signed consent to the derived item ``verified`` (written from its
    item ``source``) going to ``recipient`` (DOMAIN.md §7.6)."""
    named = next((s for s in verified.label.derived_from if s.item == source), None)
    if named is None:
        raise BadInput(f"{verified.label.id} is not derived from {source}")
    if keyring.party != named.originator:
        raise BadInput(f"only the source's originator ({named.originator}) grants this consent")
    if expires_at is not None and expires_at <= granted_at:
        raise BadInput("the consent would expire before it is granted")
    return consent_token(
        keyring,
        item=verified.label.id,
        item_digest=verified.digest,
        recipient=recipient,
        granted_at=granted_at,
        expires_at=expires_at,
        source=source,
    )


def consent_token(
    keyring: KeyRing,
    *,
    item: str,
    item_digest: bytes,
    recipient: str,
    granted_at: datetime,
    expires_at: datetime | None,
    source: str | None = None,
) -> bytes:
    """A consent token (``GSMC``) signed by ``keyring``'s party, the originator: to the item
    ``item`` (of digest ``item_digest``; a track's is its label's) going to ``recipient``, or
    with ``source``, a source originator's consent to a derived item."""
    doc: dict[str, object] = {
        "type": "consent",
        "item": item,
        "item_digest": item_digest.hex(),
        "originator": keyring.party,
        "recipient": recipient,
        "granted_at": format_instant(granted_at),
        "expires_at": None if expires_at is None else format_instant(expires_at),
    }
    if source is not None:
        doc["source"] = source
    body = canonical_json(doc)
    signature = sign_batch(keyring.party, keyring.current, [consent_digest(body)])[0]
    return SignedObject(CONSENT_MAGIC, body, signature).encode()
