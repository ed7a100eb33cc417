"""Signed statements: what a node asserts to another party and the other can keep as proof
(DOMAIN.md §7: an accounting, an inventory, a destruction certificate, a purpose approval).

A statement is a JSON object::

    {"format": "gsomia-statement", "v": 1, "kind": KIND, "party": P, "key_id": K,
     "body": {...}, "signature": {"ed25519": B64, "ml_dsa_65": B64}}

signed with the party's composite key (Ed25519 and ML-DSA-65, both must verify) over
``"gsomia/statement/v1\\x00" || KIND || "\\x00" || P || "\\x00" || canonical JSON of body``: the
kind and the signer are bound, so a statement of one kind never passes for another, nor one
party's for another's. Verification names the kind and the party it expects; every failure is
``VerificationFailed``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import Any, Final

from gsomia.errors import BadInput, VerificationFailed
from gsomia.seal.canonical import canonical_json
from gsomia.seal.composite import CompositeSignature
from gsomia.seal.keys import KeyRing, PublicKeyring

FORMAT: Final = "gsomia-statement"
VERSION: Final = 1
_DOMAIN = b"gsomia/statement/v1\x00"
_KIND = re.compile(r"^[a-z][a-z0-9.-]{0,63}$")
_FIELDS = frozenset(("format", "v", "kind", "party", "key_id", "body", "signature"))


def _message(kind: str, party: str, body: Mapping[str, Any]) -> bytes:
    return _DOMAIN + kind.encode() + b"\x00" + party.encode() + b"\x00" + canonical_json(body)


def sign_statement(keyring: KeyRing, kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` as a statement of ``kind`` signed by ``keyring``'s party (its current key)."""
    if not _KIND.match(kind):
        raise BadInput(f"statement kind {kind!r}: lower-case letters, digits, dots and hyphens")
    generation = keyring.current
    signature = generation.sign(_message(kind, keyring.party, body))
    return {
        "format": FORMAT,
        "v": VERSION,
        "kind": kind,
        "party": keyring.party,
        "key_id": generation.key_id,
        "body": dict(body),
        "signature": {
            "ed25519": base64.b64encode(signature.ed25519).decode(),
            "ml_dsa_65": base64.b64encode(signature.mldsa65).decode(),
        },
    }


def verify_statement(
    trust: PublicKeyring, doc: object, *, kind: str, party: str, where: str = "statement"
) -> dict[str, Any]:
    """The body of ``doc`` if it is a statement of ``kind`` signed by ``party`` with a key
    ``trust`` holds; VerificationFailed (saying where) otherwise."""
    if not isinstance(doc, dict) or set(doc) != _FIELDS:
        raise VerificationFailed(f"{where}: not a gsomia statement (fields {sorted(_FIELDS)})")
    if doc["format"] != FORMAT or doc["v"] != VERSION:
        raise VerificationFailed(f"{where}: not a gsomia statement of version {VERSION}")
    if doc["kind"] != kind:
        raise VerificationFailed(f"{where}: a statement of kind {doc['kind']!r}, not {kind!r}")
    if doc["party"] != party:
        raise VerificationFailed(f"{where}: signed by {doc['party']!r}, not by {party}")
    body, sig, key_id = doc["body"], doc["signature"], doc["key_id"]
    if not isinstance(body, dict) or not isinstance(key_id, str) or not isinstance(sig, dict):
        raise VerificationFailed(f"{where}: body, key_id or signature malformed")
    try:
        signature = CompositeSignature(
            base64.b64decode(sig["ed25519"], validate=True),
            base64.b64decode(sig["ml_dsa_65"], validate=True),
        )
        message = _message(kind, party, body)
    except (KeyError, TypeError, binascii.Error, ValueError, BadInput):
        raise VerificationFailed(f"{where}: signature malformed") from None
    keys = trust.signing_key(party, key_id)
    try:
        keys.verify_signature(signature, message)
    except VerificationFailed:
        raise VerificationFailed(f"{where}: the signature of {party} does not verify") from None
    return body
