"""``gsomia note``: an authority's diplomatic notes, given through the party's running node.

``gsomia note give|suspend|withdraw --agreement ID --node-config node.toml`` asks the node what
the act would mean (``GET /native/v1/notes/consequence``), prints it in plain words, asks to
confirm (``--yes`` does not ask) and gives the note (``POST /native/v1/notes``): the node signs
it, logs it and sends it to the agreement's other parties. ``gsomia note list`` prints the notes
the node holds, given and received, with their receipts.

The node is reached at the address its node.toml listens on (``--url`` to name another). The
user's API token comes from the environment, ``GSOMIA_TOKEN`` (sent as a Bearer token), never
from the command line. Exit codes are the project's: 2 bad input (the node's 400/404/422
included), 3 a verification that failed, 4 refused (403: not an authority, not the party that
gave the notice), 5 a conflict with the agreement's state (409), 1 the node not reachable; the
node's reason is printed.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console
from rich.markup import escape

from gsomia.cli._common import JSON_OPTION, emit_json
from gsomia.errors import (
    BadInput,
    Conflict,
    Denied,
    GsomiaError,
    NotFound,
    VerificationFailed,
)

TOKEN_ENV = "GSOMIA_TOKEN"  # noqa: S105 (the name of the variable, not a token)
NOTES_PATH = "/native/v1/notes"
CONSEQUENCE_PATH = "/native/v1/notes/consequence"
TIMEOUT = 30.0
ACTS = {"give": "notice", "suspend": "suspend", "withdraw": "withdraw"}
ACT_WORDS = {
    "notice": "notice of termination",
    "suspend": "suspension of the notice",
    "withdraw": "withdrawal of the notice",
}
#: A node's error answer (its ``error_code``) as the error the CLI exits with.
ERRORS: dict[str, type[GsomiaError]] = {
    "bad_input": BadInput,
    "not_found": NotFound,
    "verification_failed": VerificationFailed,
    "denied": Denied,
    "conflict": Conflict,
}
STATUS_ERRORS: dict[int, type[GsomiaError]] = {
    400: BadInput,
    401: Denied,
    403: Denied,
    404: NotFound,
    409: Conflict,
    422: BadInput,
}

note_app = typer.Typer(
    help="An authority's diplomatic notes on agreements, through the party's node.",
    no_args_is_help=True,
)
CONFIG_OPTION = typer.Option(..., "--node-config", help="The node's TOML configuration.")
URL_OPTION = typer.Option(
    None, "--url", help="The node's base URL (default: the address its node.toml listens on)."
)
CA_OPTION = typer.Option(
    None,
    "--ca",
    help="CA certificate (PEM) the node's HTTPS certificate is checked against (default: the "
    "node.toml's [tls] client_ca files).",
)


@dataclass(frozen=True)
class NodeApi:
    """A node's native API as one of its users (a Bearer token) speaks to it."""

    url: str
    token: str
    verify: ssl.SSLContext | bool = True

    def call(
        self,
        method: str,
        path: str,
        *,
        expect: int,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        client: httpx.Client | None = None,
    ) -> Any:
        """The JSON answer of ``method path``; the node's refusal as the matching error (its
        reason in the message); GsomiaError (exit 1) when the node is not reachable."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        try:
            if client is None:
                with httpx.Client(timeout=TIMEOUT, verify=self.verify) as own:
                    r = own.request(
                        method, self.url + path, params=params, json=body, headers=headers
                    )
            else:
                r = client.request(
                    method, self.url + path, params=params, json=body, headers=headers
                )
        except httpx.HTTPError as exc:
            raise GsomiaError(f"node at {self.url}: not reachable ({exc})") from None
        if r.status_code == expect:
            try:
                return r.json()
            except ValueError:
                raise GsomiaError(f"node at {self.url}: {method} {path} answered no JSON") from None
        raise refusal(r)

    def consequence(self, agreement: str, event: str, at: str | None) -> Any:
        params = {"agreement": agreement, "event": event}
        if at is not None:
            params["at"] = at
        return self.call("GET", CONSEQUENCE_PATH, expect=200, params=params)

    def give(self, body: dict[str, Any], client: httpx.Client | None = None) -> dict[str, Any]:
        found: dict[str, Any] = self.call("POST", NOTES_PATH, expect=201, body=body, client=client)
        return found

    def notes(
        self, agreement: str | None = None, client: httpx.Client | None = None
    ) -> list[dict[str, Any]]:
        params = {} if agreement is None else {"agreement": agreement}
        found = self.call("GET", NOTES_PATH, expect=200, params=params, client=client)
        if not isinstance(found, list):
            raise GsomiaError(f"node at {self.url}: the notes answered are not a list")
        return found


def refusal(r: httpx.Response) -> GsomiaError:
    """The error a node's refusal ``r`` means, with the node's reason."""
    try:
        body = r.json()
    except ValueError:
        body = None
    reason = ""
    kind = ""
    if isinstance(body, dict):
        reason = str(body.get("description") or body.get("title") or "")
        kind = str(body.get("error_code") or "")
    reason = " ".join((reason or r.text[:300] or r.reason_phrase).split())
    cls = ERRORS.get(kind) or STATUS_ERRORS.get(r.status_code, GsomiaError)
    return cls(f"the node refused ({r.status_code}): {reason}")


def node_api(config_path: Path, url: str | None, ca: Path | None) -> NodeApi:
    """The node's API from its node.toml, as the user whose token is in ``GSOMIA_TOKEN``."""
    from gsomia.app.boot import load_config

    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise BadInput(
            f"{TOKEN_ENV}: not set; put the user's API token there (never on the command line)"
        )
    config = load_config(config_path)
    if url is None:
        host = config.host if config.host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104
        host = f"[{host}]" if ":" in host else host
        url = f"{config.scheme}://{host}:{config.port}"
    elif not url.startswith(("http://", "https://")):
        raise BadInput(f"--url: expected an http:// or https:// URL, got {url[:80]!r}")
    verify: ssl.SSLContext | bool = True
    cas = [ca] if ca is not None else list(config.tls.client_ca) if config.tls else []
    if url.startswith("https://") and cas:
        verify = ssl.create_default_context()
        for path in cas:
            try:
                verify.load_verify_locations(cafile=path)
            except (OSError, ssl.SSLError) as exc:
                raise BadInput(f"CA certificate {path}: cannot be read ({exc})") from None
    return NodeApi(url.rstrip("/"), token, verify)


def consequence_words(found: Any) -> str:
    """The node's consequence of an act, as a sentence (whatever shape the node answers)."""
    if isinstance(found, str):
        return found
    if isinstance(found, dict):
        for key in ("words", "text", "summary", "sentence", "consequence"):
            value = found.get(key)
            if isinstance(value, str) and value:
                return value
        return "; ".join(f"{k}: {v}" for k, v in found.items())
    return str(found)


def note_words(note: dict[str, Any]) -> str:
    event = str(note.get("event", "?"))
    return (
        f"{note.get('party', '?')}'s {ACT_WORDS.get(event, event)} of "
        f"{note.get('agreement', '?')} at {note.get('at', '?')}"
    )


def receipts_words(note: dict[str, Any]) -> str:
    """Who acknowledged the note and when, and where it is still on its way (sender side)."""
    parts = []
    receipts = note.get("receipts") or {}
    if isinstance(receipts, dict):
        for party, receipt in sorted(receipts.items()):
            at = receipt.get("at", "?") if isinstance(receipt, dict) else "?"
            parts.append(f"{party} received it ({at})")
    delivery = note.get("delivery") or {}
    if isinstance(delivery, dict):
        for party, state in sorted(delivery.items()):
            if party not in receipts:
                parts.append(f"{party}: {_delivery_words(state)}")
    return "; ".join(parts)


def _delivery_words(state: object) -> str:
    """A recipient's delivery (``{"state", "at", "detail"?}``) in words."""
    if isinstance(state, dict):
        words = f"{state.get('state', '?')} ({state.get('at', '?')})"
        return words + (f": {state['detail']}" if state.get("detail") else "")
    return str(state)


def _act(
    verb: str,
    agreement: str,
    config_path: Path,
    at: str | None,
    text: str,
    yes: bool,
    url: str | None,
    ca: Path | None,
    as_json: bool,
) -> None:
    from gsomia.domain.instants import format_instant, parse_instant
    from gsomia.domain.notes import check_text

    event = ACTS[verb]
    instant: datetime | None = None if at is None else parse_instant(at, "--at")
    check_text(text, "--text")
    if not agreement.strip():
        raise BadInput("--agreement: expected an agreement id")
    api = node_api(config_path, url, ca)
    at_text = None if instant is None else format_instant(instant)
    consequence = api.consequence(agreement, event, at_text)
    out = Console(stderr=as_json, highlight=False, soft_wrap=True)
    words = escape(f" of {agreement}: {consequence_words(consequence)}")
    out.print(f"[bold]{ACT_WORDS[event]}[/bold]{words}")
    if not yes:
        typer.confirm("give this note?", abort=True, err=True)
    body: dict[str, Any] = {"agreement": agreement, "event": event}
    if text:
        body["text"] = text
    if at_text is not None:
        body["at"] = at_text
    note = api.give(body)
    if as_json:
        emit_json({"consequence": consequence, "note": note})
        return
    sent = ", ".join(sorted((note.get("delivery") or {}).keys())) or "no peer"
    out.print(
        f"given: {note_words(note)} (note {note.get('id', '?')}); sent to {sent}", markup=False
    )


def _act_command(verb: str, doc: str) -> Callable[..., None]:
    """The command ``gsomia note VERB``: the same options for every act."""

    def command(
        agreement: str = typer.Option(..., "--agreement", help="The agreement's id."),
        config_path: Path = CONFIG_OPTION,
        at: str | None = typer.Option(None, "--at", help="The note's instant (default: now)."),
        text: str = typer.Option(
            "", "--text", help="The note's free text (2000 characters at most)."
        ),
        yes: bool = typer.Option(False, "--yes", "-y", help="Give it without asking to confirm."),
        url: str | None = URL_OPTION,
        ca: Path | None = CA_OPTION,
        as_json: bool = JSON_OPTION,
    ) -> None:
        _act(verb, agreement, config_path, at, text, yes, url, ca, as_json)

    command.__doc__ = doc
    command.__name__ = f"cmd_{verb}"
    return command


ACT_COMMANDS = {
    "give": "Give notice of termination of an agreement (an authority of the node's party).",
    "suspend": "Suspend the notice this party gave (an authority of the node's party).",
    "withdraw": "Withdraw the notice this party gave (an authority of the node's party).",
}


def cmd_list(
    config_path: Path = CONFIG_OPTION,
    agreement: str | None = typer.Option(None, "--agreement", help="Only this agreement's."),
    url: str | None = URL_OPTION,
    ca: Path | None = CA_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """The notes the node holds, given and received, with their receipts (any user)."""
    api = node_api(config_path, url, ca)
    notes = api.notes(agreement)
    if as_json:
        emit_json(notes)
        return
    out = Console(highlight=False, soft_wrap=True)
    if not notes:
        out.print("no notes" + ("" if agreement is None else f" on {agreement}"), markup=False)
        return
    for note in notes:
        direction = str(note.get("direction", "?"))
        if direction == "received" and note.get("received_at"):
            direction = f"received here at {note['received_at']}"
        elif direction == "sent" and note.get("given_by"):
            direction = f"given here by {note['given_by']}"
        receipts = receipts_words(note)
        line = f"{note_words(note)} — {direction}" + (f"; {receipts}" if receipts else "")
        out.print(line + f" (note {note.get('id', '?')})", markup=False)


def register(app: typer.Typer) -> None:
    for verb, doc in ACT_COMMANDS.items():
        note_app.command(verb)(_act_command(verb, doc))
    note_app.command("list")(cmd_list)
    app.add_typer(note_app, name="note")
