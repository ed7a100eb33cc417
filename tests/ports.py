"""Ports for the servers the tests start.

The suite runs on several pytest-xdist workers at once, and a port the kernel hands out for
``bind(0)`` and that a test closes before its server binds it may be handed to another worker
meanwhile. So each worker takes ports from a block of its own, below the kernel's ephemeral
range (32768 and up on Linux): no other worker, and no outgoing connection, is given them. A
port is taken only if it can be bound now.
"""

from __future__ import annotations

import itertools
import os
import random
import socket

HOST = "127.0.0.1"
BASE = 20000
BLOCK = 1200  # ports per worker: workers gw0…gw9 use 20000–31999


def _worker() -> int:
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(name[2:]) if name.startswith("gw") and name[2:].isdecimal() else 0
    if index >= (32768 - BASE) // BLOCK:
        raise RuntimeError(f"tests.ports: worker {name} is beyond the ports set aside for workers")
    return index


_FIRST = BASE + _worker() * BLOCK
_next = itertools.count(random.randrange(BLOCK))


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def free_ports(count: int = 1) -> int:
    """The first of ``count`` consecutive ports of this worker's block that can be bound now."""
    for _ in range(BLOCK):
        first = _FIRST + next(_next) % (BLOCK - count)
        if all(_bindable(p) for p in range(first, first + count)):
            return first
    raise RuntimeError(f"tests.ports: no {count} free consecutive ports in {_FIRST}+{BLOCK}")


def free_port() -> int:
    return free_ports(1)
