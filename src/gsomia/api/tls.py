"""TLS for a node's connections to its peers: the HTTP client its outgoing peer calls use."""

from __future__ import annotations

import httpx

from gsomia.node.config import NodeConfig

PEER_TIMEOUT = 10.0  # seconds for any one peer request


def peer_client(config: NodeConfig) -> httpx.AsyncClient:
    """The client for the node's outgoing peer calls (pushes, messages, co-signing)."""
    del config  # plain HTTP until the node has TLS material
    return httpx.AsyncClient(timeout=PEER_TIMEOUT)
