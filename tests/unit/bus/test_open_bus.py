"""Opening the bus by URL (``gsomia.app.buses``): the in-process bus by default, JetStream for
``nats://``, and every bad URL refused naming the config key and what is wrong."""

from __future__ import annotations

import pytest

from gsomia.app.buses import open_bus
from gsomia.bus.jetstream import JetStreamBus
from gsomia.bus.local import LocalBus
from gsomia.errors import BadInput


@pytest.mark.parametrize("url", [None, "memory:"])
def test_no_url_or_memory_is_the_in_process_bus(url: str | None) -> None:
    bus = open_bus(url, party="KOR", where="node.toml: bus")
    assert isinstance(bus, LocalBus)
    assert not bus.shared


def test_a_nats_url_is_jetstream_with_its_servers_prefix_and_ack_wait() -> None:
    bus = open_bus(
        "nats://a.example:4223,10.0.0.2?prefix=prod&ack_wait=12.5&replicas=3",
        party="KOR",
        where="w",
    )
    assert isinstance(bus, JetStreamBus)
    assert bus.servers == ["nats://a.example:4223", "nats://10.0.0.2:4222"]
    assert (bus.prefix, bus.ack_wait, bus.shared, bus.replicas) == ("prod", 12.5, True, 3)
    assert (bus.work_stream, bus.events_stream) == ("prod_KOR_WORK", "prod_KOR_EVENTS")
    default = open_bus("nats://127.0.0.1", party="JPN", where="w")
    assert isinstance(default, JetStreamBus)
    assert (default.prefix, default.ack_wait, default.replicas) == ("gsomia", 30.0, 1)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis://h", "scheme 'redis' is not a bus"),
        ("localhost:4222", "has no scheme"),
        ("nats://h:port", "not a HOST\\[:PORT\\]"),
        ("nats://h/x", "no path"),
        ("nats://user:pw@h", "credentials"),
        ("nats://h?colour=red", "unknown option\\(s\\) 'colour'"),
        ("nats://h?prefix=a&prefix=b", "prefix more than once"),
        ("nats://h?prefix=a.b", "prefix 'a.b'"),
        ("nats://h?ack_wait=0", "ack_wait '0'"),
        ("nats://h?ack_wait=soon", "ack_wait 'soon'"),
        ("nats://h?ack_wait=nan", "ack_wait 'nan'"),
        ("nats://h?replicas=0", "replicas '0'"),
        ("nats://h?replicas=6", "replicas '6'"),
        ("nats://h?replicas=two", "replicas 'two'"),
    ],
)
def test_a_bad_url_is_refused_naming_where_and_what(url: str, why: str) -> None:
    with pytest.raises(BadInput, match=f"^node.toml: bus: .*{why}"):
        open_bus(url, party="KOR", where="node.toml: bus")


def test_a_bad_party_is_refused() -> None:
    with pytest.raises(BadInput, match="party 'K_R'"):
        open_bus("nats://h", party="K_R", where="w")
