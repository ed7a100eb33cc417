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

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Final

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from gsomia.console.feed import Banner, banners
from gsomia.console.session import CONSOLE_HEADERS, PREFIX, Console, Refused, client_address
from gsomia.console.trackmap import (
    SYNTHESIZED,
    ZONE_NOTE,
    Segment,
    frame,
    path_point,
    segments,
    update_view,
)
from gsomia.domain.labels import Label
from gsomia.domain.tracks import TrackUpdate, track_id
from gsomia.errors import NotFound
from gsomia.node.config import User
from gsomia.node.events import SSE_MEDIA_TYPE
from gsomia.node.service import Node
from gsomia.node.trackfeed import Render, TrackHub
from gsomia.node.tracks import TrackEvent, TrackSummary

MAX_TRACKS_SHOWN: Final = 50  # tracks drawn on the page at first (the most recent ones)
FULL_REPLAY: Final = 1  # updates per track a stream's replay draws in full (the path: all)
MAX_CACHED_VIEWS: Final = 8192  # updates kept rendered (a few tracks' worth of live updates)


class ViewCache:
    """The rendered views of updates (``trackmap.update_view``), shared by every page and
    stream of one console, the least recently used dropped past ``cap``. A view depends on the
    update, its route and the node (its scenario and party), never on the user: the markings,
    which are the node's too, are added per track by the renderer."""

    def __init__(self, node: Node, cap: int = MAX_CACHED_VIEWS) -> None:
        self.node = node
        self.cap = cap
        self._views: OrderedDict[tuple[TrackUpdate, tuple[str, ...]], dict[str, Any]] = (
            OrderedDict()
        )

    def view(self, event: TrackEvent) -> dict[str, Any]:
        key = (event.update, tuple(event.route))
        found = self._views.get(key)
        if found is not None:
            self._views.move_to_end(key)
            return found
        node = self.node
        made = update_view(event.update, key[1], scenario=node.scenario, here=node.party)
        self._views[key] = made
        if len(self._views) > self.cap:
            self._views.popitem(last=False)
        return made


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


def track_views(node: Node, hub: TrackHub, user: User, views: ViewCache) -> list[TrackView]:
    """The tracks ``user`` may see, newest first, each with its path so far: the path from
    every kept update (a projection each), the ellipse, zones and card from the last only."""
    found = sorted(hub.tracks(user), key=lambda s: s.last_at, reverse=True)
    out: list[TrackView] = []
    for summary in found[:MAX_TRACKS_SHOWN]:
        try:
            _, events = hub.so_far(user, summary.track)
        except NotFound:
            continue  # no longer visible since it was listed
        drawn = [path_point(e.update) for e in events[:-1]]
        last = views.view(events[-1]) if events else None
        if last is not None:
            drawn.append(last)
        original, mine = _marking(node, summary.label)
        out.append(
            TrackView(
                summary=summary,
                original=original,
                mine=mine,
                segments=segments(drawn),
                last=last,
                sensors=tuple(sorted({v["party"] for v in drawn})),
            )
        )
    return out


def event_renderer(
    console: Console, views: ViewCache, full_from: dict[str, int] | None = None
) -> Render:
    """How a track event becomes an SSE frame of the console's track stream. An update of a
    track below ``full_from[track]`` (the replay on connect of what was kept before) is sent as
    a point of the path only; the rest in full, from ``views``."""
    node = console.node
    path_only_below = {} if full_from is None else full_from
    markings: dict[str, dict[str, Any]] = {}  # per track: its label never changes

    def render(event: TrackEvent) -> bytes | None:
        marking = markings.get(event.track)
        if marking is None:
            original, mine = _marking(node, event.label)
            marking = {"original": original.to_json(), "mine": mine.to_json()}
            markings[event.track] = marking
        below = path_only_below.get(event.track, 0)
        shown = path_point(event.update) if event.update.seq < below else views.view(event)
        data = orjson.dumps(
            {
                **shown,
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
    views = ViewCache(node)

    @router.get(PREFIX + "/tracks")
    async def tracks_page(request: Request) -> Response:
        user = console.user_or_redirect(request)
        shown = await console.run(track_views, node, hub, user, views)
        warnings = [v for v in shown if v.last is not None and v.last["warning"]]
        return console.render(
            request,
            "tracks.html",
            title="Tracks",
            map=frame(),
            tracks=shown,
            warnings=warnings,
            synthesized=any(v.summary.synthesized for v in shown),
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
        known = await console.run(hub.tracks, user)
        full_from = {s.track: s.last_seq - FULL_REPLAY + 1 for s in known}
        frames = hub.stream(
            user,
            session=session.sid,
            until=session.expires,
            track=track,
            render=event_renderer(console, views, full_from),
            where=client_address(request),
        )
        return StreamingResponse(
            frames,
            media_type=SSE_MEDIA_TYPE,
            headers={**CONSOLE_HEADERS, "X-Accel-Buffering": "no"},
        )
