"""``render_config`` writes the node.toml that ``parse_config`` reads back, whatever it holds."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from gsomia.errors import BadInput
from gsomia.node.config import PeerEntry, UserEntry, parse_config, render_config, token_digest
from gsomia.scenarios import load_scenario

SCENARIO = load_scenario("historical")


def test_what_is_written_is_read_back() -> None:
    source = Path("/srv/demo/KOR.toml")
    text = render_config(
        party="KOR",
        listen="127.0.0.1:8701",
        data_dir="KOR",
        peers=[PeerEntry("JPN", "http://127.0.0.1:8702/", "JPN.pub.json")],
        users=[
            UserEntry("analyst", token_digest("t1"), "I", ("dprk",)),
            UserEntry("low", token_digest("t2"), "III", ("dprk.nuclear",), "analyst"),
            UserEntry("admin", token_digest("t3"), "I", ("dprk",), "admin"),
        ],
        scenario="historical",
        title='demo "node" \\ KOR\nsecond line',
        max_content_length=1048576,
        cosign_interval=0,
        event_heartbeat=0.5,
    )
    config = parse_config(tomllib.loads(text), source, SCENARIO)
    assert (config.party, config.host, config.port) == ("KOR", "127.0.0.1", 8701)
    assert config.data_dir == Path("/srv/demo/KOR")
    assert config.title == 'demo "node" \\ KOR\nsecond line'
    assert (config.max_content_length, config.cosign_interval) == (1048576, 0.0)
    assert config.event_heartbeat == 0.5
    (peer,) = config.peers
    assert (peer.party, peer.url, peer.keys) == (
        "JPN",
        "http://127.0.0.1:8702",
        Path("/srv/demo/JPN.pub.json"),
    )
    assert [(u.name, u.clearance.level, u.role.value) for u in config.users] == [
        ("analyst", "I", "analyst"),
        ("low", "III", "analyst"),
        ("admin", "I", "admin"),
    ]
    assert config.users[1].clearance.need_to_know == ("dprk.nuclear",)
    assert config.user_by_token("low", "t2") == config.users[1]


def test_a_value_cannot_add_a_key() -> None:
    text = render_config(
        party="KOR", listen="127.0.0.1:8701", data_dir='KOR"\nmax_content_length = 1'
    )
    document = tomllib.loads(text)
    assert set(document) == {"party", "listen", "data_dir"}
    assert document["data_dir"] == 'KOR"\nmax_content_length = 1'


def test_an_unknown_setting_is_refused_when_read() -> None:
    text = render_config(party="KOR", listen="127.0.0.1:8701", data_dir="KOR", colour="red")
    with pytest.raises(BadInput, match="unknown key"):
        parse_config(tomllib.loads(text), Path("KOR.toml"), SCENARIO)


def test_the_store_url_is_written_only_when_set_and_read_back() -> None:
    source = Path("/srv/demo/KOR.toml")
    default = render_config(party="KOR", listen="127.0.0.1:8701", data_dir="KOR")
    assert "store" not in tomllib.loads(default)
    assert parse_config(tomllib.loads(default), source, SCENARIO).store is None
    text = render_config(
        party="KOR", listen="127.0.0.1:8701", data_dir="KOR", store="sqlite:////var/kor.db"
    )
    assert parse_config(tomllib.loads(text), source, SCENARIO).store == "sqlite:////var/kor.db"


def test_a_store_that_is_not_a_string_is_refused() -> None:
    text = render_config(party="KOR", listen="127.0.0.1:8701", data_dir="KOR", store=5)
    with pytest.raises(BadInput, match=r"KOR\.toml\.store: expected a store URL"):
        parse_config(tomllib.loads(text), Path("KOR.toml"), SCENARIO)
