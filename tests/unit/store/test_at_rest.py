"""Encryption at rest: the cipher (round trip, place binding, keys, tampering) and the node
store that uses it (sealed columns, swapped rows, a plaintext store of the previous version
migrated at open, owner-only files)."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import orjson
import pytest

from gsomia.errors import BadInput, StoreFailure, VerificationFailed
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import KeyRing, init_keys
from gsomia.store.ports import NODE_SCHEMA_VERSION, NewObject, SchemaBehind
from gsomia.store.sqlite_node import NODE_SCHEMA, SqliteNodeStore

#: Every way a sealed value at rest is refused, each naming why.
AT_REST_REFUSALS = (
    r"^(at rest: not a sealed value of a known format|at rest: sealed under a key this ring "
    r"does not hold|aes-256-gcm: cannot decrypt)$"
)
SECRET = b"Hwasong-99 telemetry from the at-rest unit test"


@pytest.fixture(scope="module")
def ring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    return init_keys(tmp_path_factory.mktemp("kor"), "KOR", passphrase=None, insecure=True)


@pytest.fixture
def cipher(ring: KeyRing) -> KeyRingCipher:
    return KeyRingCipher(ring)


def test_round_trip_and_a_versioned_header(cipher: KeyRingCipher, ring: KeyRing) -> None:
    value = cipher.seal(SECRET, b"place")
    assert SECRET not in value
    assert value[0] == 0x01
    assert value[1:9].hex() == ring.current.key_id
    assert cipher.open(value, b"place") == SECRET
    assert cipher.seal(SECRET, b"place") != value  # a fresh nonce each time


def test_a_value_does_not_open_in_another_place(cipher: KeyRingCipher) -> None:
    value = cipher.seal(SECRET, b'["objects","body","c","x","1"]')
    with pytest.raises(VerificationFailed, match="cannot decrypt"):
        cipher.open(value, b'["objects","body","c","y","1"]')


@pytest.mark.parametrize("index", [0, 1, 8, 9, 20, 21, -1])
def test_every_tampered_byte_is_refused(cipher: KeyRingCipher, index: int) -> None:
    value = bytearray(cipher.seal(SECRET, b"p"))
    value[index] ^= 0x01
    with pytest.raises(VerificationFailed, match=AT_REST_REFUSALS):
        cipher.open(bytes(value), b"p")


def test_truncated_and_unknown_versions_are_refused(cipher: KeyRingCipher) -> None:
    value = cipher.seal(SECRET, b"p")
    for bad in (b"", value[:36], b"\x02" + value[1:], SECRET):
        with pytest.raises(VerificationFailed, match=AT_REST_REFUSALS):
            cipher.open(bad, b"p")


def test_another_partys_key_does_not_open(cipher: KeyRingCipher, tmp_path: Path) -> None:
    other = KeyRingCipher(init_keys(tmp_path, "KOR", passphrase=None, insecure=True))
    with pytest.raises(VerificationFailed, match="sealed under a key this ring does not hold"):
        other.open(cipher.seal(SECRET, b"p"), b"p")


def test_rotation_brings_a_new_data_key_and_old_values_still_open(tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    ring = init_keys(tmp_path / "home", "JPN", passphrase=None, key_file=key_file)
    before = KeyRing.load(tmp_path / "home", passphrase=None, key_file=key_file)
    cipher = KeyRingCipher(ring)
    old = cipher.seal(SECRET, b"p")
    ring.rotate()
    new = cipher.seal(SECRET, b"p")
    assert ring.generations[0].data_key != ring.generations[1].data_key
    assert new[1:9].hex() == ring.current.key_id != old[1:9].hex()
    assert cipher.open(old, b"p") == cipher.open(new, b"p") == SECRET
    # a ring that does not hold the new generation refuses what it sealed
    with pytest.raises(VerificationFailed, match="sealed under a key this ring does not hold"):
        KeyRingCipher(before).open(new, b"p")
    # the data keys come back from the key store as they were
    again = KeyRing.load(tmp_path / "home", passphrase=None, key_file=key_file)
    assert KeyRingCipher(again).open(new, b"p") == SECRET


# ------------------------------------------------------------------ the node store


def _object(stix_id: str, text: bytes) -> NewObject:
    return NewObject("col", stix_id, "report", "v1", None, None, ("dprk",), text)


def _file_bytes(path: Path) -> bytes:
    out = b""
    for name in (path.name, path.name + "-wal", path.name + "-shm"):
        f = path.with_name(name)
        if f.exists():
            out += f.read_bytes()
    return out


def _fill(store: SqliteNodeStore) -> None:
    with store.writing() as w:
        w.add_object(_object("report--a", b'{"description":"' + SECRET + b' A"}'), "2026-01-01")
        w.add_object(_object("report--b", b'{"description":"' + SECRET + b' B"}'), "2026-01-02")
        w.put_status("s1", "analyst", {"note": SECRET.decode()})
        w.put_document("report.sent", "r1", "item-1", {"detail": SECRET.decode()}, SECRET)
        w.queue_message("USA", "/peer/v1/reports", "r1", SECRET)


def test_content_is_sealed_in_the_file_and_reads_back(
    cipher: KeyRingCipher, tmp_path: Path
) -> None:
    path = tmp_path / "data" / "node.sqlite3"
    with SqliteNodeStore(path, cipher=cipher) as store:
        _fill(store)
        assert SECRET not in _file_bytes(path)
        with store.reading() as r:
            rows = r.rows_after(0, 10)
            assert [row.body for row in rows] == [
                b'{"description":"' + SECRET + b' A"}',
                b'{"description":"' + SECRET + b' B"}',
            ]
            assert r.status("s1") == ("analyst", {"note": SECRET.decode()})
            doc = r.document("report.sent", "r1")
            assert doc is not None
            assert doc.body == {"detail": SECRET.decode()}
            assert doc.attachment == SECRET
            assert [m.body for m in r.due_messages(1e12)] == [SECRET]
    for name in ("node.sqlite3", "node.sqlite3-wal", "node.sqlite3-shm"):
        f = path.with_name(name)
        if f.exists():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, name
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_body_moved_to_another_row_does_not_open(cipher: KeyRingCipher, tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite3"
    with SqliteNodeStore(path, cipher=cipher) as store:
        _fill(store)
    con = sqlite3.connect(path)
    a = con.execute("SELECT body FROM objects WHERE stix_id = 'report--a'").fetchone()[0]
    con.execute("UPDATE objects SET body = ? WHERE stix_id = 'report--b'", (a,))
    doc = con.execute("SELECT body FROM node_documents").fetchone()[0]
    con.execute("UPDATE statuses SET body = ?", (doc,))
    con.commit()
    con.close()
    with SqliteNodeStore(path, cipher=cipher) as store, store.reading() as r:
        with pytest.raises(StoreFailure, match=r"objects\.body of row \['col', 'report--b'"):
            r.versions("col", "report--b")
        assert len(r.versions("col", "report--a")) == 1
        with pytest.raises(StoreFailure, match=r"statuses\.body"):
            r.status("s1")


def test_a_store_of_another_key_ring_does_not_open(cipher: KeyRingCipher, tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite3"
    with SqliteNodeStore(path, cipher=cipher) as store:
        _fill(store)
    other = KeyRingCipher(init_keys(tmp_path / "o", "KOR", passphrase=None, insecure=True))
    with (
        SqliteNodeStore(path, cipher=other) as store,
        store.reading() as r,
        pytest.raises(StoreFailure, match="does not open"),
    ):
        r.rows_after(0, 10)


def _old_store(path: Path) -> None:
    """A store as the previous version wrote it: bodies in clear, no at-rest marker, 0644."""
    path.touch(mode=0o644)
    path.chmod(0o644)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    for statement in NODE_SCHEMA.split(";"):
        if statement.strip():
            con.execute(statement)
    con.execute("BEGIN")
    for n in range(300):  # enough pages for the old plaintext to be all over the file
        con.execute(
            "INSERT INTO objects (collection, stix_id, stix_type, version, date_added, item_id, "
            "equivalence, topics, is_latest, body) VALUES ('col', ?, 'report', 'v1', ?, NULL, "
            "NULL, '[]', 1, ?)",
            (f"report--{n}", f"2026-01-01T00:00:{n:06d}", SECRET + b" object %d" % n),
        )
    con.execute("INSERT INTO statuses VALUES ('s1', 'analyst', ?)", (orjson.dumps({"x": 1}),))
    con.execute(
        "INSERT INTO node_documents VALUES ('report.sent', 'r1', 'i', ?, ?)",
        (orjson.dumps({"detail": SECRET.decode()}), SECRET),
    )
    con.execute(
        "INSERT INTO peer_messages (recipient, path, ref, body) VALUES ('USA', '/p', 'r1', ?)",
        (SECRET,),
    )
    con.execute("COMMIT")
    con.close()


def test_a_plaintext_store_is_encrypted_when_migrated_and_vacuumed(
    cipher: KeyRingCipher, tmp_path: Path
) -> None:
    path = tmp_path / "node.sqlite3"
    _old_store(path)
    assert SECRET in _file_bytes(path)
    # written before schema versions (version 0): a node refuses it until it is migrated
    with pytest.raises(SchemaBehind, match=r"schema 0 is older .*`gsomia node migrate"):
        SqliteNodeStore(path, cipher=cipher)
    with SqliteNodeStore(path, cipher=cipher, migrate=True) as store:
        assert store.migrated == (0, NODE_SCHEMA_VERSION)
        assert SECRET not in _file_bytes(path)
        with store.reading() as r:
            rows = r.rows_after(0, 1000)
            assert len(rows) == 300
            assert rows[7].body == SECRET + b" object 7"
            doc = r.document("report.sent", "r1")
            assert doc is not None
            assert doc.body["detail"] == SECRET.decode()
            assert doc.attachment == SECRET
            assert r.status("s1") == ("analyst", {"x": 1})
            assert [m.body for m in r.due_messages(1e12)] == [SECRET]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SECRET not in _file_bytes(path)
    # opened again: already encrypted, nothing to migrate, all still there
    with SqliteNodeStore(path, cipher=cipher) as store, store.reading() as r:
        assert len(r.rows_after(0, 1000)) == 300


def test_an_unknown_at_rest_format_is_refused(cipher: KeyRingCipher, tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite3"
    SqliteNodeStore(path, cipher=cipher).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE node_meta SET value = 'rot13/v9' WHERE key = 'at_rest'")
    con.commit()
    con.close()
    with pytest.raises(BadInput, match="at-rest format 'rot13/v9'"):
        SqliteNodeStore(path, cipher=cipher)
