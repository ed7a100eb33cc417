"""Uploaded scenarios: parsed like a file (the CLI's errors), extending built-ins only, and kept
per session within bounds."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from gsomia.console.pages import MAX_UPLOAD_BYTES, ScenarioUploads
from gsomia.errors import BadInput, NotFound
from gsomia.scenarios import load_scenario, load_scenario_text

BROKEN = [
    'format = 1\nname = "x"\ntitle = "x"\n',
    "format = 1\nname = ",
    'format = 1\nextends = "historical"\nname = "x"\ntitle = "x"\ndrop_events = ["nope"]\n',
    'format = 1\nextends = "lapse-2019"\nname = "x"\ntitle = "x"\n'
    '[[agreements]]\nid = "a"\ntitle = "a"\nparties = ["JPN", "XYZ"]\n'
    'start = "2020-01-01T00:00:00"\nclasses = ["SECRET"]\n',
]
WHAT_IF = 'format = 1\nextends = "historical"\nname = "w"\ntitle = "w"\n'


def builtin_text(name: str) -> str:
    return resources.files("gsomia.scenarios").joinpath(f"{name}.toml").read_text()


def test_a_builtin_scenario_as_text_is_that_scenario() -> None:
    assert load_scenario_text(builtin_text("historical"), "upload h.toml") == load_scenario(
        "historical"
    )
    lapse = load_scenario_text(builtin_text("lapse-2019"), "upload l.toml")
    assert lapse == load_scenario("lapse-2019")


@pytest.mark.parametrize("text", BROKEN)
def test_errors_are_those_of_the_same_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadInput, match=f"^{re.escape(str(path))}") as from_file:
        load_scenario(str(path))
    with pytest.raises(BadInput, match=f"^{re.escape(str(path))}") as from_text:
        load_scenario_text(text, str(path))
    assert str(from_text.value) == str(from_file.value)


def test_only_builtins_may_be_extended(tmp_path: Path) -> None:
    base = tmp_path / "base.toml"
    base.write_text(builtin_text("historical"), encoding="utf-8")
    with pytest.raises(BadInput, match=r"^upload u\.toml\.extends: '.*' is not a built-in"):
        load_scenario_text(f'extends = "{base}"\n', "upload u.toml")
    with pytest.raises(BadInput, match=r"^upload u\.toml\.extends: expected the name"):
        load_scenario_text("extends = 3\n", "upload u.toml")
    assert load_scenario_text(WHAT_IF, "upload u.toml").name == "w"


def test_uploads_are_kept_per_session_within_bounds() -> None:
    uploads = ScenarioUploads(per_session=2, sessions=2)
    first, _ = uploads.add("s1", WHAT_IF, "a.toml")
    second, _ = uploads.add("s1", WHAT_IF, "b.toml")
    third, _ = uploads.add("s1", WHAT_IF, "c.toml")
    assert [key for key, _ in uploads.of("s1")] == [second, third]
    with pytest.raises(NotFound, match="no uploaded scenario 'upload-1' in this session"):
        uploads.get("s1", first)
    with pytest.raises(NotFound, match="no uploaded scenario 'upload-2' in this session"):
        uploads.get("s2", second)  # another session's upload is not found
    uploads.add("s2", WHAT_IF, "d.toml")
    uploads.add("s3", WHAT_IF, "e.toml")
    assert uploads.of("s1") == []  # the least recently used session went
    assert uploads.get("s3", uploads.of("s3")[0][0]).name == "w"
    uploads.forget("s3")
    assert uploads.of("s3") == []


def test_an_upload_is_refused_when_too_large_or_invalid() -> None:
    uploads = ScenarioUploads()
    with pytest.raises(BadInput, match=r"^upload big\.toml: larger than"):
        uploads.add("s", "#" * (MAX_UPLOAD_BYTES + 1), "big.toml")
    with pytest.raises(BadInput, match=r"^upload x\.toml: invalid TOML"):
        uploads.add("s", "a = ", "x.toml")
    assert uploads.of("s") == []
