"""``open_store``: the store a node's ``store`` URL names (SQLite, relative to the data
directory or absolute; a PostgreSQL schema), and every other URL refused naming the config
key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gsomia.app.stores import (
    DB_NAME,
    PostgresTarget,
    migrate_store,
    open_log_reader,
    open_store,
    sqlite_path,
    store_target,
)
from gsomia.errors import BadInput
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import init_keys
from tests import pg

WHERE = "node config /srv/KOR.toml.store"


def test_no_url_is_the_default_file_in_the_data_directory() -> None:
    assert sqlite_path(None, Path("/srv/KOR"), where=WHERE) == Path("/srv/KOR") / DB_NAME


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///node.sqlite3", "/srv/KOR/node.sqlite3"),
        ("sqlite:///db/kor.sqlite3", "/srv/KOR/db/kor.sqlite3"),
        ("sqlite:////var/lib/gsomia/kor.sqlite3", "/var/lib/gsomia/kor.sqlite3"),
    ],
)
def test_a_sqlite_url_is_relative_to_the_data_directory_or_absolute(url: str, path: str) -> None:
    assert sqlite_path(url, Path("/srv/KOR"), where=WHERE) == Path(path)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("mysql://db/kor", r"scheme 'mysql' is not a store this version"),
        ("node.sqlite3", r"'node.sqlite3', which has no scheme, is not a store this version"),
        ("sqlite://host/kor.sqlite3", r"a SQLite store has no host"),
        ("sqlite:///", r"expected a file path after 'sqlite:///'"),
        ("sqlite:///kor.sqlite3?mode=ro", r"expected a file path after 'sqlite:///' \(no options"),
    ],
)
def test_any_other_url_is_refused_naming_the_key_and_what_is_known(url: str, said: str) -> None:
    with pytest.raises(BadInput, match=rf"^{WHERE}: .*{said}.*sqlite:///PATH.*postgresql://"):
        store_target(url, Path("/srv/KOR"), where=WHERE)


@pytest.mark.parametrize(
    ("url", "conninfo", "schema"),
    [
        ("postgresql://127.0.0.1/kor", "postgresql://127.0.0.1/kor", "gsomia"),
        ("postgres://db:5433/kor?schema=demo_kor", "postgresql://db:5433/kor", "demo_kor"),
        (
            "postgresql://gsomia:s3cret@db/kor?sslmode=require&schema=kor_1",
            "postgresql://gsomia:s3cret@db/kor?sslmode=require",
            "kor_1",
        ),
        (  # a primary and a standby: libpq tries each, and takes the writable one
            "postgresql://gsomia@db-a:5432,db-b:5433/kor?target_session_attrs=read-write",
            "postgresql://gsomia@db-a:5432,db-b:5433/kor?target_session_attrs=read-write",
            "gsomia",
        ),
    ],
)
def test_a_postgresql_url_names_a_schema_which_psycopg_is_not_given(
    url: str, conninfo: str, schema: str
) -> None:
    assert store_target(url, Path("/srv/KOR"), where=WHERE) == PostgresTarget(conninfo, schema)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("postgresql://db/kor?search_path=x", r"unknown option\(s\) 'search_path'"),
        (
            "postgresql://db/kor?schema=a&schema=b",
            r"the PostgreSQL URL names the schema more than once",
        ),
        ("postgresql://db/kor?schema=Bad-Name", r"schema 'Bad-Name': expected a lower-case"),
        ("postgresql://db/kor?schema=", r"schema '': expected a lower-case"),
        ("postgresql://db/", r"the PostgreSQL URL names no database"),
        ("postgresql://db:port/kor", r"not a valid PostgreSQL URL"),
        ("postgresql://db-a:5432,db-b:port/kor", r"not a valid PostgreSQL URL"),
        ("postgresql://db/kor#x", r"a PostgreSQL URL has no #fragment"),
    ],
)
def test_a_bad_postgresql_url_is_refused_naming_the_key(url: str, said: str) -> None:
    with pytest.raises(BadInput, match=rf"^{WHERE}: {said}"):
        store_target(url, Path("/srv/KOR"), where=WHERE)


def test_a_password_in_the_url_is_in_no_message(tmp_path: Path) -> None:
    url = "postgresql://gsomia:hunter2-s3cret@127.0.0.1:1/kor?bogus=1"
    with pytest.raises(BadInput, match=r"unknown option") as refused:
        store_target(url, tmp_path, where=WHERE)
    assert "hunter2" not in str(refused.value)


def test_open_store_makes_the_file_the_url_names(tmp_path: Path) -> None:
    cipher = KeyRingCipher(init_keys(tmp_path / "keys", "KOR", passphrase=None, insecure=True))
    store = open_store("sqlite:///db/kor.sqlite3", data_dir=tmp_path / "KOR", cipher=cipher)
    try:
        with store.reading() as r:
            assert r.last_seq() == 0
    finally:
        store.close()
    assert (tmp_path / "KOR" / "db" / "kor.sqlite3").is_file()
    assert not (tmp_path / "KOR" / DB_NAME).exists()


def test_open_store_makes_a_postgresql_schema_and_the_log_reader_finds_it(
    tmp_path: Path, pg_database: str, pg_schema: str
) -> None:
    cipher = KeyRingCipher(init_keys(tmp_path / "keys", "KOR", passphrase=None, insecure=True))
    url = pg.url(pg_database, pg_schema)
    with pytest.raises(BadInput, match=rf"^node KOR: no store in .* schema {pg_schema}: has"):
        open_log_reader(url, data_dir=tmp_path, where=WHERE, party="KOR")
    store = open_store(url, data_dir=tmp_path, cipher=cipher, where=WHERE)
    try:
        with store.reading() as r:
            assert r.last_seq() == 0
    finally:
        store.close()
    assert migrate_store(url, data_dir=tmp_path, cipher=cipher, where=WHERE) is None
    log = open_log_reader(url, data_dir=tmp_path, where=WHERE, party="KOR")
    try:
        with log.reading() as r:
            assert r.size() == 0
    finally:
        log.close()
    assert not (tmp_path / DB_NAME).exists()
