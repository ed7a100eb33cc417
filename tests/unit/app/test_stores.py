"""``open_store``: the store a node's ``store`` URL names (SQLite, relative to the data
directory or absolute), and every other URL refused naming the config key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gsomia.app.stores import DB_NAME, open_store, sqlite_path
from gsomia.errors import BadInput
from gsomia.seal.at_rest import KeyRingCipher
from gsomia.seal.keys import init_keys

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
        ("postgresql://127.0.0.1/kor", r"scheme 'postgresql' is not a store this version"),
        ("mysql://db/kor", r"scheme 'mysql' is not a store this version"),
        ("node.sqlite3", r"'node.sqlite3', which has no scheme, is not a store this version"),
        ("sqlite://host/kor.sqlite3", r"a SQLite store has no host"),
        ("sqlite:///", r"expected a file path after 'sqlite:///'"),
        ("sqlite:///kor.sqlite3?mode=ro", r"expected a file path after 'sqlite:///' \(no options"),
    ],
)
def test_any_other_url_is_refused_naming_the_key_and_what_is_known(url: str, said: str) -> None:
    with pytest.raises(BadInput, match=rf"^{WHERE}: .*{said}.*sqlite:///PATH"):
        sqlite_path(url, Path("/srv/KOR"), where=WHERE)


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
