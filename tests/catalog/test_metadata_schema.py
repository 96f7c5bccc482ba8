"""The metadata schema (SPEC section 5): types, key rules, value rules, operations,
import/export and verify. Operations run on SQLite and PostgreSQL."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.samples import write_sample

from accessio.catalog import items as item_store
from accessio.catalog.metadata_schema import (
    EmbeddingKey,
    EnumKey,
    Geospatial,
    Hint,
    MetadataSchema,
    MetadataSchemaError,
    Scalar,
    Tombstone,
    check_client_metadata,
)
from accessio.service import Accessio
from accessio.spec import Image, ImageGroup, UploadSpec

# --- the export form --------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_hint", "stored"),
    [
        ("number", "number"),
        ("varchar", "varchar"),
        ("text", "text"),
        ("boolean", "boolean"),
        ("datetime", "datetime"),
        ("uuid", "uuid"),
        ("string", "varchar"),
        ("long_string", "text"),
    ],
)
def test_each_hint_is_read_and_aliases_are_normalised(given_hint: str, stored: str) -> None:
    schema = MetadataSchema.from_json({"k": {"ty": "variant", "hint": given_hint}})
    assert schema.type_of("k") == Scalar(Hint(stored))
    assert schema.to_json() == {"k": {"ty": "variant", "hint": stored}}


def test_every_type_round_trips_through_the_export_form() -> None:
    doc = {
        "clip": {"ty": "embedding", "size": 512},
        "frames": {"ty": "variant", "hint": "number"},
        "gone": {"ty": "tombstone", "deleted_ty": None},
        "old": {"ty": "tombstone", "deleted_ty": {"ty": "enum", "values": ["a"]}},
        "site": {"ty": "geospatial"},
        "weather": {"ty": "enum", "values": ["sunny", "rain"]},
    }
    schema = MetadataSchema.from_json(doc)
    assert schema.to_json() == doc
    assert MetadataSchema.from_json(schema.to_json()) == schema
    assert schema.keys["old"] == Tombstone(EnumKey(("a",)))
    assert schema.live() == {
        "clip": EmbeddingKey(512),
        "frames": Scalar(Hint.NUMBER),
        "site": Geospatial(),
        "weather": EnumKey(("sunny", "rain")),
    }
    assert schema.embedding_keys() == {"clip": 512}
    assert (schema.type_of("old"), schema.type_of("gone"), schema.type_of("absent")) == (None, None, None)


def test_encord_older_forms_are_read_as_scalars() -> None:
    doc = {
        "a": {"ty": "number", "format": "F64"},
        "b": {"ty": "varchar", "max_length": 8192},
        "c": {"ty": "datetime", "timezone": "UTC"},
        "d": {"ty": "boolean"},
        "e": {"ty": "text"},
        "f": {"ty": "uuid"},
        "g": {"ty": "tombstone"},
        "h": {"ty": "tombstone", "previous": {"ty": "variant", "hint": "string"}},
    }
    assert MetadataSchema.from_json(doc).to_json() == {
        "a": {"ty": "variant", "hint": "number"},
        "b": {"ty": "variant", "hint": "varchar"},
        "c": {"ty": "variant", "hint": "datetime"},
        "d": {"ty": "variant", "hint": "boolean"},
        "e": {"ty": "variant", "hint": "text"},
        "f": {"ty": "variant", "hint": "uuid"},
        "g": {"ty": "tombstone", "deleted_ty": None},
        "h": {"ty": "tombstone", "deleted_ty": {"ty": "variant", "hint": "varchar"}},
    }


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        ({"ty": "variant", "hint": "integer"}, 'key "k": "integer" is not a scalar type: use one of number, varchar'),
        ({"ty": "variant", "hint": "enum"}, '"enum" is not a scalar type: enum keys have their own operation'),
        ({"ty": "variant"}, "a variant needs a hint (a scalar type)"),
        ({"ty": "variant", "hint": 1}, "hint 1 is not a scalar type"),
        ({"ty": "variant", "hint": "Number"}, '"Number" is not a scalar type'),
        ({"ty": "variant", "hint": "number", "max": 3}, "unknown field 'max'"),
        ({"ty": "user"}, '"user" is not a type'),
        ({"hint": "number"}, "null is not a type"),
        ("number", "a definition is an object"),
        ({"ty": "enum", "values": "a"}, "an enum needs a list of values"),
        ({"ty": "embedding"}, "embedding size null is not a whole number in 1..4096"),
        ({"ty": "tombstone", "deleted_ty": {"ty": "tombstone"}}, "a tombstone cannot hold a tombstone"),
        ({"ty": "tombstone", "deleted_ty": None, "previous": None}, "deleted_ty or previous, not both"),
    ],
)
def test_bad_definitions_are_refused_naming_the_key(definition: Any, message: str) -> None:
    with pytest.raises(MetadataSchemaError, match=r"^schema: key") as caught:
        MetadataSchema.from_json({"k": definition})
    assert message in caught.value.message


def test_every_problem_of_a_document_is_listed() -> None:
    doc = {"ok": {"ty": "geospatial"}, "$a": {"ty": "geospatial"}, "b": {"ty": "embedding", "size": 0}}
    with pytest.raises(MetadataSchemaError) as caught:
        MetadataSchema.from_json(doc, source="team.json")
    assert caught.value.message == "team.json: key \"$a\": keys starting with '$' are reserved (and 1 more)"
    assert caught.value.problems == (
        "key \"$a\": keys starting with '$' are reserved",
        'key "b": embedding size 0 is not a whole number in 1..4096',
    )
    with pytest.raises(MetadataSchemaError, match="a schema is a JSON object of keys, not a list"):
        MetadataSchema.from_json([])


# --- key rules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "a key must not be empty"),
        ("$encord", "keys starting with '$' are reserved"),
        ("$x", "keys starting with '$' are reserved"),
        ("a/b", "'/' is not allowed in a key"),
        ("a:b", "':' is not allowed in a key"),
        ('a"b', "'\"' is not allowed in a key"),
        ("tab\there", "'\\t' is not allowed in a key"),
        ("- _.", "a key needs at least one letter or digit"),
        ("keyframes", "the key is reserved"),
        ("k" * 256, "a key has at most 255 characters, this one 256"),
    ],
)
def test_key_rules(key: str, problem: str) -> None:
    with pytest.raises(MetadataSchemaError) as caught:
        MetadataSchema.from_json({key: {"ty": "geospatial"}})
    assert problem in caught.value.message


@pytest.mark.parametrize("key", ["frames", "Keyframes", "camera.front left", "a-b_c.d", "Höhe", "高度", "k" * 255, "7"])
def test_keys_that_follow_the_rules(key: str) -> None:
    assert MetadataSchema.from_json({key: {"ty": "geospatial"}}).type_of(key) == Geospatial()


def test_keys_are_case_sensitive() -> None:
    schema = MetadataSchema.from_json(
        {"frames": {"ty": "variant", "hint": "number"}, "Frames": {"ty": "variant", "hint": "boolean"}}
    )
    assert schema.type_of("FRAMES") is None
    assert check_client_metadata(schema, {"frames": 3, "Frames": True, "FRAMES": "x"}) is None
    assert check_client_metadata(schema, {"Frames": 3}) == (
        'clientMetadata key "Frames": expected boolean, got 3 (a number)'
    )


# --- value rules ------------------------------------------------------------------

SIZE3 = {"ty": "embedding", "size": 3}
ENUM = {"ty": "enum", "values": ["sunny", "rain"]}
GEO = {"ty": "geospatial"}


def scalar(hint: str) -> dict[str, str]:
    return {"ty": "variant", "hint": hint}


VALID = [
    (scalar("number"), 0),
    (scalar("number"), -12.5),
    (scalar("number"), 10**300),
    (scalar("varchar"), ""),
    (scalar("varchar"), "é" * 8192),
    (scalar("text"), "x" * 100_000),
    (scalar("boolean"), True),
    (scalar("boolean"), False),
    (scalar("datetime"), "2024-02-29"),
    (scalar("datetime"), "2024-02-29T10:00"),
    (scalar("datetime"), "2024-02-29T10:00:59Z"),
    (scalar("datetime"), "2024-02-29 10:00:00.123456+05:30"),
    (scalar("datetime"), "2024-02-29t10:00:00,5-0800"),
    (scalar("uuid"), "6f1c2a4e-9b7d-4c1e-8a2f-0d3b5e7c9a11"),
    (scalar("uuid"), "6F1C2A4E-9B7D-4C1E-8A2F-0D3B5E7C9A11"),
    (ENUM, "sunny"),
    (SIZE3, [1, -2.5, 0]),
    (GEO, {"latitude": 36.75, "longitude": 3.06}),
    (GEO, {"latitude": -90, "longitude": 180}),
    (GEO, {"latitude": 90.0, "longitude": -180.0}),
]

INVALID = [
    (scalar("number"), "12", '"12" (a string)'),
    (scalar("number"), True, "true (a boolean)"),
    (scalar("number"), None, "null (a null)"),
    (scalar("number"), math.nan, "got nan (not finite)"),
    (scalar("number"), math.nan, "(not finite)"),
    (scalar("number"), math.inf, "(not finite)"),
    (scalar("number"), 10**400, "(out of the range of a 64-bit float)"),
    (scalar("varchar"), "a" * 8193, "(8,193 characters, more than 8,192)"),
    (scalar("varchar"), 7, "7 (a number)"),
    (scalar("text"), ["a"], '["a"] (a list)'),
    (scalar("boolean"), 1, "1 (a number)"),
    (scalar("boolean"), "true", '"true" (a string)'),
    (scalar("datetime"), "2023-02-29", "(not a calendar date)"),
    (scalar("datetime"), "2024-13-01", "(not a calendar date)"),
    (scalar("datetime"), "2024-01-01T24:00", "(a time or offset out of range)"),
    (scalar("datetime"), "2024-01-01T10:00+25:00", "(a time or offset out of range)"),
    (scalar("datetime"), "2024-01-01x10:00", "(not an ISO 8601 date or date-time)"),
    (scalar("datetime"), "20240101", "(not an ISO 8601 date or date-time)"),
    (scalar("datetime"), "yesterday", "(not an ISO 8601 date or date-time)"),
    (scalar("datetime"), "", "(not an ISO 8601 date or date-time)"),
    (scalar("datetime"), "２０２４-01-01", "(not an ISO 8601 date or date-time)"),
    (scalar("datetime"), 1_700_000_000, "(a number)"),
    (scalar("uuid"), "6f1c2a4e9b7d4c1e8a2f0d3b5e7c9a11", "(not a UUID in 8-4-4-4-12 hex form)"),
    (scalar("uuid"), "{6f1c2a4e-9b7d-4c1e-8a2f-0d3b5e7c9a11}", "(not a UUID in 8-4-4-4-12 hex form)"),
    (scalar("uuid"), "urn:uuid:6f1c2a4e-9b7d-4c1e-8a2f-0d3b5e7c9a11", "(not a UUID in 8-4-4-4-12 hex form)"),
    (ENUM, "Sunny", '"Sunny" (not an option; options are case-sensitive)'),
    (ENUM, "snow", '"snow" (not an option)'),
    (ENUM, 1, "1 (a number)"),
    (SIZE3, [1, 2], "[1,2] (2 numbers)"),
    (SIZE3, [1, 2, 3, 4], "(4 numbers)"),
    (SIZE3, [1, 2, True], "(item 2 is a boolean)"),
    (SIZE3, [1, "2", 3], "(item 1 is a string)"),
    (SIZE3, [1, 2, math.nan], "(item 2 is not finite)"),
    (SIZE3, "1,2,3", "(a string)"),
    (GEO, {"latitude": 90.5, "longitude": 0}, "(latitude 90.5 is outside -90..90)"),
    (GEO, {"latitude": 0, "longitude": -181}, "(longitude -181 is outside -180..180)"),
    (GEO, {"latitude": 0}, "(no longitude)"),
    (GEO, {"latitude": "1", "longitude": 0}, "(latitude is a string)"),
    (GEO, {"latitude": True, "longitude": 0}, "(latitude is a boolean)"),
    (GEO, {"latitude": 1, "longitude": 2, "altitude": 3}, "(unknown key 'altitude': only latitude and longitude)"),
    (GEO, [36.7, 3.0], "(a list)"),
]


@pytest.mark.parametrize(("definition", "value"), VALID)
def test_values_that_match_their_type(definition: dict[str, Any], value: Any) -> None:
    schema = MetadataSchema.from_json({"k": definition})
    assert check_client_metadata(schema, {"k": value}) is None


@pytest.mark.parametrize(("definition", "value", "got"), INVALID)
def test_values_that_do_not_match_name_key_type_and_value(definition: dict[str, Any], value: Any, got: str) -> None:
    schema = MetadataSchema.from_json({"k": definition})
    message = check_client_metadata(schema, {"k": value})
    assert message is not None
    assert message.startswith('clientMetadata key "k": expected ')
    assert got in message


def test_messages_show_the_expected_type_and_a_truncated_value() -> None:
    schema = MetadataSchema.from_json(
        {
            "frames": scalar("number"),
            "when": scalar("datetime"),
            "clip": SIZE3,
            "site": GEO,
            "weather": {"ty": "enum", "values": list("abcdefg")},
        }
    )
    assert check_client_metadata(schema, {"frames": "12"}) == (
        'clientMetadata key "frames": expected number, got "12" (a string)'
    )
    assert check_client_metadata(schema, {"when": "soon"}) == (
        'clientMetadata key "when": expected datetime (ISO 8601), got "soon" (not an ISO 8601 date or date-time)'
    )
    assert check_client_metadata(schema, {"clip": [1.0]}) == (
        'clientMetadata key "clip": expected embedding of 3 numbers, got [1.0] (1 numbers)'
    )
    assert check_client_metadata(schema, {"site": None}) == (
        'clientMetadata key "site": expected geospatial {latitude, longitude}, got null (a null)'
    )
    assert check_client_metadata(schema, {"weather": "z"}) == (
        'clientMetadata key "weather": expected one of "a", "b", "c", "d", "e" (or 2 more), got "z" (not an option)'
    )
    long = check_client_metadata(schema, {"frames": "x" * 1000})
    assert long == f'clientMetadata key "frames": expected number, got "{"x" * 58}… (a string)'


def test_only_live_schema_keys_are_checked() -> None:
    schema = MetadataSchema.from_json(
        {
            "frames": scalar("number"),
            "old": {"ty": "tombstone", "deleted_ty": scalar("number")},
            "gone": {"ty": "tombstone", "deleted_ty": None},
        }
    )
    assert check_client_metadata(schema, {"frames": 1, "old": "x", "gone": "y", "other": {"any": ["json"]}}) is None
    assert check_client_metadata(schema, {"$encord": {"frames": "not checked here"}}) is None
    assert check_client_metadata(MetadataSchema.from_json({}), {"frames": "12"}) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
SCHEMA = MetadataSchema.from_json(
    {
        "n": scalar("number"),
        "v": scalar("varchar"),
        "b": scalar("boolean"),
        "d": scalar("datetime"),
        "u": scalar("uuid"),
        "e": ENUM,
        "m": SIZE3,
        "g": GEO,
    }
)


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)  # generation time depends on the machine
@given(st.dictionaries(st.sampled_from([*SCHEMA.keys, "free", "$encord"]), json_values, max_size=6))
def test_any_json_gets_none_or_one_message_about_a_schema_key(metadata: dict[str, Any]) -> None:
    message = check_client_metadata(SCHEMA, metadata)
    checked = {k: v for k, v in metadata.items() if k in SCHEMA.keys}
    if message is None:
        assert all(check_client_metadata(SCHEMA, {k: v}) is None for k, v in checked.items())
    else:
        first_bad = next(k for k, v in checked.items() if check_client_metadata(SCHEMA, {k: v}) is not None)
        assert message.startswith(f'clientMetadata key "{first_bad}": expected ')


valid_values = st.fixed_dictionaries(
    {
        "n": st.integers() | st.floats(allow_nan=False, allow_infinity=False),
        "v": st.text(max_size=50),
        "b": st.booleans(),
        "d": st.datetimes(timezones=st.just(UTC) | st.none()).map(datetime.isoformat) | st.dates().map(str),
        "u": st.uuids().map(str),
        "e": st.sampled_from(["sunny", "rain"]),
        "m": st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=3, max_size=3),
        "g": st.fixed_dictionaries(
            {"latitude": st.floats(-90, 90), "longitude": st.integers(-180, 180) | st.floats(-180, 180)}
        ),
    }
)


@given(valid_values)
def test_values_generated_to_the_rules_pass(metadata: dict[str, Any]) -> None:
    assert check_client_metadata(SCHEMA, metadata) is None


# --- operations -------------------------------------------------------------------


@pytest.fixture
def app(catalog_url: str) -> Iterator[Accessio]:
    with Accessio(catalog_url) as accessio:
        yield accessio


def test_a_new_catalog_has_an_empty_schema(app: Accessio) -> None:
    assert app.schema().keys == {}
    assert app.schema_export() == {}
    assert app.schema_verify() == []


def test_add_each_type_and_read_it_back(app: Accessio) -> None:
    app.schema_add_scalar("frames", "number")
    app.schema_add_scalar("title", "string")
    app.schema_add_scalar("notes", Hint.TEXT)
    app.schema_add_enum("weather", ["sunny", "rain"])
    app.schema_add_embedding("clip", 512)
    schema = app.schema_add_geospatial("site")
    assert schema == app.schema()
    assert app.schema_export() == {
        "clip": {"ty": "embedding", "size": 512},
        "frames": {"ty": "variant", "hint": "number"},
        "notes": {"ty": "variant", "hint": "text"},
        "site": {"ty": "geospatial"},
        "title": {"ty": "variant", "hint": "varchar"},
        "weather": {"ty": "enum", "values": ["sunny", "rain"]},
    }


def test_refused_keys_and_types_change_nothing(app: Accessio) -> None:
    with pytest.raises(MetadataSchemaError, match='key "keyframes": the key is reserved'):
        app.schema_add_scalar("keyframes", "number")
    with pytest.raises(MetadataSchemaError, match="keys starting with '\\$' are reserved"):
        app.schema_add_embedding("$encord", 8)
    with pytest.raises(MetadataSchemaError, match='"integer" is not a scalar type'):
        app.schema_add_scalar("frames", "integer")
    assert app.schema_export() == {}


def test_adding_a_key_again(app: Accessio) -> None:
    app.schema_add_scalar("frames", "number")
    assert app.schema_add_scalar("frames", "number").type_of("frames") == Scalar(Hint.NUMBER)  # the same: no change
    with pytest.raises(MetadataSchemaError, match='key "frames" is already defined as number: hard-delete it first'):
        app.schema_add_scalar("frames", "varchar")
    with pytest.raises(MetadataSchemaError, match='key "frames" is already defined as number'):
        app.schema_add_embedding("frames", 3)
    app.schema_add_enum("weather", ["sunny"])
    with pytest.raises(MetadataSchemaError, match='key "weather" is already defined as enum'):
        app.schema_add_enum("weather", ["rain"])
    assert app.schema().type_of("frames") == Scalar(Hint.NUMBER)


@pytest.mark.parametrize("count", [1, 255])
def test_enums_hold_1_to_255_values(app: Accessio, count: int) -> None:
    values = [f"v{n}" for n in range(count)]
    assert app.schema_add_enum("k", values).type_of("k") == EnumKey(tuple(values))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([], "an enum needs at least one value"),
        ([f"v{n}" for n in range(256)], "an enum has at most 255 values, this one would have 256"),
        (["a", "b", "a"], 'enum value "a" is given twice'),
        (["a", ""], 'enum value "" is not a non-empty string'),
        (["a", 3], "enum value 3 is not a non-empty string"),
        ("ab", "a list of strings, not one string"),
    ],
)
def test_enum_values_that_are_refused(app: Accessio, values: Any, message: str) -> None:
    with pytest.raises(MetadataSchemaError, match=message):
        app.schema_add_enum("k", values)
    assert app.schema().keys == {}


def test_enum_options_are_appended(app: Accessio) -> None:
    app.schema_add_enum("weather", ["sunny", "rain"])
    schema = app.schema_add_enum_options("weather", ["fog", "Sunny"])
    assert schema.type_of("weather") == EnumKey(("sunny", "rain", "fog", "Sunny"))
    with pytest.raises(MetadataSchemaError, match='enum value "rain" is already an option'):
        app.schema_add_enum_options("weather", ["snow", "rain"])
    with pytest.raises(MetadataSchemaError, match="an enum needs at least one value"):
        app.schema_add_enum_options("weather", [])
    with pytest.raises(MetadataSchemaError, match="at most 255 values, this one would have 256"):
        app.schema_add_enum_options("weather", [f"v{n}" for n in range(252)])
    app.schema_add_enum_options("weather", [f"v{n}" for n in range(251)])
    assert len(app.schema().keys["weather"].values) == 255  # type: ignore[union-attr]
    app.schema_add_scalar("frames", "number")
    with pytest.raises(MetadataSchemaError, match='key "frames" is number, not an enum'):
        app.schema_add_enum_options("frames", ["x"])
    with pytest.raises(MetadataSchemaError, match='key "nope" is not in the schema'):
        app.schema_add_enum_options("nope", ["x"])


@pytest.mark.parametrize("size", [1, 4096])
def test_embedding_sizes_1_to_4096(app: Accessio, size: int) -> None:
    assert app.schema_add_embedding("clip", size).embedding_keys() == {"clip": size}


@pytest.mark.parametrize("size", [0, 4097, -1, True, 1.5])
def test_embedding_sizes_outside_the_bounds(app: Accessio, size: Any) -> None:
    with pytest.raises(MetadataSchemaError, match=r"is not a whole number in 1\.\.4096"):
        app.schema_add_embedding("clip", size)


def test_soft_delete_and_restore(app: Accessio) -> None:
    app.schema_add_enum("weather", ["sunny", "rain"])
    schema = app.schema_delete("weather")
    assert schema.keys["weather"] == Tombstone(EnumKey(("sunny", "rain")))
    assert schema.type_of("weather") is None
    assert app.schema_export()["weather"] == {
        "ty": "tombstone",
        "deleted_ty": {"ty": "enum", "values": ["sunny", "rain"]},
    }
    with pytest.raises(MetadataSchemaError, match='key "weather" is already deleted'):
        app.schema_delete("weather")
    with pytest.raises(MetadataSchemaError, match='key "weather" is deleted: restore it, or hard-delete it'):
        app.schema_add_scalar("weather", "varchar")
    assert app.schema_restore("weather").type_of("weather") == EnumKey(("sunny", "rain"))
    with pytest.raises(MetadataSchemaError, match='key "weather" is not deleted'):
        app.schema_restore("weather")


def test_hard_delete_forgets_the_type(app: Accessio) -> None:
    app.schema_add_scalar("frames", "number")
    app.schema_add_embedding("clip", 4)
    app.schema_delete("frames", hard=True)
    app.schema_delete("clip")
    app.schema_delete("clip", hard=True)  # a soft delete made hard
    assert app.schema().keys == {"clip": Tombstone(None), "frames": Tombstone(None)}
    assert app.schema_export()["frames"] == {"ty": "tombstone", "deleted_ty": None}
    with pytest.raises(MetadataSchemaError, match='key "frames" was hard-deleted: its type cannot be restored'):
        app.schema_restore("frames")
    with pytest.raises(MetadataSchemaError, match='key "frames" is already deleted'):
        app.schema_delete("frames", hard=True)
    # the key may be defined anew, with any type
    assert app.schema_add_scalar("frames", "varchar").type_of("frames") == Scalar(Hint.VARCHAR)


def test_delete_and_restore_need_the_key(app: Accessio) -> None:
    with pytest.raises(MetadataSchemaError, match='key "nope" is not in the schema'):
        app.schema_delete("nope")
    with pytest.raises(MetadataSchemaError, match='key "nope" is not in the schema'):
        app.schema_restore("nope")


def test_import_replaces_the_schema(app: Accessio) -> None:
    app.schema_add_scalar("frames", "number")
    app.schema_add_scalar("dropped", "uuid")
    schema = app.schema_import(
        {
            "frames": {"ty": "variant", "hint": "string"},  # a key may change type on import
            "weather": {"ty": "enum", "values": ["sunny"]},
            "old": {"ty": "tombstone", "deleted_ty": {"ty": "geospatial"}},
        }
    )
    assert (
        app.schema_export()
        == schema.to_json()
        == {
            "frames": {"ty": "variant", "hint": "varchar"},
            "old": {"ty": "tombstone", "deleted_ty": {"ty": "geospatial"}},
            "weather": {"ty": "enum", "values": ["sunny"]},
        }
    )
    assert app.schema_restore("old").type_of("old") == Geospatial()


def test_an_invalid_import_changes_nothing(app: Accessio) -> None:
    app.schema_add_scalar("frames", "number")
    with pytest.raises(MetadataSchemaError, match=r'^team\.json: key "b": embedding size 5000'):
        app.schema_import({"a": {"ty": "geospatial"}, "b": {"ty": "embedding", "size": 5000}}, source="team.json")
    assert app.schema_export() == {"frames": {"ty": "variant", "hint": "number"}}


def test_export_imports_into_another_catalog(app: Accessio, tmp_path: Path) -> None:
    app.schema_add_scalar("frames", "number")
    app.schema_add_enum("weather", ["sunny", "rain"])
    app.schema_add_embedding("clip", 8)
    app.schema_add_geospatial("site")
    app.schema_add_scalar("gone", "text")
    app.schema_delete("gone")
    with Accessio(str(tmp_path / "other.db")) as other:
        other.schema_import(app.schema_export())
        assert other.schema() == app.schema()
        assert other.schema_export() == app.schema_export()


# --- verify -----------------------------------------------------------------------


@pytest.fixture
def registered(app: Accessio, tmp_path: Path) -> dict[str, Any]:
    """Items registered before the schema existed (so nothing checked them), by name."""
    media = tmp_path / "media"
    for n, name in enumerate(("a.jpg", "b.jpg", "c.jpg", "d.jpg")):
        write_sample(media / name, n)
    app.add_integration("media", "local", root=str(media))
    app.create_folder("cars")
    spec = UploadSpec(
        images=[
            Image(
                object_url=(media / "a.jpg").as_uri(),
                title="A",
                client_metadata={"frames": 12, "site": "x", "cam no.": "7"},
            ),
            Image(object_url=(media / "b.jpg").as_uri(), title="B", client_metadata={"frames": "12", "free": 1}),
            Image(object_url=(media / "c.jpg").as_uri(), title="C"),
        ],
        image_groups=[ImageGroup(urls=((media / "d.jpg").as_uri(),), title="G", client_metadata={"frames": 3})],
    )
    assert app.register(spec, folder="cars", integration="media").status == "DONE"
    found = {item["name"]: item for item in app.items("cars")}
    child = app.item(found["G"]["uuid"])["children"][0]
    with app.engine.begin() as conn:  # a child's metadata, as an update would store it
        item_store.replace_client_metadata(
            conn,
            [{"item_id": child["uuid"], "client_metadata": {"frames": True}, "updated_at": datetime.now(UTC)}],
        )
    found["child"] = child
    return found


def test_verify_lists_every_stored_value_that_breaks_the_schema(app: Accessio, registered: dict[str, Any]) -> None:
    assert app.schema_verify() == []  # no schema: nothing to break
    app.schema_add_scalar("frames", "number")
    app.schema_add_geospatial("site")
    app.schema_add_scalar("unused", "uuid")
    app.schema_add_scalar("cam no.", "uuid")
    child = registered["child"]
    expected = {
        (registered["A"]["uuid"], "A", "cam no.", "uuid", "7", "not a UUID in 8-4-4-4-12 hex form"),
        (registered["A"]["uuid"], "A", "site", "geospatial {latitude, longitude}", "x", "a string"),
        (registered["B"]["uuid"], "B", "frames", "number", "12", "a string"),
        (child["uuid"], child["name"], "frames", "number", True, "a boolean"),
    }
    found = app.schema_verify()
    assert {(v.item_id, v.item_name, v.key, v.expected, v.value, v.problem) for v in found} == expected
    assert [v.item_id for v in found] == sorted(v.item_id for v in found)
    b = next(v for v in found if v.item_name == "B")
    assert b.to_json() == {
        "itemId": registered["B"]["uuid"],
        "itemName": "B",
        "key": "frames",
        "expected": "number",
        "value": "12",
        "problem": "a string",
    }
    assert b.message() == f'B ({registered["B"]["uuid"]}): key "frames": expected number, got "12" (a string)'
    assert app.schema_verify(limit=2) == found[:2]
    assert app.schema_verify(limit=100) == found


def test_verify_follows_deletes_and_restores(app: Accessio, registered: dict[str, Any]) -> None:
    app.schema_add_scalar("frames", "number")
    assert len(app.schema_verify()) == 2
    app.schema_delete("frames")
    assert app.schema_verify() == []
    app.schema_restore("frames")
    assert {v.value for v in app.schema_verify()} == {"12", True}
    app.schema_delete("frames", hard=True)
    app.schema_add_scalar("frames", "varchar")
    assert {v.value for v in app.schema_verify()} == {12, 3, True}
