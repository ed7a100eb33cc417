"""The append-only audit trail of a home: ``HOME/audit.jsonl``, one JSON object a line.

It records what happened to items (opened, failed to open, released, consent granted) with the
item's digest and the reason of a failure; never plaintext content, never a key or passphrase.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from gsomia.domain.instants import format_instant
from gsomia.errors import StoreFailure
from gsomia.seal.canonical import canonical_json

AUDIT_FILE = "audit.jsonl"


class AuditTrail:
    """Appends events to ``HOME/audit.jsonl``, each stamped with the instant it was given."""

    def __init__(self, home: Path, at: datetime) -> None:
        self.path = home / AUDIT_FILE
        self._at = at

    def __call__(self, event: dict[str, Any]) -> None:
        self.record(event)

    def record(self, event: dict[str, Any]) -> None:
        line = canonical_json({"at": format_instant(self._at), **event}) + b"\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreFailure(f"audit trail {self.path}: cannot append ({exc.strerror})") from exc
