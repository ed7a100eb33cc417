"""Instants: ISO 8601 times that always carry a UTC offset (DOMAIN.md §5 rule 1)."""

from __future__ import annotations

from datetime import datetime, timedelta

from gsomia.errors import BadInput


def parse_instant(text: str, where: str) -> datetime:
    """Parse ISO 8601 with a UTC offset; a time without one is bad input, not a guess."""
    if not isinstance(text, str):
        raise BadInput(f"{where}: expected an ISO 8601 time string, got {type(text).__name__}")
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise BadInput(f"{where}: {text!r} is not an ISO 8601 time") from exc
    return require_aware(value, where)


def require_aware(value: datetime, where: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise BadInput(
            f"{where}: {value.isoformat()} has no UTC offset; write it as e.g. "
            f"{value.isoformat()}+09:00"
        )
    return value


def format_instant(value: datetime) -> str:
    """ISO 8601 with its offset, to the second unless finer precision is present."""
    timespec = "microseconds" if value.microsecond else "seconds"
    return value.isoformat(timespec=timespec)


def add_years(value: datetime, years: int) -> datetime:
    """The same wall-clock time and offset ``years`` later; 29 February falls back to the 28th."""
    try:
        return value.replace(year=value.year + years)
    except ValueError:
        return value.replace(year=value.year + years, day=28)


def days(n: int) -> timedelta:
    return timedelta(days=n)
