"""Dotted topics and scopes (DOMAIN.md §4)."""

from __future__ import annotations

import re

from gsomia.errors import BadInput

_TOPIC = re.compile(r"[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*")


def parse_topic(text: object, where: str) -> str:
    if not isinstance(text, str) or not _TOPIC.fullmatch(text):
        raise BadInput(
            f"{where}: {text!r} is not a dotted topic (lower-case words joined by dots, "
            "e.g. 'dprk.missile')"
        )
    return text


def within(topic: str, scope_entry: str) -> bool:
    """True when ``topic`` equals ``scope_entry`` or descends from it."""
    return topic == scope_entry or topic.startswith(scope_entry + ".")


def all_within(topics: tuple[str, ...], scope: tuple[str, ...]) -> bool:
    """Every topic lies within some entry of the scope; no topics lie within no scope."""
    if not topics:
        return False
    return all(any(within(t, s) for s in scope) for t in topics)
