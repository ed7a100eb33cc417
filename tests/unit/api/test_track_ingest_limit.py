"""The guard's body limit for a sensor's track ingest: 1,000 updates of the longest form fit,
only the exact ingest paths get the larger limit, and a body over it is refused with 413."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from gsomia.api.guard import (
    NATIVE_MAX_BODY,
    TRACK_INGEST_MAX_BODY,
    TRACKS_INGEST_MAX_BODY,
    TRACKS_INGEST_PATH,
    Guard,
    track_ingest_limit,
)
from gsomia.console.session import MAX_FORM
from gsomia.node.tracks import MAX_UPDATES_PER_POST
from tests.trackdata import label_doc
from tests.unit.api.conftest import Api

if TYPE_CHECKING:
    from starlette.types import Message, Scope

TRACK = f"track--{uuid.UUID(int=7, version=4)}"
LONG = -12.345678901234567  # a float as long as JSON writes one (18 characters)


def update(track: str, seq: int, *, longest: bool = False) -> dict[str, Any]:
    """Update ``seq``; ``longest``: every number as long as JSON writes it, the longest sensor
    id, an instant with microseconds (the body's size at its worst)."""
    n = LONG if longest else 1.5
    return {
        "track": track,
        "seq": seq,
        "at": "2026-01-01T00:00:00.123456+09:00" if longest else "2026-01-01T00:00:00Z",
        "party": "KOR",
        "sensor": "k" * 63 if longest else "kor-radar-1",
        "position": {
            "lat": 39.0 + seq / 1000 if not longest else LONG,
            "lon": 125.5 if not longest else 125.12345678901234,
            "alt_km": float(seq) if not longest else 1234.5678901234567,
        },
        "velocity": {"east": n, "north": n, "up": n},
        "phase": "midcourse" if longest else "boost",
        "launch": {"lat": 39.0, "lon": 125.5, "alt_km": 0.0}
        if not longest
        else {"lat": LONG, "lon": 125.12345678901234, "alt_km": 0.0012345678901234567},
        "impact": {
            "lat": 40.0 if not longest else 40.123456789012345,
            "lon": 134.0 if not longest else 134.12345678901234,
            "semi_major_km": 50.0 if not longest else 4999.123456789012,
            "semi_minor_km": 20.0 if not longest else 1234.5678901234567,
            "orientation_deg": 90.0 if not longest else 179.12345678901234,
        },
        "synthesized": True,
    }


def body(track: str, count: int, *, longest: bool = False) -> bytes:
    updates = [update(track, s, longest=longest) for s in range(1, count + 1)]
    return orjson.dumps({"label": label_doc(track), "updates": updates})


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        (f"/native/v1/tracks/{TRACK}/updates", TRACK_INGEST_MAX_BODY),
        (TRACKS_INGEST_PATH, TRACKS_INGEST_MAX_BODY),
        (f"/native/v1/tracks/{TRACK}", None),
        (f"/native/v1/tracks/{TRACK}/consents", None),
        ("/native/v1/tracks/not-a-track/updates", None),
        (f"/native/v1/tracks/{TRACK}/x/updates", None),
        (f"/native/v1/tracks/{TRACK.upper()}/updates", None),
        (f"/native/v1/tracks/{TRACK}/updates/", None),
        (f"/native/v1/reports/{TRACK}/updates", None),
        ("/native/v1/tracks/updates/", None),
        ("/native/v1/reports", None),
    ],
)
def test_only_the_exact_ingest_paths_get_the_track_limit(path: str, limit: int | None) -> None:
    assert track_ingest_limit(path) == limit


def test_the_limits_hold_the_most_updates_a_post_may_carry() -> None:
    assert MAX_UPDATES_PER_POST == 1000
    assert len(body(TRACK, MAX_UPDATES_PER_POST, longest=True)) <= TRACK_INGEST_MAX_BODY
    assert TRACK_INGEST_MAX_BODY <= TRACKS_INGEST_MAX_BODY <= 4 * TRACK_INGEST_MAX_BODY


def raw(api: Api, path: str, content: bytes) -> list[Message]:
    """Call the guard with a body on ``path`` (the app behind it echoes what it got)."""
    sent: list[Message] = []
    queue: list[Message] = [{"type": "http.request", "body": content, "more_body": False}]

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        message = await receive()
        await send({"type": "test.passed", "size": len(message.get("body", b""))})

    token = api.tokens["analyst"]
    headers = [
        (b"content-length", str(len(content)).encode()),
        (b"content-type", b"application/json"),
        (b"authorization", b"Bearer " + token.encode()),
    ]
    scope: dict[str, Any] = {"type": "http", "method": "POST", "client": ("127.0.0.1", 40000)}
    scope |= {"path": path, "headers": headers, "query_string": b""}
    asyncio.run(Guard(app, api.node, MAX_FORM)(scope, receive, send))
    return sent


def test_the_guard_lets_a_thousand_updates_in_and_refuses_more_than_the_limit(api: Api) -> None:
    thousand = body(TRACK, MAX_UPDATES_PER_POST, longest=True)
    assert len(thousand) > NATIVE_MAX_BODY  # the native API's limit would refuse it
    path = f"/native/v1/tracks/{TRACK}/updates"
    assert raw(api, path, thousand) == [{"type": "test.passed", "size": len(thousand)}]
    over = b" " * (TRACK_INGEST_MAX_BODY + 1)
    [start, answer] = raw(api, path, over)
    assert start["status"] == 413
    assert b"the limit of track ingest routes" in answer["body"]
    several = b" " * (TRACKS_INGEST_MAX_BODY + 1)
    [start, _] = raw(api, TRACKS_INGEST_PATH, several)
    assert start["status"] == 413
    at_the_cap = b" " * TRACKS_INGEST_MAX_BODY
    assert raw(api, TRACKS_INGEST_PATH, at_the_cap)[0]["type"] != "http.response.start"
    # another native route keeps its own limit
    [start, _] = raw(api, "/native/v1/reports", b" " * (NATIVE_MAX_BODY + 1))
    assert start["status"] == 413


def test_two_hundred_updates_are_ingested(api: Api) -> None:
    track = f"track--{uuid.uuid4()}"
    content = body(track, 200)
    assert len(content) > NATIVE_MAX_BODY
    response = api.call(
        "POST",
        f"/native/v1/tracks/{track}/updates",
        taxii=False,
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text
    assert response.json() == {"track": track, "accepted": 200, "last_seq": 200}
