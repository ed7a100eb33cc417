"""Regenerate the sealed-item known-answer vectors (not a test; run by hand).

    .venv/bin/python tests/vectors/seal/make_seal_vectors.py

Writes ``vectors.json`` beside this file: three parties' key pairs (private halves included,
for the test's independent decoder), and items sealed with them. Encapsulation and ML-DSA
signing are randomized, so a new run gives new bytes; the committed file is the reference that
every later version must keep reading.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gsomia.scenarios import load_scenario
from gsomia.seal import service
from gsomia.seal.item import SealedLabel
from gsomia.seal.keys import init_keys
from gsomia.seal.sealer import Sealer, SealRequest
from gsomia.seal.views import Grant

HERE = Path(__file__).parent
AT = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
PARTIES = ("KOR", "JPN", "USA")


def main() -> None:
    scenario = load_scenario("historical")
    with tempfile.TemporaryDirectory() as tmp:
        rings = {p: init_keys(Path(tmp) / p, p, passphrase=None, insecure=True) for p in PARTIES}
        for p, ring in rings.items():
            for q, other in rings.items():
                if p != q:
                    ring.import_peer(other.export_document(), where=q)
        keys = {
            p: {
                "public": ring.export_document(),
                "private": {
                    "ed25519": ring.current.ed25519_seed.hex(),
                    "ml_dsa_65_seed": ring.current.mldsa65_seed.hex(),
                    "ml_kem_768_seed": ring.current.kem_private[:64].hex(),
                    "x25519": ring.current.kem_private[64:].hex(),
                },
            }
            for p, ring in rings.items()
        }
        content = b'{"type":"bundle","id":"bundle--0b6c0e53-7d0a-4a38-9a34-1b7a0b5b8c11"}'
        label = {
            "id": "report-2024-001",
            "originator": "KOR",
            "classification": "II",
            "releasable_to": ["JPN", "USA"],
            "topics": ["dprk.missile"],
        }
        single = service.seal_content(
            rings["KOR"], scenario, content=content, label_doc=label, recipients=["USA"], created=AT
        )
        consent = service.grant_consent(
            rings["KOR"], scenario, single, recipient="JPN", granted_at=AT, expires_at=None
        )
        released = service.release_item(
            rings["USA"],
            scenario,
            single,
            recipient="JPN",
            at=AT + timedelta(hours=1),
            consent=consent,
        ).item
        grant = Grant(
            "USA",
            ("kor-usa-security-1987",),
            AT,
            {
                "equivalence": "SECRET",
                "level": "SECRET",
                "native": "SECRET",
                "originator": "KOR",
                "party": "USA",
            },
        )
        batch = Sealer(rings["KOR"]).seal_batch(
            [
                SealRequest(
                    f"batch item {i}".encode(),
                    SealedLabel("KR-MND-CMI", f"batch-{i}", "KOR", "II", ("USA",), ("dprk",), AT),
                    (grant,),
                )
                for i in range(5)
            ]
        )
    items = [
        {
            "name": "sealed-kor-for-usa",
            "item": single.hex(),
            "content": content.hex(),
            "readers": ["KOR", "USA"],
            "releases": 0,
        },
        {
            "name": "released-usa-to-jpn-with-consent",
            "item": released.hex(),
            "content": content.hex(),
            "readers": ["KOR", "USA", "JPN"],
            "releases": 1,
        },
    ] + [
        {
            "name": f"batch-of-5-item-{i}",
            "item": raw.hex(),
            "content": f"batch item {i}".encode().hex(),
            "readers": ["KOR", "USA"],
            "releases": 0,
        }
        for i, raw in enumerate(batch)
    ]
    doc = {
        "description": "gsomia sealed items, format version 1, suite 0x0001 (docs/formats.md)",
        "keys": keys,
        "items": items,
        "consent": {"token": consent.hex(), "item": "sealed-kor-for-usa", "recipient": "JPN"},
    }
    (HERE / "vectors.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
