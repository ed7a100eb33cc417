"""What a node's console keeps across a restart, in the node's store: sign-in sessions (the same
cookie and its forms still work; a sign-out holds, also after a restart) and the back-off of
failed credentials (a restart does not give a guesser a fresh start)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from .nodes import NodeProc, make_nodes
from .test_console_edges import csrf_of, session_cookie, signed_in, try_sign_in

WRONG = "gsomia_not-the-token-" + "x" * 20


def restart(node: NodeProc) -> None:
    node.stop()
    node.start()


def test_a_session_survives_a_restart_and_its_sign_out_holds(tmp_path: Path) -> None:
    node = make_nodes(tmp_path, ("KOR", "USA"))["KOR"]
    node.start()
    client = signed_in(node)
    cookie = session_cookie(node, client)
    try:
        page = client.get("/console/")
        assert page.status_code == 200
        restart(node)
        again = client.get("/console/")
        assert again.status_code == 200, again.headers.get("location")
        assert csrf_of(again) == csrf_of(page)  # derived from the session id, not kept
        # a form made before the restart is accepted after it: sign-out
        r = client.post("/console/logout", data={"csrf": csrf_of(page)})
        assert (r.status_code, r.headers["location"]) == (303, "/console/login")
        gone = httpx.get(f"{node.url}/console/", cookies=cookie, timeout=10)
        assert (gone.status_code, gone.headers["location"]) == (303, "/console/login")
        restart(node)
        still = httpx.get(f"{node.url}/console/", cookies=cookie, timeout=10)
        assert (still.status_code, still.headers["location"]) == (303, "/console/login")
    finally:
        client.close()
        node.stop()


def test_a_restart_keeps_the_back_off_of_failed_sign_ins(tmp_path: Path) -> None:
    node = make_nodes(tmp_path, ("JPN", "USA"))["JPN"]
    node.start()
    client = httpx.Client(base_url=node.url, timeout=10)
    try:
        statuses = [try_sign_in(client, WRONG, name="analyst").status_code for _ in range(3)]
        assert statuses == [401, 401, 401]  # the free failures
        restart(node)
        # the count goes on from three: the fourth failure blocks, and what follows is refused
        assert try_sign_in(client, WRONG, name="analyst").status_code == 401
        r = try_sign_in(client, node.users["analyst"], name="analyst")
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) >= 1
        assert "Too many failed sign-ins" in r.text
        api = httpx.get(node.api_root, auth=node.auth(), timeout=10)  # same address: blocked
        assert api.status_code == 429
        assert int(api.headers["retry-after"]) >= 1
        log = node.log.read_text(encoding="utf-8", errors="replace")
        assert re.search(
            r'reason="sign-in with an unknown user or token; blocked for 1 s" '
            r"address=127\.0\.0\.1\n",
            log,
        ), log[-2000:]
    finally:
        client.close()
        node.stop()
