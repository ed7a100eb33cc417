"""The Tracks page (``/console/tracks``): the live map of the missile-warning tracks this user
may see, and its stream (``/console/tracks/stream``).

The page is rendered from the node's ``TrackHub`` as the user may see it (``hub.tracks`` and
``hub.so_far``): each track's path so far on the map, its launch point and last predicted
impact ellipse, and a list of the tracks with their last update — all of it readable without
scripts. The page's script (``static/tracks.js``) then opens the stream, which is the hub's
user stream (``hub.stream``) bound to the sign-in session (it ends with the session, as the
feed's ``/console/events`` does) and rendered by ``event_renderer`` as the console's own JSON:
the update in map pixels (``trackmap.update_view``), the track's markings, the route, and the
zone and warning of the predicted impact centre, computed here, on the server.

A track this user may not see is absent from both: the hub neither lists nor streams it, and
the page draws nothing for it (no placeholder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gsomia.console.feed import Banner, banners
from gsomia.console.session import CONSOLE_HEADERS, PREFIX, Console, Refused, client_address
from gsomia.console.trackmap import SYNTHESIZED, ZONE_NOTE, Segment, frame, segments, update_view
from gsomia.domain.labels import Label
from gsomia.domain.tracks import track_id
from gsomia.errors import NotFound
from gsomia.node.config import User
from gsomia.node.service import Node
from gsomia.node.trackfeed import Render, TrackHub
from gsomia.node.tracks import TrackEvent, TrackSummary

SSE_MEDIA_TYPE: Final = "text/event-stream"
MAX_TRACKS_SHOWN: Final = 50  # tracks drawn on the page at first (the most recent ones)


@dataclass(frozen=True, slots=True)
class TrackView:
    summary: TrackSummary
    original: Banner
    mine: Banner
    segments: tuple[Segment, ...]
    last: dict[str, Any] | None  # the last update as ``trackmap.update_view`` has it
    sensors: tuple[str, ...]  # the parties whose sensors saw it


def _marking(node: Node, label: Label) -> tuple[Banner, Banner]:
    return banners(node, label.originator, label.classification, tuple(label.releasable_to))


def track_views(node: Node, hub: TrackHub, user: User) -> list[TrackView]:
    """The tracks ``user`` may see, newest first, each with its path so far."""
    found = sorted(hub.tracks(user), key=lambda s: s.last_at, reverse=True)
    views = []
    for summary in found[:MAX_TRACKS_SHOWN]:
        try:
            _, events = hub.so_far(user, summary.track)
        except NotFound:
            continue  # no longer visible since it was listed
        drawn = [_view(node, e) for e in events]
        original, mine = _marking(node, summary.label)
        views.append(
            TrackView(
                summary=summary,
                original=original,
                mine=mine,
                segments=segments(drawn),
                last=drawn[-1] if drawn else None,
                sensors=tuple(sorted({v["party"] for v in drawn})),
            )
        )
    return views


def _view(node: Node, event: TrackEvent) -> dict[str, Any]:
    return update_view(event.update, tuple(event.route), scenario=node.scenario, here=node.party)


def event_renderer(console: Console) -> Render:
    """How a track event becomes an SSE frame of the console's track stream."""
    node = console.node
    markings: dict[str, dict[str, Any]] = {}  # per track: its label never changes

    def render(event: TrackEvent) -> bytes | None:
        marking = markings.get(event.track)
        if marking is None:
            original, mine = _marking(node, event.label)
            marking = {"original": original.to_json(), "mine": mine.to_json()}
            markings[event.track] = marking
        data = orjson.dumps(
            {
                **_view(node, event),
                "originator": event.label.originator,
                "marking": marking,
                "received": event.to_json()["received"],
            }
        )
        return b"event: track\ndata: %s\n\n" % data

    return render


def register(router: APIRouter, console: Console, hub: TrackHub) -> None:
    node = console.node
    console.add_nav("Tracks", PREFIX + "/tracks")

    @router.get(PREFIX + "/tracks")
    async def tracks_page(request: Request) -> Response:
        user = console.user_or_redirect(request)
        views = await console.run(track_views, node, hub, user)
        warnings = [v for v in views if v.last is not None and v.last["warning"]]
        return console.render(
            request,
            "tracks.html",
            title="Tracks",
            map=frame(),
            tracks=views,
            warnings=warnings,
            synthesized=any(v.summary.synthesized for v in views),
            synthesized_text=SYNTHESIZED,
            zone_note=ZONE_NOTE,
            parties=sorted(node.scenario.policies),
        )

    @router.get(PREFIX + "/tracks/stream")
    async def tracks_stream(request: Request) -> Response:
        found = console.current_user(request)
        if found is None:
            raise Refused("sign in first")
        user, session = found
        raw = request.query_params.get("track")
        track = None if raw is None or raw == "" else track_id(raw, "query parameter 'track'")
        frames = hub.stream(
            user,
            session=session.sid,
            until=session.expires,
            track=track,
            render=event_renderer(console),
            where=client_address(request),
        )
        return StreamingResponse(
            frames,
            media_type=SSE_MEDIA_TYPE,
            headers={**CONSOLE_HEADERS, "X-Accel-Buffering": "no"},
        )
