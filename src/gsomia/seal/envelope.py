"""The sealed-item API in one import, for the callers that use it whole.

The code lives in one module per responsibility:

- ``gsomia.seal.sealer``: ``Sealer`` and ``SealRequest``: sealing batches of items;
- ``gsomia.seal.channels``: ``ChannelCache``: the sender's channel keys to each recipient;
- ``gsomia.seal.verify``: ``Verifier``: verification in numbered steps (``gsomia.seal.steps``);
- ``gsomia.seal.opener``: ``Opener``: verify, then decrypt; one opaque error for any failure;
- ``gsomia.seal.records``: releases, classification notices and consents, appended or made;
- ``gsomia.seal.views``: ``Grant`` and the verified views (``VerifiedItem`` and its parts).
"""

from __future__ import annotations

from gsomia.seal.channels import DEFAULT_CHANNEL_LIFETIME, DEFAULT_CHANNEL_USES, ChannelCache
from gsomia.seal.opener import Audit, Opener
from gsomia.seal.records import append_notice, append_release, make_consent
from gsomia.seal.sealer import DATA_KEY_LEN, Sealer, SealRequest
from gsomia.seal.verify import Verifier
from gsomia.seal.views import ConsentView, Grant, NoticeView, ReleaseView, VerifiedItem

__all__ = [
    "DATA_KEY_LEN",
    "DEFAULT_CHANNEL_LIFETIME",
    "DEFAULT_CHANNEL_USES",
    "Audit",
    "ChannelCache",
    "ConsentView",
    "Grant",
    "NoticeView",
    "Opener",
    "ReleaseView",
    "SealRequest",
    "Sealer",
    "VerifiedItem",
    "Verifier",
    "append_notice",
    "append_release",
    "make_consent",
]
