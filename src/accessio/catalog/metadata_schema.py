"""The metadata schema: one per catalog, a type for each client metadata key.

>>> schema = MetadataSchema.from_json({"frames": {"ty": "variant", "hint": "number"}})
>>> check_client_metadata(schema, {"frames": "12"})
'clientMetadata key "frames": expected number, got "12" (a string)'

Definitions are stored one row per key, in the export form (``{"ty": ...}``, the
JSON Encord's SDK reads and writes). Every operation runs in the caller's
transaction and raises :class:`MetadataSchemaError` for a request it refuses.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

import sqlalchemy as sa

from accessio.catalog import metadata_values as rules
from accessio.catalog.schema import items, metadata_schema
from accessio.errors import AccessioError

ENCORD_KEY = "$encord"  # video frame metadata and embeddings; checked where frames are read


class MetadataSchemaError(AccessioError):
    """A schema change or a schema document that breaks the schema's rules."""

    status = 400
    code = "metadata_schema"

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[str, ...] = tuple(problems) or (message,)


class Hint(StrEnum):
    """The scalar types."""

    NUMBER = "number"
    VARCHAR = "varchar"
    TEXT = "text"
    BOOLEAN = "boolean"
    DATETIME = "datetime"
    UUID = "uuid"


HINT_ALIASES = {"string": Hint.VARCHAR, "long_string": Hint.TEXT}


@dataclass(frozen=True, slots=True)
class Scalar:
    hint: Hint


@dataclass(frozen=True, slots=True)
class EnumKey:
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EmbeddingKey:
    size: int


@dataclass(frozen=True, slots=True)
class Geospatial:
    pass


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A deleted key: ``previous`` is its type (a soft delete, restorable) or ``None``
    (a hard delete: the type is forgotten and the key may be defined anew)."""

    previous: KeyType | None


KeyType = Scalar | EnumKey | EmbeddingKey | Geospatial | Tombstone


def parse_hint(hint: Hint | str) -> Hint:
    """A scalar type from its name or alias (``string`` → varchar, ``long_string`` → text)."""
    if isinstance(hint, Hint):
        return hint
    if hint in HINT_ALIASES:
        return HINT_ALIASES[hint]
    try:
        return Hint(hint)
    except ValueError:
        pass
    names = ", ".join(h.value for h in Hint)
    if hint in ("enum", "embedding", "geospatial"):
        raise MetadataSchemaError(f"{rules.shown(hint)} is not a scalar type: {hint} keys have their own operation")
    raise MetadataSchemaError(
        f"{rules.shown(hint)} is not a scalar type: use one of {names} (string and long_string are aliases)"
    )


def check_key(key: str) -> None:
    """Raise :class:`MetadataSchemaError` when ``key`` breaks the key rules."""
    problem = rules.key_problem(key)
    if problem is not None:
        raise MetadataSchemaError(f"key {_quoted(key)}: {problem}")


def enum_values(values: Sequence[str], *, before: Sequence[str] = ()) -> tuple[str, ...]:
    """Options after checking them: non-empty distinct strings, 1 to 255 in all."""
    if isinstance(values, str):
        raise MetadataSchemaError("enum values must be a list of strings, not one string")
    if not values:
        raise MetadataSchemaError("an enum needs at least one value")
    for value in values:
        if not isinstance(value, str) or not value:
            raise MetadataSchemaError(f"enum value {rules.shown(value)} is not a non-empty string")
    seen = set(before)
    for value in values:
        if value in seen:
            again = "is already an option" if value in before else "is given twice"
            raise MetadataSchemaError(f"enum value {rules.shown(value)} {again}")
        seen.add(value)
    total = len(before) + len(values)
    if total > rules.ENUM_MAX:
        raise MetadataSchemaError(f"an enum has at most {rules.ENUM_MAX} values, this one would have {total}")
    return (*before, *values)


def embedding_size(size: object) -> int:
    """An embedding size after checking it: a whole number from 1 to 4096."""
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= rules.EMBEDDING_MAX:
        raise MetadataSchemaError(
            f"embedding size {rules.shown(size)} is not a whole number in 1..{rules.EMBEDDING_MAX}"
        )
    return size


def describe(key_type: KeyType) -> str:
    """What a value of this type must be, as messages say it."""
    match key_type:
        case Scalar(hint):
            return "datetime (ISO 8601)" if hint is Hint.DATETIME else hint.value
        case EnumKey(values):
            listed = ", ".join(rules.shown(v) for v in values[:5])
            return f"one of {listed}" + (f" (or {len(values) - 5} more)" if len(values) > 5 else "")
        case EmbeddingKey(size):
            return f"embedding of {size} numbers"
        case Geospatial():
            return "geospatial {latitude, longitude}"
        case Tombstone():
            return "deleted"


def value_problem(key_type: KeyType, value: Any) -> str | None:
    """Why ``value`` does not match ``key_type`` (``None`` when it does)."""
    match key_type:
        case Scalar(hint):
            return rules.SCALAR_CHECKS[hint.value](value)
        case EnumKey(values):
            return rules.enum_problem(values, value)
        case EmbeddingKey(size):
            return rules.embedding_problem(size, value)
        case Geospatial():
            return rules.geospatial_problem(value)
        case Tombstone():
            return None


def type_json(key_type: KeyType) -> dict[str, Any]:
    """One key's definition in the export form."""
    match key_type:
        case Scalar(hint):
            return {"ty": "variant", "hint": hint.value}
        case EnumKey(values):
            return {"ty": "enum", "values": list(values)}
        case EmbeddingKey(size):
            return {"ty": "embedding", "size": size}
        case Geospatial():
            return {"ty": "geospatial"}
        case Tombstone(previous):
            return {"ty": "tombstone", "deleted_ty": None if previous is None else type_json(previous)}


# Encord's older per-type forms, read as the matching scalar; their options are ignored.
_LEGACY_SCALARS = {
    "number": (Hint.NUMBER, {"format"}),
    "boolean": (Hint.BOOLEAN, set()),
    "varchar": (Hint.VARCHAR, {"max_length"}),
    "text": (Hint.TEXT, set()),
    "datetime": (Hint.DATETIME, {"timezone"}),
    "uuid": (Hint.UUID, set()),
}


def _fields(definition: Mapping[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(definition) - allowed - {"ty"})
    if extra:
        raise MetadataSchemaError(f"unknown field {extra[0]!r}")


def parse_type(definition: Any, *, in_tombstone: bool = False) -> KeyType:
    """One key's definition from the export form (aliases normalised)."""
    if not isinstance(definition, Mapping):
        raise MetadataSchemaError(f'a definition is an object like {{"ty": "enum", ...}}, not {rules.kind(definition)}')
    ty = definition.get("ty")
    if ty == "variant":
        _fields(definition, {"hint"})
        if "hint" not in definition:
            raise MetadataSchemaError("a variant needs a hint (a scalar type)")
        hint = definition["hint"]
        if not isinstance(hint, str):
            raise MetadataSchemaError(f"hint {rules.shown(hint)} is not a scalar type")
        return Scalar(parse_hint(hint))
    if ty in _LEGACY_SCALARS:
        hint, options = _LEGACY_SCALARS[ty]
        _fields(definition, options)
        return Scalar(hint)
    if ty == "enum":
        _fields(definition, {"values"})
        values = definition.get("values")
        if not isinstance(values, list):
            raise MetadataSchemaError("an enum needs a list of values")
        return EnumKey(enum_values(values))
    if ty == "embedding":
        _fields(definition, {"size", "api"})  # Encord's SDK sends "api": null
        if definition.get("api") is not None:
            raise MetadataSchemaError("embedding APIs (an embedding key's api) are not supported; send api: null")
        return EmbeddingKey(embedding_size(definition.get("size")))
    if ty == "geospatial":
        _fields(definition, set())
        return Geospatial()
    if ty == "tombstone" and not in_tombstone:
        _fields(definition, {"deleted_ty", "previous"})
        if "deleted_ty" in definition and "previous" in definition:
            raise MetadataSchemaError("a tombstone has deleted_ty or previous, not both")
        previous = definition.get("deleted_ty", definition.get("previous"))
        return Tombstone(None if previous is None else parse_type(previous, in_tombstone=True))
    if ty == "tombstone":
        raise MetadataSchemaError("a tombstone cannot hold a tombstone")
    raise MetadataSchemaError(f"{rules.shown(ty)} is not a type: use variant, enum, embedding, geospatial or tombstone")


@dataclass(frozen=True)
class MetadataSchema:
    """The schema of a catalog: every key's type, tombstones included."""

    keys: Mapping[str, KeyType]
    EMPTY: ClassVar[MetadataSchema]

    def type_of(self, key: str) -> KeyType | None:
        """The live type of ``key``: ``None`` when it is not in the schema or is deleted."""
        found = self.keys.get(key)
        return None if found is None or isinstance(found, Tombstone) else found

    def live(self) -> dict[str, KeyType]:
        """Every key that is not deleted, with its type."""
        return {k: t for k, t in self.keys.items() if not isinstance(t, Tombstone)}

    def embedding_keys(self) -> dict[str, int]:
        """Live embedding keys and their sizes."""
        return {k: t.size for k, t in self.keys.items() if isinstance(t, EmbeddingKey)}

    def to_json(self) -> dict[str, dict[str, Any]]:
        """The export form, keys sorted: ``{"frames": {"ty": "variant", "hint": "number"}}``."""
        return {key: type_json(self.keys[key]) for key in sorted(self.keys)}

    @classmethod
    def from_json(cls, doc: Any, *, source: str = "schema") -> MetadataSchema:
        """A schema from its export form; every problem is collected, the message names the first."""
        if not isinstance(doc, Mapping):
            raise MetadataSchemaError(f"{source}: a schema is a JSON object of keys, not {rules.kind(doc)}")
        parsed: dict[str, KeyType] = {}
        problems: list[str] = []
        for key, definition in doc.items():
            problem = rules.key_problem(key)
            if problem is not None:
                problems.append(f"key {rules.shown(key)}: {problem}")
                continue
            try:
                parsed[key] = parse_type(definition)
            except MetadataSchemaError as exc:
                problems.append(f"key {rules.shown(key)}: {exc.message}")
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise MetadataSchemaError(f"{source}: {problems[0]}{more}", problems)
        return cls(types.MappingProxyType(dict(sorted(parsed.items()))))


MetadataSchema.EMPTY = MetadataSchema(types.MappingProxyType({}))


def check_client_metadata(schema: MetadataSchema, metadata: Mapping[str, Any]) -> str | None:
    """``None`` when every value under a live schema key matches its type, else one
    message naming the key, the type and the value. Keys not in the schema (and
    ``$encord``) are not checked."""
    for key, value in metadata.items():
        key_type = schema.type_of(key) if key != ENCORD_KEY else None
        if key_type is None:
            continue
        problem = value_problem(key_type, value)
        if problem is not None:
            got = f"got {rules.shown(value)} ({problem})"
            return f"clientMetadata key {_quoted(key)}: expected {describe(key_type)}, {got}"
    return None


def _quoted(key: str) -> str:
    return json.dumps(key, ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Violation:
    """A stored client metadata value that does not match its key's type."""

    item_id: str
    item_name: str
    key: str
    expected: str
    value: Any
    problem: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "itemId": self.item_id,
            "itemName": self.item_name,
            "key": self.key,
            "expected": self.expected,
            "value": self.value,
            "problem": self.problem,
        }

    def message(self) -> str:
        """One line: ``cars/a.jpg (6f1c...): key "frames": expected number, got "12" (a string)``."""
        got = f"got {rules.shown(self.value)} ({self.problem})"
        return f"{self.item_name} ({self.item_id}): key {_quoted(self.key)}: expected {self.expected}, {got}"


_PAGE = 2000


def violations(
    conn: sa.Connection,
    schema: MetadataSchema,
    *,
    limit: int | None = None,
    condition: sa.ColumnElement[bool] | None = None,
) -> list[Violation]:
    """Every stored client metadata value (items and their children) that breaks the
    schema, in item id order, keys in name order; at most ``limit``; only items that
    meet ``condition`` (an access scope) when given."""
    live = schema.live()
    found: list[Violation] = []
    if not live or (limit is not None and limit <= 0):
        return found
    for item_id, name, metadata in _items_with_keys(conn, sorted(live), condition):
        if not isinstance(metadata, Mapping):
            continue
        for key in sorted(k for k in metadata if k in live):
            problem = value_problem(live[key], metadata[key])
            if problem is not None:
                found.append(Violation(item_id, name, key, describe(live[key]), metadata[key], problem))
                if limit is not None and len(found) >= limit:
                    return found
    return found


def _items_with_keys(
    conn: sa.Connection, keys: list[str], condition: sa.ColumnElement[bool] | None = None
) -> Iterator[tuple[str, str, Any]]:
    """Items whose client metadata holds one of ``keys``, a page at a time in id order."""
    metadata = items.c.client_metadata
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql  # noqa: PLC0415 - loaded with a PostgreSQL catalog only

        holds: sa.ColumnElement[bool] = metadata.op("?|", return_type=sa.Boolean)(
            sa.bindparam("keys", keys, type_=postgresql.ARRAY(sa.Text))
        )
    else:
        # one expression for any number of keys (an OR per key would meet SQLite's depth limit)
        wanted = sa.func.json_each(sa.bindparam("keys", json.dumps(keys))).table_valued("value")
        member = sa.func.json_each(metadata).table_valued("key")
        holds = sa.exists().where(member.c.key.in_(sa.select(wanted.c.value)))
    query = sa.select(items.c.id, items.c.name, metadata).where(holds, items.c.is_tombstone.is_(sa.false()))
    if condition is not None:
        query = query.where(condition)
    after = ""
    while True:
        rows = conn.execute(query.where(items.c.id > after).order_by(items.c.id).limit(_PAGE)).all()
        for row in rows:
            yield row.id, row.name, row.client_metadata
        if len(rows) < _PAGE:
            return
        after = rows[-1].id


# Reading and writing the schema


def load(conn: sa.Connection) -> MetadataSchema:
    """The catalog's schema (empty when no key was ever added)."""
    rows = conn.execute(sa.select(metadata_schema.c.key, metadata_schema.c.definition)).all()
    if not rows:
        return MetadataSchema.EMPTY
    return MetadataSchema.from_json({row.key: row.definition for row in rows}, source="the catalog's metadata schema")


def export(conn: sa.Connection) -> dict[str, dict[str, Any]]:
    """The schema in its export form, ready for :func:`import_schema` (here or in another catalog)."""
    return load(conn).to_json()


def _lock(conn: sa.Connection) -> None:
    """Serialise schema changes, so that a read-then-write never loses another's write."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('accessio.metadata_schema'))"))
    else:
        # a write statement takes SQLite's write lock for the rest of the transaction
        conn.execute(metadata_schema.update().where(sa.false()).values(key=metadata_schema.c.key))


def _current(conn: sa.Connection, key: str) -> KeyType | None:
    definition = conn.execute(
        sa.select(metadata_schema.c.definition).where(metadata_schema.c.key == key)
    ).scalar_one_or_none()
    return None if definition is None else parse_type(definition)


def _put(conn: sa.Connection, key: str, key_type: KeyType, *, exists: bool) -> None:
    values = {"definition": type_json(key_type), "updated_at": datetime.now(UTC)}
    if exists:
        conn.execute(metadata_schema.update().where(metadata_schema.c.key == key).values(**values))
    else:
        conn.execute(metadata_schema.insert().values(key=key, **values))


def _add(conn: sa.Connection, key: str, key_type: KeyType) -> None:
    check_key(key)
    _lock(conn)
    current = _current(conn, key)
    if current == key_type:
        return  # adding what is there changes nothing
    if isinstance(current, Tombstone) and current.previous is not None:
        raise MetadataSchemaError(f"key {_quoted(key)} is deleted: restore it, or hard-delete it to give it a new type")
    if current is not None and not isinstance(current, Tombstone):
        raise MetadataSchemaError(
            f"key {_quoted(key)} is already defined as {_name(current)}: hard-delete it first to give it a new type"
        )
    _put(conn, key, key_type, exists=current is not None)


def _name(key_type: KeyType) -> str:
    match key_type:
        case Scalar(hint):
            return hint.value
        case EnumKey():
            return "enum"
        case EmbeddingKey(size):
            return f"embedding (size {size})"
        case Geospatial():
            return "geospatial"
        case Tombstone():
            return "deleted"


def add_scalar(conn: sa.Connection, key: str, hint: Hint | str) -> None:
    """Give ``key`` a scalar type (``string`` and ``long_string`` are stored as varchar and text)."""
    _add(conn, key, Scalar(parse_hint(hint)))


def add_enum(conn: sa.Connection, key: str, values: Sequence[str]) -> None:
    """Make ``key`` an enum of 1 to 255 distinct non-empty strings, in the order given."""
    _add(conn, key, EnumKey(enum_values(values)))


def add_enum_options(conn: sa.Connection, key: str, values: Sequence[str]) -> None:
    """Append options to an enum key; an option it has already is refused."""
    check_key(key)
    _lock(conn)
    current = _current(conn, key)
    if not isinstance(current, EnumKey):
        state = "not in the schema" if current is None else f"{_name(current)}, not an enum"
        raise MetadataSchemaError(f"key {_quoted(key)} is {state}")
    _put(conn, key, EnumKey(enum_values(values, before=current.values)), exists=True)


def add_embedding(conn: sa.Connection, key: str, size: int) -> None:
    """Make ``key`` an embedding of ``size`` numbers (1 to 4096)."""
    _add(conn, key, EmbeddingKey(embedding_size(size)))


def add_geospatial(conn: sa.Connection, key: str) -> None:
    """Make ``key`` a position: ``{"latitude": -90..90, "longitude": -180..180}``."""
    _add(conn, key, Geospatial())


def delete(conn: sa.Connection, key: str, *, hard: bool = False) -> None:
    """Delete ``key``: soft keeps its type for :func:`restore`; hard forgets it (a soft
    delete can be made hard later)."""
    check_key(key)
    _lock(conn)
    current = _current(conn, key)
    if current is None:
        raise MetadataSchemaError(f"key {_quoted(key)} is not in the schema")
    if isinstance(current, Tombstone) and (current.previous is None or not hard):
        raise MetadataSchemaError(f"key {_quoted(key)} is already deleted")
    previous = None if hard else current
    _put(conn, key, Tombstone(previous), exists=True)


def restore(conn: sa.Connection, key: str) -> None:
    """Bring back the type of a soft-deleted key."""
    check_key(key)
    _lock(conn)
    current = _current(conn, key)
    if not isinstance(current, Tombstone):
        state = "not in the schema" if current is None else "not deleted"
        raise MetadataSchemaError(f"key {_quoted(key)} is {state}")
    if current.previous is None:
        raise MetadataSchemaError(f"key {_quoted(key)} was hard-deleted: its type cannot be restored")
    _put(conn, key, current.previous, exists=True)


def import_schema(conn: sa.Connection, doc: Any, *, source: str = "schema") -> MetadataSchema:
    """Replace the whole schema with ``doc`` (the export form), after checking all of it.

    Keys left out of ``doc`` leave the schema; keys may change type. Nothing is
    written when any key is invalid.
    """
    schema = MetadataSchema.from_json(doc, source=source)
    _lock(conn)
    conn.execute(metadata_schema.delete())
    now = datetime.now(UTC)
    rows = [{"key": k, "definition": type_json(t), "updated_at": now} for k, t in schema.keys.items()]
    if rows:
        conn.execute(metadata_schema.insert(), rows)
    return schema
