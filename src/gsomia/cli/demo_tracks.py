"""The demo's live launches: a replayed launch's flight, as each party's notional sensors would
see it, played to the nodes as it happens, so that its tracks appear on the consoles allowed.

Two launches of the replay are played live (``live_launches``): the first with a known range or
apogee — seconds after the replay starts, in 2015, under TISA: KOR and JPN share only through
USA and, before the 2023 link, a relayed item needs the originator's consent, which no track
has, so each party's track reaches USA and goes no further — and the first on or after the
start of the 2023 warning link (19 December 2023), whose standing consent and the Japan–ROK
GSOMIA let every party's track reach the two others, directly and through USA.

For each, the flight is synthesized (``gsomia.domain.trajectory``) and each party's notional
sensors observe it (``gsomia.domain.sensors``); each party's updates are posted to its own
node's ingest route (``POST /native/v1/tracks/{id}/updates``) at their pace, compressed by
``factor = max(1, duration / LIVE_WALL_SECONDS)`` so that the flight plays in about 45 s of
wall time: the update seen ``t`` seconds into the flight (its ``at``: the launch instant +
``t``, in scenario time) is posted ``t / factor`` seconds after the player starts. The nodes
decide where each update goes (at their own scenario clock) and push it; the player decides
nothing. Every update is ``synthesized: true``.

The player runs in a thread of its own (``LivePlayer``), started by the replay right after it
has published the launch's reports: the replay's reports keep their pace while the track plays.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import orjson

from gsomia.clock import SystemClock
from gsomia.data.launches import LaunchEvent
from gsomia.data.sensors import load_sensors
from gsomia.domain.labels import Label
from gsomia.domain.parties import Equivalence
from gsomia.domain.release import decide
from gsomia.domain.replay import cast_of
from gsomia.domain.scenario import Scenario
from gsomia.domain.sensors import observe
from gsomia.domain.tracks import TRACK_PURPOSE, TRACK_TOPIC, TrackUpdate
from gsomia.domain.trajectory import plan
from gsomia.errors import BadInput

#: About how long a live flight plays, in wall seconds (longer flights are compressed to it).
LIVE_WALL_SECONDS = 45.0
#: How many updates a second a party's sensors make of a flight they see.
RATE_HZ = 2.0
#: How often the player posts the updates due, in wall seconds (a batch per party per tick).
TICK = 0.1
#: How many updates one POST carries at most (the ingest route takes 1..1000).
MAX_BATCH = 500


@dataclass(frozen=True, slots=True)
class Ingest:
    """Where a party's sensors post: its node's base URL and the credentials of a user who may
    publish there."""

    url: str
    auth: tuple[str, str]


@dataclass(frozen=True, slots=True)
class LiveTrack:
    """One party's track of a launch: its label and its updates, in seq order."""

    party: str
    label: Label
    updates: tuple[TrackUpdate, ...]

    @property
    def id(self) -> str:
        return self.label.id


def has_flight(launch: LaunchEvent) -> bool:
    """Whether the CNS record gives what a trajectory needs: a range or an apogee."""
    return bool(launch.distance_km) or launch.apogee_km is not None


def live_launches(launches: Sequence[LaunchEvent], scenario: Scenario) -> tuple[LaunchEvent, ...]:
    """The launches the demo plays live: the first replayed with a range or an apogee, and the
    first with one on or after the start of the scenario's warning link (none if it has none)."""
    chosen: list[LaunchEvent] = []
    first = next((e for e in launches if has_flight(e)), None)
    if first is not None:
        chosen.append(first)
    link = cast_of(scenario).link
    if link is not None:
        linked = next((e for e in launches if e.instant >= link[0] and has_flight(e)), None)
        if linked is not None and linked not in chosen:
            chosen.append(linked)
    return tuple(chosen)


def track_label(scenario: Scenario, track: str, party: str) -> Label:
    """``party``'s label of its track ``track``: its policy's SECRET-class level, releasable to
    the replay's other parties, topic ``dprk.missile.warning``, purpose ``defense.warning``."""
    cast = cast_of(scenario)
    return Label(
        id=track,
        originator=party,
        classification=scenario.policy(party).defaults[Equivalence.SECRET],
        releasable_to=tuple(sorted(set(cast.parties) - {party})),
        topics=(TRACK_TOPIC,),
        purposes=(TRACK_PURPOSE,),
    )


def synthesize(launch: LaunchEvent, scenario: Scenario) -> tuple[LiveTrack, ...]:
    """The launch's flight and each party's track of it (parties whose notional sensors see
    nothing of it have none); BadInput when the record has no range and no apogee."""
    trajectory = plan(
        launch.lat,
        launch.lon,
        launch.bearing_deg,
        range_km=launch.distance_km or None,
        apogee_km=launch.apogee_km,
        seed=launch.id,
        where=f"launch {launch.id}",
    )
    parties = cast_of(scenario).parties
    tracks = {party: f"track--{uuid.uuid4()}" for party in parties}
    seen = observe(
        trajectory, load_sensors(), track_ids=tracks, start=launch.instant, rate_hz=RATE_HZ
    )
    return tuple(
        LiveTrack(party, track_label(scenario, tracks[party], party), tuple(seen[party]))
        for party in parties
        if seen.get(party)
    )


def reach(scenario: Scenario, label: Label, hub: str, at: datetime) -> tuple[str, ...]:
    """The parties other than the originator that may see this track at ``at`` (scenario time)
    as the release rules say: directly, or from the hub with a standing consent — what the
    player tells the user; the nodes decide for themselves."""
    origin = label.originator
    found = []
    for other in label.releasable_to:
        direct = decide(scenario, label, holder=origin, recipient=other, at=at).allowed
        relayed = (
            hub not in (other, origin)
            and decide(scenario, label, holder=origin, recipient=hub, at=at).allowed
            and decide(scenario, label, holder=hub, recipient=other, at=at).allowed
        )
        if direct or relayed:
            found.append(other)
    return tuple(found)


def post_updates(
    client: httpx.Client, ingest: Ingest, track: LiveTrack, batch: Sequence[TrackUpdate]
) -> None:
    """Post ``batch`` of ``track``'s updates to its party's node; BadInput when refused."""
    body = {"label": track.label.to_json(), "updates": [u.to_json() for u in batch]}
    r = client.post(
        f"{ingest.url}/native/v1/tracks/{track.id}/updates",
        content=orjson.dumps(body),
        headers={"Content-Type": "application/json"},
        auth=ingest.auth,
    )
    if r.status_code != 202:
        raise BadInput(
            f"node {track.party} refused updates {batch[0].seq}..{batch[-1].seq} of {track.id}: "
            f"{r.status_code} {r.text[:300]}"
        )


def play(
    client: httpx.Client,
    ingests: Mapping[str, Ingest],
    tracks: Sequence[LiveTrack],
    launch: LaunchEvent,
    *,
    factor: float,
    stop: threading.Event | None = None,
) -> dict[str, int]:
    """Post each track's updates to its party's node as they fall due: the update at ``t``
    seconds into the flight ``t / factor`` wall seconds after the start, in batches every
    ``TICK`` s. Returns the updates posted per track; stops early when ``stop`` is set."""
    if not factor > 0:
        raise BadInput("play: the compression factor must be positive")
    clock = SystemClock()
    start = clock.monotonic()
    sent = {t.id: 0 for t in tracks}
    while any(sent[t.id] < len(t.updates) for t in tracks):
        if stop is not None and stop.is_set():
            break
        flown = timedelta(seconds=(clock.monotonic() - start) * factor)
        for track in tracks:
            n = sent[track.id]
            due = n
            while due < len(track.updates) and track.updates[due].at - launch.instant <= flown:
                due += 1
            for first in range(n, due, MAX_BATCH):
                post_updates(
                    client,
                    ingests[track.party],
                    track,
                    track.updates[first : min(due, first + MAX_BATCH)],
                )
            sent[track.id] = due
        time.sleep(TICK)
    return sent


def factor_for(
    tracks: Sequence[LiveTrack], launch: LaunchEvent, wall_seconds: float = LIVE_WALL_SECONDS
) -> float:
    """How many times faster than real time the flight plays: about ``wall_seconds`` long."""
    last = max((u.at for t in tracks for u in t.updates), default=launch.instant)
    return max(1.0, (last - launch.instant).total_seconds() / wall_seconds)


class LivePlayer:
    """Plays the demo's live launches, each in a thread of its own, as the replay reaches them."""

    def __init__(
        self,
        scenario: Scenario,
        launches: Sequence[LaunchEvent],
        ingests: Mapping[str, Ingest],
        consoles: Mapping[str, str],
        say: Callable[[str], None],
        *,
        client: Callable[[], httpx.Client],
        wall_seconds: float = LIVE_WALL_SECONDS,
    ) -> None:
        self.scenario = scenario
        self.chosen = {e.id for e in live_launches(launches, scenario)}
        self.ingests = ingests
        self.consoles = consoles
        self.say = say
        self.client = client
        self.wall_seconds = wall_seconds
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    @contextlib.contextmanager
    def stopped_on_error(self) -> Iterator[None]:
        """Within: a replay stopped by an error or Ctrl-C stops the live flights too (quietly);
        a replay that ends leaves them playing."""
        try:
            yield
        except BaseException:
            self.stop.set()
            raise

    def launched(self, launch: LaunchEvent) -> None:
        """The replay has published ``launch``'s reports: play it live if it is chosen."""
        if launch.id not in self.chosen:
            return
        tracks = synthesize(launch, self.scenario)
        factor = factor_for(tracks, launch, self.wall_seconds)
        hub = cast_of(self.scenario).hub
        for track in tracks:
            where = (track.party, *reach(self.scenario, track.label, hub, launch.instant))
            hidden = sorted(set(self.consoles) - set(where))
            self.say(
                f"live: {track.party} sensors track the {launch.missile_name} launched "
                f"{launch.instant.date()} ({len(track.updates)} synthesized updates, the flight "
                f"{factor:.0f}x faster than real time) — open "
                + ", ".join(f"{self.consoles[p]}tracks on {p}" for p in where)
                + (f"; not on {', '.join(hidden)}: no agreement allows it then" if hidden else "")
            )
        thread = threading.Thread(
            target=self._run, args=(launch, tracks, factor), name=f"live-{launch.id}", daemon=True
        )
        self.threads.append(thread)
        thread.start()

    def _run(self, launch: LaunchEvent, tracks: tuple[LiveTrack, ...], factor: float) -> None:
        try:
            with self.client() as client:
                sent = play(client, self.ingests, tracks, launch, factor=factor, stop=self.stop)
        except (BadInput, httpx.HTTPError) as exc:
            if not self.stop.is_set():
                self.say(f"live: the {launch.missile_name} tracks stopped: {exc}")
            return
        self.say(
            f"live: the {launch.missile_name} flight of {launch.instant.date()} is over "
            f"({sum(sent.values())} updates posted)"
        )
