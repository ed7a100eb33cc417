"""A small server-sent-events client for the integration tests, and node.toml tuning."""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from .nodes import NodeProc


def tune(node: NodeProc, **settings: float) -> None:
    """Put top-level keys (e.g. ``cosign_interval``) at the head of the node's node.toml."""
    head = "".join(f"{key} = {value}\n" for key, value in settings.items())
    node.config.write_text(head + node.config.read_text(encoding="utf-8"), encoding="utf-8")


@dataclass
class Frame:
    """One dispatched SSE frame, or a comment line (``comment`` set, nothing else)."""

    id: str | None = None
    event: str | None = None
    data: str = ""
    comment: str | None = None

    def json(self) -> Any:
        return orjson.loads(self.data)


@dataclass
class SseReader:
    """Reads one event stream in a thread; frames arrive on ``frames``; ``None`` at the end.

    The native API's stream as ``user`` by default; with ``cookies``, the stream at ``path``
    (e.g. the console's ``/console/events``) with those cookies and no credentials."""

    node: NodeProc
    user: str = "analyst"
    last_event_id: str | None = None
    path: str = "/native/v1/events"
    cookies: dict[str, str] | None = None
    frames: queue.Queue[Frame | None] = field(default_factory=queue.Queue)
    status: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> SseReader:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise AssertionError("the event stream did not open")
        return self

    def _run(self) -> None:
        headers = {"Accept": "text/event-stream"}
        if self.last_event_id is not None:
            headers["Last-Event-ID"] = self.last_event_id
        try:
            with (
                httpx.Client(
                    timeout=httpx.Timeout(10.0, read=None), cookies=self.cookies
                ) as client,
                client.stream(
                    "GET",
                    f"{self.node.url}{self.path}",
                    auth=None if self.cookies is not None else self.node.auth(self.user),
                    headers=headers,
                ) as response,
            ):
                self.status = response.status_code
                self._ready.set()
                frame = Frame()
                for line in response.iter_lines():
                    if self._stop.is_set():
                        break
                    if line.startswith(":"):
                        self.frames.put(Frame(comment=line[1:].strip()))
                    elif line == "":
                        if frame.id is not None or frame.data:
                            self.frames.put(frame)
                        frame = Frame()
                    else:
                        name, _, value = line.partition(":")
                        value = value.removeprefix(" ")
                        if name == "id":
                            frame.id = value
                        elif name == "event":
                            frame.event = value
                        elif name == "data":
                            frame.data = value if not frame.data else frame.data + "\n" + value
        except Exception:  # closed from another thread, or the node went away
            pass
        finally:
            self._ready.set()
            self.frames.put(None)

    def next_item(self, timeout: float = 10.0) -> Frame:
        """The next ``item`` event (comments skipped); fails if the stream ends first."""
        while True:
            frame = self.frames.get(timeout=timeout)
            if frame is None:
                raise AssertionError("the event stream ended")
            if frame.event == "item":
                return frame

    def next_comment(self, timeout: float = 10.0) -> str | None:
        """The next comment, or None if the stream ends first."""
        while True:
            frame = self.frames.get(timeout=timeout)
            if frame is None:
                return None
            if frame.comment is not None:
                return frame.comment

    def close(self) -> None:
        """Stop reading at the next line (the node's heartbeats make that soon)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
