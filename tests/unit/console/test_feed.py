"""How the feed names levels and summarises launches (text for people, from hostile input)."""

from __future__ import annotations

from gsomia.console.feed import content, launch_summary, level_name
from gsomia.node.stix import GSOMIA_LAUNCH_EXTENSION


def test_a_level_is_named_once_when_its_id_is_its_native_name() -> None:
    assert level_name("II", "군사II급비밀") == "II 군사II급비밀"
    assert level_name("CONFIDENTIAL", "CONFIDENTIAL") == "CONFIDENTIAL"
    assert level_name("TOP_SECRET", "TOP SECRET") == "TOP SECRET"


def test_a_launch_summary_uses_only_the_fields_of_the_right_types() -> None:
    info = {"missile": "Hwasong-15", "missile_type": "ICBM", "apogee_km": 4475, "distance_km": 950}
    assert launch_summary(info) == "Hwasong-15 (ICBM), apogee 4,475 km, range 950 km"
    assert launch_summary({"missile": 3, "apogee_km": "high", "distance_km": float("nan")}) == ""
    assert launch_summary(["not", "a", "dict"]) == ""


def test_content_keeps_every_other_property_as_text() -> None:
    shown = content(
        {
            "type": "report",
            "name": "n",
            "description": "<script>x</script>",
            "x_custom": {"a": [1, 2]},
            "extensions": {
                GSOMIA_LAUNCH_EXTENSION: {
                    "extension_type": "property-extension",
                    "apogee_km": 100,
                    "launch_point": [1.0, 2.0],
                    "odd": None,
                }
            },
        }
    )
    assert shown["description"] == "<script>x</script>"  # escaped by the template, kept here
    assert shown["others"] == [("x_custom", '{\n "a": [\n  1,\n  2\n ]\n}')]
    assert shown["launch_rows"] == [
        ("Apogee (km)", "100"),
        ("Launch point (lat, lon)", "[1.0, 2.0]"),
        ("odd", ""),
    ]


def test_other_extensions_stay_among_the_other_properties() -> None:
    other = "extension-definition--00000000-0000-4000-8000-000000000009"
    launch = {"extension_type": "property-extension", "missile": "Hwasong-15"}
    shown = content({"type": "report", "extensions": {GSOMIA_LAUNCH_EXTENSION: launch, other: 1}})
    assert shown["launch_rows"] == [("Missile", "Hwasong-15")]
    assert shown["others"] == [("extensions", f'{{\n "{other}": 1\n}}')]
    # a launch block that is not an object is no launch data: shown as it is
    odd = content({"type": "report", "extensions": {GSOMIA_LAUNCH_EXTENSION: [1]}})
    assert odd["launch_rows"] == []
    assert odd["others"] == [("extensions", f'{{\n "{GSOMIA_LAUNCH_EXTENSION}": [\n  1\n ]\n}}')]
    # the old custom property is nothing special any more
    old = content({"type": "report", "x_gsomia_launch": {"missile": "x"}})
    assert old["launch_rows"] == []
    assert [name for name, _ in old["others"]] == ["x_gsomia_launch"]
