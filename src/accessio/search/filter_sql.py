"""Filters to SQL: a parsed filter becomes a SQLAlchemy Core condition over ``items``.

Values are always bound parameters. Names are part of the statement: a metadata
key becomes a quoted SQL string literal inside one *typed expression* per key and
type (``typed_expression``), so that a comparison and its index (``indexes.py``) are
the same expression, which is what lets SQLite and PostgreSQL use the index.

A typed expression is NULL when the key is missing or holds a value of another JSON
type, so such items never match a comparison; ``not`` turns "unknown" into "false"
first, so ``not P`` matches exactly the items ``P`` does not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from accessio.catalog.items import JSON_FIELDS
from accessio.catalog.metadata_schema import EnumKey, Hint, KeyType, MetadataSchema, Scalar
from accessio.catalog.schema import items
from accessio.search.filter_syntax import ISO_MOMENT as _ISO_MOMENT
from accessio.search.filter_syntax import (
    And,
    Compare,
    Exists,
    Field,
    Filter,
    FilterError,
    InList,
    Like,
    Literal,
    Node,
    Not,
    Or,
    literal_kind,
    moment_value,
    to_text_value,
)

PG_PREFIX = 256  # characters of a varchar value a PostgreSQL index holds (btree rows are at most ~2.7 kB)
INSTANT_FUNCTION = "accessio_instant"  # PostgreSQL: ISO 8601 text -> timestamptz or NULL (indexes.py creates it)

NUMBER, STRING, BOOLEAN, DATETIME = "number", "string", "boolean", "datetime"

# Built-in item fields under their item JSON names (SPEC section 8), and how they compare.
_NUMBER_COLUMNS = {"file_size", "width", "height", "duration", "fps", "frame_count", "num_pages", "sample_rate",
                   "bit_depth", "num_channels", "rotation"}  # fmt: skip
BUILTINS: dict[str, tuple[str, str]] = {
    "uuid": ("id", STRING),
    "itemType": ("item_type", STRING),
    "name": ("name", STRING),
    "url": ("url", STRING),
    **{name: (column, NUMBER if column in _NUMBER_COLUMNS else STRING) for column, name in JSON_FIELDS.items()},
    "jobId": ("job_id", STRING),
    "isTombstone": ("is_tombstone", BOOLEAN),
    "createdAt": ("created_at", DATETIME),
    "lastEditedAt": ("updated_at", DATETIME),
}


@dataclass(frozen=True)
class Operand:
    """What a field compares as: its SQL expression, kind and constraints."""

    label: str  # for messages: 'frames (number)'
    kind: str  # number, string, boolean or datetime
    expr: sa.ColumnElement[Any]
    dialect: str
    column: sa.Column[Any] | None = None  # a built-in's column: values bind with its type
    options: tuple[str, ...] | None = None  # an enum's values
    prefix: sa.ColumnElement[Any] | None = None  # PostgreSQL varchar: the indexed left(expr, PG_PREFIX)


def _const(value: str) -> sa.ColumnElement[str]:
    """A string constant written into the statement (quoted by SQLAlchemy), never bound:
    the statement must match the index's expression."""
    return sa.literal(value, sa.String, literal_execute=True)


def _word(value: str) -> sa.ColumnElement[str]:
    return sa.literal_column(f"'{value}'", sa.String)  # fixed words of this module only


def sqlite_path(key: str) -> str:
    if '"' in key or "\\" in key:
        raise ValueError("a key with a double quote or a backslash")
    return f'$."{key}"'


def typed_expression(dialect: str, key: str, kind: str) -> sa.ColumnElement[Any]:
    """The value of client metadata ``key`` as ``kind``, NULL when missing or of another type.

    >>> expr = typed_expression("postgresql", "frames", "number")
    >>> print(expr.compile(compile_kwargs={"render_postcompile": True}))  # doctest: +NORMALIZE_WHITESPACE
    CASE WHEN (jsonb_typeof(items.client_metadata -> 'frames') = 'number')
    THEN CAST(items.client_metadata ->> 'frames' AS NUMERIC) END
    """
    metadata = items.c.client_metadata
    if dialect == "sqlite":
        path = _const(sqlite_path(key))
        extract = sa.func.json_extract(metadata, path, type_=sa.Text)
        json_type = sa.func.json_type(metadata, path, type_=sa.Text)
        if kind == NUMBER:
            return sa.case((json_type.in_([_word("integer"), _word("real")]), sa.type_coerce(extract, sa.Float)))
        if kind == BOOLEAN:
            one, zero = sa.literal_column("1", sa.Integer), sa.literal_column("0", sa.Integer)
            return sa.case((json_type == _word("true"), one), (json_type == _word("false"), zero))
        if kind == DATETIME:
            return _sqlite_instant(extract)  # GLOB needs text: other JSON types never pass it
        return sa.case((json_type == _word("text"), extract))
    node = metadata.op("->", return_type=sa.JSON)(_const(key))
    text = metadata.op("->>", return_type=sa.Text)(_const(key))
    json_type = sa.func.jsonb_typeof(node, type_=sa.Text)
    if kind == NUMBER:
        return sa.case((json_type == _word("number"), sa.cast(text, sa.Numeric)))
    if kind == BOOLEAN:
        return sa.case((json_type == _word("boolean"), sa.cast(node, sa.Boolean)))
    if kind == DATETIME:
        instant = getattr(sa.func, INSTANT_FUNCTION)
        return sa.case((json_type == _word("string"), instant(text, type_=sa.DateTime(timezone=True))))
    return sa.collate(_pg_string(key), "C")


def _pg_string(key: str) -> sa.ColumnElement[str]:
    metadata = items.c.client_metadata
    json_type = sa.func.jsonb_typeof(metadata.op("->", return_type=sa.JSON)(_const(key)), type_=sa.Text)
    return sa.case((json_type == _word("string"), metadata.op("->>", return_type=sa.Text)(_const(key))))


def pg_prefix(key: str) -> sa.ColumnElement[str]:
    """PostgreSQL: the first ``PG_PREFIX`` characters of a string key, as its index holds them."""
    return sa.collate(sa.func.left(_pg_string(key), sa.literal_column(str(PG_PREFIX), sa.Integer), type_=sa.Text), "C")


def pg_prefixed(key_type: KeyType | None) -> bool:
    """Whether a PostgreSQL index holds a prefix of this key's values: varchar values
    reach 8,192 characters, past a btree row's limit (an enum only with long options)."""
    if isinstance(key_type, Scalar):
        return key_type.hint is Hint.VARCHAR
    if isinstance(key_type, EnumKey):
        return max(len(option.encode()) for option in key_type.values) > PG_PREFIX
    return False


def _sqlite_instant(extract: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """SQLite: ISO 8601 text as a Julian day, in every form the schema accepts (``t``, a
    comma before the fraction, ``+02`` and ``+0200`` offsets: rewritten to what
    ``julianday`` reads), NULL for anything else; ``now`` and Julian day numbers are never
    read. The common forms are read at once: the rewriting costs only the others."""
    day = sa.func.substr(extract, sa.literal_column("1", sa.Integer), sa.literal_column("10", sa.Integer))
    dated = sa.and_(
        extract.op("GLOB")(_word("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*")),
        # julianday reads 2024-02-30 as March 1st; PostgreSQL and the schema refuse it
        sa.func.date(sa.func.julianday(day)) == day,
    )
    text = sa.func.replace(sa.func.replace(extract, _word("t"), _word("T")), _word(","), _word("."), type_=sa.Text)
    long_enough = sa.func.length(text) > sa.literal_column("16", sa.Integer)
    two = sa.literal_column("2", sa.Integer)
    written = sa.case(
        (sa.and_(long_enough, text.op("GLOB")(_word("*[+-][0-9][0-9]"))), text.concat(_word(":00"))),
        (
            sa.and_(long_enough, text.op("GLOB")(_word("*[+-][0-9][0-9][0-9][0-9]"))),
            sa.func.substr(text, sa.literal_column("1", sa.Integer), sa.func.length(text) - two)
            .concat(_word(":"))
            .concat(sa.func.substr(text, -two)),
        ),
        else_=text,
    )
    read = sa.func.coalesce(sa.func.julianday(extract), sa.func.julianday(written), type_=sa.Float)
    return sa.case((dated, read))


def key_kind(key_type: KeyType | None) -> str | None:
    """The kind a schema type compares as (``None`` for keys that are not scalar)."""
    if isinstance(key_type, EnumKey):
        return STRING
    if isinstance(key_type, Scalar):
        return {Hint.NUMBER: NUMBER, Hint.BOOLEAN: BOOLEAN, Hint.DATETIME: DATETIME}.get(key_type.hint, STRING)
    return None


def _type_name(key_type: KeyType | None) -> str:
    if isinstance(key_type, EnumKey):
        return "enum"
    if isinstance(key_type, Scalar):
        return key_type.hint.value
    return type(key_type).__name__.replace("Key", "").lower()


class Compiler:
    """Compiles filters and resolves sort keys for one dialect and one schema; errors
    name ``option`` and point into ``text``."""

    def __init__(
        self, dialect: str, schema: MetadataSchema, text: str = "", option: str = "where", *, indexed: bool = True
    ) -> None:
        self.dialect = dialect
        self.schema = schema
        self.text = text
        self.option = option
        self.indexed = indexed  # False: SQLite may not use an index for these conditions (see listing.py)

    def error(self, reason: str, at: int) -> FilterError:
        return FilterError(reason, text=self.text, offset=at, option=self.option)

    # fields

    def builtin(self, subject: Field) -> Operand | None:
        if subject.quoted or subject.name not in BUILTINS:
            return None
        column_name, kind = BUILTINS[subject.name]
        column = items.c[column_name]
        expr: sa.ColumnElement[Any] = column
        if kind == STRING and self.dialect == "postgresql":
            expr = sa.collate(column, "C")  # byte order, as SQLite compares
        return Operand(f"{subject.name} ({kind})", kind, self.steer(expr), self.dialect, column=column)

    def typed(self, subject: Field) -> Operand | None:
        """A schema key's operand (``None`` when the key is not in the schema)."""
        key_type = self.schema.type_of(subject.name)
        if key_type is None:
            return None
        kind = key_kind(key_type)
        if kind is None:
            raise self.error(f"{subject.name} is {_type_name(key_type)}: only scalar and enum keys compare and sort",
                             subject.at)  # fmt: skip
        return self.untyped(subject, kind, key_type)

    def untyped(self, subject: Field, kind: str, key_type: KeyType | None = None) -> Operand:
        try:
            expr = typed_expression(self.dialect, subject.name, kind)
        except ValueError as exc:
            raise self.error(f"{subject.name!r} cannot be filtered: {exc}", subject.at) from None
        label = f"{subject.name} ({_type_name(key_type)})" if key_type is not None else subject.name
        options = key_type.values if isinstance(key_type, EnumKey) else None
        prefix = pg_prefix(subject.name) if self.dialect == "postgresql" and pg_prefixed(key_type) else None
        return Operand(label, kind, self.steer(expr), self.dialect, options=options, prefix=prefix)

    def steer(self, expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
        """``expr``, or ``+expr`` where no index may serve it: SQLite's documented way
        to keep the planner off an index (the value is the same)."""
        return expr if self.indexed else unindexed(expr)

    def operand(self, subject: Field, literals: Sequence[Literal]) -> Operand:
        """A field's operand; a key outside the schema compares as its literals' kind."""
        found = self.builtin(subject) or self.typed(subject)
        if found is not None:
            return found
        kinds = {_literal_kind(literal) for literal in literals}
        if len(kinds) > 1:
            raise self.error(f"the values for {subject.name} mix {' and '.join(sorted(kinds))} values: use one kind",
                             literals[0].at)  # fmt: skip
        return self.untyped(subject, kinds.pop())

    def sort_operand(self, subject: Field) -> Operand:
        """What a sort key orders by: a built-in field or a scalar or enum schema key."""
        found = self.builtin(subject) or self.typed(subject)
        if found is None:
            raise self.error(f"{subject.name} is not a built-in field nor in the metadata schema: "
                             "sorting needs a key of known type (add it to the schema)", subject.at)  # fmt: skip
        return found

    # conditions

    def compile(self, node: Node) -> sa.ColumnElement[bool]:
        match node:
            case And(operands):
                return sa.and_(*(self.compile(operand) for operand in operands))
            case Or(operands):
                return sa.or_(*(self.compile(operand) for operand in operands))
            case Not(operand):
                # unknown (a missing key) is false first, so "not P" is every item P misses
                return sa.not_(sa.func.coalesce(self.compile(operand), sa.false(), type_=sa.Boolean))
            case Compare(subject, op, value):
                return self.comparison(subject, op, value)
            case InList(subject, values):
                return self.membership(subject, values)
            case Like(subject, pattern):
                return self.like(subject, pattern)
            case Exists(subject):
                return self.exists(subject)

    def comparison(self, subject: Field, op: str, value: Literal) -> sa.ColumnElement[bool]:
        operand = self.operand(subject, [value])
        bound = self.bind(operand, value)
        if operand.kind == BOOLEAN and op not in ("=", "!="):
            raise self.error(f"{operand.label} is a boolean: compare it with = or !=", subject.at)
        if op in ("=", "!="):
            self.check_option(operand, value)
        expr = operand.expr
        compared = {
            "=": expr == bound, "!=": expr != bound, "<": expr < bound,
            "<=": expr <= bound, ">": expr > bound, ">=": expr >= bound,
        }[op]  # fmt: skip
        if operand.prefix is None or op == "!=":
            return compared
        # the index holds a prefix: add the condition on it that the comparison implies
        assert isinstance(value.value, str)
        head = sa.bindparam(None, value.value[:PG_PREFIX], sa.String)
        prefix = operand.prefix
        near = prefix == head if op == "=" else prefix <= head if op in ("<", "<=") else prefix >= head
        return sa.and_(near, compared)

    def membership(self, subject: Field, values: Sequence[Literal]) -> sa.ColumnElement[bool]:
        operand = self.operand(subject, values)
        bound = [self.bind(operand, value) for value in values]
        for value in values:
            self.check_option(operand, value)
        matched = operand.expr.in_(bound)
        if operand.prefix is None:
            return matched
        heads = sorted({str(value.value)[:PG_PREFIX] for value in values})
        return sa.and_(operand.prefix.in_([sa.bindparam(None, head, sa.String) for head in heads]), matched)

    def like(self, subject: Field, pattern: Literal) -> sa.ColumnElement[bool]:
        operand = self.operand(subject, [pattern])
        if operand.kind != STRING:
            raise self.error(f"like needs a text field; {operand.label} is not one", subject.at)
        text = pattern.value
        assert isinstance(text, str)
        if re.search(r"\\(?![%_\\])", re.sub(r"\\\\", "", text)):
            raise self.error('in a like pattern a backslash escapes only %, _ or itself ("100\\\\%")', pattern.at)
        pattern_value = sa.bindparam(None, text, sa.String)
        if self.dialect == "sqlite":
            # SQLite's LIKE ignores the case of A-Z only; so does ILIKE under the "C"
            # collation every PostgreSQL string operand has here
            return operand.expr.like(pattern_value, escape="\\")
        return operand.expr.ilike(pattern_value, escape="\\")

    def exists(self, subject: Field) -> sa.ColumnElement[bool]:
        found = self.builtin(subject)
        if found is not None:
            return found.expr.is_not(None)
        key_type = self.schema.type_of(subject.name)
        if key_kind(key_type) is not None:
            operand = self.typed(subject)
            assert operand is not None
            return (operand.prefix if operand.prefix is not None else operand.expr).is_not(None)
        metadata = items.c.client_metadata
        try:
            if self.dialect == "sqlite":
                json_type = sa.func.json_type(metadata, _const(sqlite_path(subject.name)), type_=sa.Text)
            else:
                node = metadata.op("->", return_type=sa.JSON)(_const(subject.name))
                json_type = sa.func.jsonb_typeof(node, type_=sa.Text)
        except ValueError as exc:
            raise self.error(f"{subject.name!r} cannot be filtered: {exc}", subject.at) from None
        return json_type != _word("null")

    # values

    def check_option(self, operand: Operand, value: Literal) -> None:
        if operand.options is not None and value.value not in operand.options:
            listed = ", ".join(to_text_value(option) for option in operand.options[:10])
            more = ", ..." if len(operand.options) > 10 else ""
            raise self.error(f"{operand.label}: {_shown(value)} is not one of its values ({listed}{more})", value.at)

    def bind(self, operand: Operand, value: Literal) -> sa.ColumnElement[Any]:
        """``value`` as a bound parameter of the operand's kind (a wrong kind is an error)."""
        kind = _literal_kind(value)
        moment: datetime | None = None
        if operand.kind == DATETIME and kind == STRING:
            assert isinstance(value.value, str)
            moment = _parse_moment(value.value)  # "2024-01-01" works where 2024-01-01 does
            kind = DATETIME if moment is not None else kind
        if kind != operand.kind:
            raise self.error(f"{operand.label} compares with {_ARTICLE[operand.kind]}, "
                             f"not {literal_kind(value.value)} {_shown(value)}", value.at)  # fmt: skip
        if kind == DATETIME:
            moment = moment or _instant(value.value)
        return bind_value(operand, moment if moment is not None else value.value)


def unindexed(expr: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    return sa.sql.elements.UnaryExpression(expr, operator=sa.sql.operators.custom_op("+"), type_=expr.type)


def bind_value(operand: Operand, value: Any) -> sa.ColumnElement[Any]:
    """A Python value (a literal's, or a sort value from a cursor) bound to compare with ``operand``."""
    postgres = operand.dialect == "postgresql"
    if operand.column is not None:
        if operand.kind == NUMBER:
            return sa.bindparam(None, value)  # the driver's own type: 1.5 stays 1.5 next to an integer column
        return sa.bindparam(None, value, type_=operand.column.type)
    if operand.kind == NUMBER:
        if postgres:
            exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            return sa.bindparam(None, exact, sa.Numeric)
        return sa.bindparam(None, value)
    if operand.kind == BOOLEAN:
        return sa.bindparam(None, bool(value), sa.Boolean) if postgres else sa.bindparam(None, int(value))
    if operand.kind == DATETIME:
        if isinstance(value, float):  # SQLite: a Julian day read back for a cursor
            return sa.bindparam(None, value, sa.Float)
        assert isinstance(value, datetime)
        if postgres:
            return sa.bindparam(None, value, sa.DateTime(timezone=True))
        naive = value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")
        return sa.func.julianday(sa.bindparam(None, naive, sa.String), type_=sa.Float)
    return sa.bindparam(None, value, sa.String)


_ARTICLE = {NUMBER: "a number", STRING: 'a "string"', BOOLEAN: "true or false", DATETIME: "a date or date-time"}


def _literal_kind(value: Literal) -> str:
    kind = value.kind
    return DATETIME if kind in ("date", "datetime") else kind


def _shown(value: Literal) -> str:
    return to_text_value(value.value)


def _instant(value: object) -> datetime:
    """A date or datetime literal as an instant (a date is its midnight, UTC)."""
    if isinstance(value, datetime):
        return value
    assert isinstance(value, date)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def _parse_moment(text: str) -> datetime | None:
    match = _ISO_MOMENT.fullmatch(text)
    if match is None:
        return None
    try:
        return _instant(moment_value(match))
    except ValueError:
        return None


def compile_filter(source: Filter, *, dialect: str, schema: MetadataSchema) -> sa.ColumnElement[bool]:
    """A parsed filter as a condition on ``items`` for ``dialect`` ("sqlite" or "postgresql").

    >>> from accessio.search.filter_syntax import parse_filter
    >>> condition = compile_filter(parse_filter("width > 100"), dialect="sqlite", schema=MetadataSchema.EMPTY)
    >>> str(condition.compile())
    'items.width > :param_1'
    """
    return Compiler(dialect, schema, source.text).compile(source.root)
