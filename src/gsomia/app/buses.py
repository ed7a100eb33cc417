"""Opening a node's bus by URL: the one place that names a bus backend.

Without ``bus = "…"`` in the node's config (or with ``memory:``) the bus is in-process
(:class:`gsomia.bus.local.LocalBus`): one worker, no server to start. Any other URL is
refused, naming where it was given.
"""

from __future__ import annotations

from gsomia.bus.local import LocalBus
from gsomia.bus.ports import Bus
from gsomia.errors import BadInput

MEMORY = "memory:"


def open_bus(url: str | None, *, party: str, where: str) -> Bus:
    """The bus ``url`` names for the node of ``party`` (not yet started); ``where`` names the
    setting it came from, for the error."""
    del party  # the in-process bus is this process's alone
    if url is None or url == MEMORY:
        return LocalBus()
    msg = f"{where}: unknown bus {url!r} (known: {MEMORY} or none, the in-process bus)"
    raise BadInput(msg)
