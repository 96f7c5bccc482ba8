"""Listing a folder's items: a filter, a sort on any scalar field, keyset paging.

>>> sunny = 'weather = "sunny"'
>>> page = query_items(conn, folder_id, where=sunny, sort="frames")  # doctest: +SKIP
>>> more = query_items(conn, folder_id, where=sunny, sort="frames", after=page.next_cursor)  # doctest: +SKIP

Pages follow ``(sort value, id)``: every item is listed exactly once across pages
even while items are added, and each page costs the same however deep it is. Items
without a value for the sort key come last, in both directions: the listing walks the
items with a value first (phase 0), then those without (phase 1), each in an order an
index can give.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import msgspec
import sqlalchemy as sa

from accessio.catalog import metadata_schema
from accessio.catalog.metadata_schema import MetadataSchema
from accessio.catalog.schema import items
from accessio.search.filter_sql import BUILTINS, Compiler, Operand, bind_value, unindexed
from accessio.search.filter_syntax import (
    And,
    Compare,
    Field,
    Filter,
    FilterError,
    InList,
    parse_field,
    parse_filter,
    to_text_field,
)
from accessio.search.indexes import NAME_INDEX, existing_indexes, key_index

DEFAULT_SORT = "name"
_CURSOR_VERSION = 1


@dataclass(frozen=True)
class Page:
    """One page of items (rows of ``items``) and the cursor of the next (``None`` at the end)."""

    rows: list[Any]
    next_cursor: str | None


@dataclass(frozen=True)
class _Sort:
    key: str  # the sort key as a filter writes it: cursors carry it
    operand: Operand
    nullable: bool
    index: str | None  # the index that holds the sort's values in order, if one is made for it


def query_items(
    conn: sa.Connection,
    folder_id: str | None,
    *,
    where: str | None = None,
    sort: str | None = None,
    desc: bool = False,
    limit: int = 100,
    after: str | None = None,
    item_type: str | None = None,
    schema: MetadataSchema | None = None,
    conditions: Sequence[sa.ColumnElement[bool]] = (),
    columns: Sequence[sa.ColumnElement[Any]] | None = None,
) -> Page:
    """The top-level items of a folder that match ``where``, ordered by ``sort`` (the
    item name by default; ties by id), ``limit`` at a time from the cursor ``after``.
    ``folder_id`` ``None`` lists the items of any folder; ``conditions`` are more
    conditions on ``items`` (an access scope, a set of folders, item types);
    ``columns`` what each row holds (every column of ``items`` by default; ``id`` is
    always there, and ``sort_value``). Tombstones are left out unless ``where`` names
    ``isTombstone`` (``isTombstone = true`` lists them).

    Raises :class:`FilterError` for a filter, sort key or cursor that cannot be used.
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    dialect = conn.dialect.name
    if schema is None:
        schema = metadata_schema.load(conn) if where or sort else MetadataSchema.EMPTY
    conditions = [*conditions, items.c.parent_item_id.is_(None)]
    source = parse_filter(where) if where is not None and where.strip() else None
    if source is None or not source.names("isTombstone"):  # tombstones (deleted objects of synced folders)
        conditions.append(items.c.is_tombstone.is_(sa.false()))
    if folder_id is not None:
        conditions.append(items.c.folder_id == folder_id)
    if item_type:
        conditions.append(items.c.item_type == item_type)
    order = sort_order(dialect, schema, sort)
    phase, value, last_id = (0, None, None) if after is None else _decode(after, order, desc)

    def leading(sort_expr: sa.ColumnElement[Any]) -> list[sa.ColumnElement[bool]]:
        """Phase 0: the items with a value, after the cursor's."""
        found: list[sa.ColumnElement[bool]] = [sort_expr.is_not(None)] if order.nullable else []
        if phase == 0 and last_id is not None:
            position = sa.tuple_(sort_expr, items.c.id)
            mark = sa.tuple_(bind_value(order.operand, value), sa.bindparam(None, last_id, sa.String))
            found.append(position < mark if desc else position > mark)
        return found

    sort_expr = order.operand.expr
    if source is not None:
        if dialect == "sqlite":
            sample = leading(sort_expr) if phase == 0 else None
            steered, sort_indexed = _steer(conn, conditions, source, schema, order, desc, limit, sample)
            conditions.extend(steered)
            sort_expr = sort_expr if sort_indexed else unindexed(sort_expr)
        else:
            conditions.append(Compiler(dialect, schema, source.text).compile(source.root))

    expr = sort_expr.label("sort_value")
    selected = [items] if columns is None else [items.c.id, *(c for c in columns if c is not items.c.id)]
    rows: list[Any] = []
    if phase == 0:
        query = sa.select(*selected, expr).where(*conditions, *leading(sort_expr))
        ordered = (sort_expr.desc(), items.c.id.desc()) if desc else (sort_expr, items.c.id)
        rows = list(conn.execute(query.order_by(*ordered).limit(limit + 1)))
    if len(rows) <= limit and order.nullable:
        query = sa.select(*selected, expr).where(*conditions, sort_expr.is_(None))
        if phase == 1 and last_id is not None:
            query = query.where(items.c.id < last_id if desc else items.c.id > last_id)
        query = query.order_by(items.c.id.desc() if desc else items.c.id).limit(limit + 1 - len(rows))
        rows.extend(conn.execute(query))
    if len(rows) <= limit:
        return Page(rows, None)
    rows = rows[:limit]
    return Page(rows, _encode(order, desc, rows[-1]))


def sort_order(dialect: str, schema: MetadataSchema, sort: str | None) -> _Sort:
    text = sort if sort is not None and sort.strip() else DEFAULT_SORT
    subject = parse_field(text.strip(), option="sort")
    operand = Compiler(dialect, schema, text.strip(), option="sort").sort_operand(subject)
    nullable = operand.column is None or bool(operand.column.nullable)
    return _Sort(to_text_field(subject), operand, nullable, _index_of(dialect, schema, subject))


# SQLite keeps no statistics on value distributions (no STAT4 in the common builds),
# so it cannot tell "frames > 99900" (rare) from "frames > 10" (nearly every item): it
# often walks the sort's index and filters, reading the whole folder to find 100 rare
# items. So the listing measures instead, before the query:
# - it counts, through each index a condition of the filter can use, the items that
#   condition matches (index entries only: 0.1 us each);
# - reading the rarest condition's items and sorting them costs about that count;
# - reading the sort's index costs how far one must read it to find a page of items
#   matching the whole filter: a sample of the first rows in that order tells.
# The cheaper plan is steered with unary "+", SQLite's documented way to keep an
# expression off an index.
_PROBE_CAP = 25_000
_PROBES = 3
_SAMPLE_MOST = 5_000


def _index_of(dialect: str, schema: MetadataSchema, subject: Field) -> str | None:
    """The name of the index that holds a field's values in order (if one is made for it)."""
    if not subject.quoted and subject.name in BUILTINS:
        return NAME_INDEX if subject.name == "name" else None
    key_type = schema.type_of(subject.name)
    index = key_index(dialect, subject.name, key_type) if key_type is not None else None
    return None if index is None else index.name


def _count(conn: sa.Connection, conditions: list[sa.ColumnElement[bool]], cap: int) -> int:
    matching: sa.Select[Any] = sa.select(sa.literal_column("1")).select_from(items).where(*conditions)
    return int(conn.execute(sa.select(sa.func.count()).select_from(matching.limit(cap).subquery())).scalar_one())


def _steer(
    conn: sa.Connection,
    base: list[sa.ColumnElement[bool]],
    source: Filter,
    schema: MetadataSchema,
    order: _Sort,
    desc: bool,
    limit: int,
    leading: list[sa.ColumnElement[bool]] | None,
) -> tuple[list[sa.ColumnElement[bool]], bool]:
    """SQLite: the filter's conditions, each allowed an index or not, and whether the
    sort may use its index. ``leading``: the conditions of the sort's first phase, to
    sample it (``None``: no sample)."""
    dialect = conn.dialect.name
    conjuncts = list(source.root.operands) if isinstance(source.root, And) else [source.root]
    free = Compiler(dialect, schema, source.text)
    kept = Compiler(dialect, schema, source.text, indexed=False)
    existing = existing_indexes(conn)
    candidates: list[tuple[int, str]] = []
    for position, conjunct in enumerate(conjuncts):
        if isinstance(conjunct, Compare | InList) and getattr(conjunct, "op", "=") != "!=":
            name = _index_of(dialect, schema, conjunct.field)
            if name is not None and name in existing:
                candidates.append((position, name))
    if not candidates:
        return [free.compile(c) for c in conjuncts], True
    rarest, best, best_index = _PROBE_CAP + 1, 0, ""
    for position, name in candidates[:_PROBES]:
        count = _count(conn, [*base, free.compile(conjuncts[position])], min(rarest, _PROBE_CAP))
        if count < rarest:
            rarest, best, best_index = count, position, name
    driven = [free.compile(c) if i == best else kept.compile(c) for i, c in enumerate(conjuncts)]
    if order.index == best_index:
        return driven, True  # one index filters and orders
    sample = min(_SAMPLE_MOST, 10 * (limit + 1))
    if order.index not in existing or rarest <= sample or leading is None:
        return driven, False
    # reading the sort's index: conditions on the sort key itself stay on it (a range of it)
    on_sort = {position for position, name in candidates if name == order.index}
    read = [free.compile(c) if i in on_sort else kept.compile(c) for i, c in enumerate(conjuncts)]
    others = [kept.compile(c) for i, c in enumerate(conjuncts) if i not in on_sort]
    ordered = (order.operand.expr.desc(), items.c.id.desc()) if desc else (order.operand.expr, items.c.id)
    hit = sa.case((sa.and_(*others), 1), else_=0) if others else sa.literal_column("1")
    first = sa.select(hit.label("hit")).where(*base, *leading, *(read[i] for i in sorted(on_sort)))
    walked = first.order_by(*ordered).limit(sample).subquery()
    hits = int(conn.execute(sa.select(sa.func.coalesce(sa.func.sum(walked.c.hit), 0))).scalar_one())
    reading = (limit + 1) * sample / max(hits, 0.5)
    return (read, True) if reading < rarest else (driven, False)


# Cursors: opaque to callers; base64url of a small JSON list. Tampering yields a
# FilterError or another page of the same listing, never anything else: the values
# it carries are bound parameters.


def _encode(order: _Sort, desc: bool, row: Any) -> str:
    value = row.sort_value
    phase = 1 if value is None and order.nullable else 0
    tag, plain = _tagged(value)
    payload = msgspec.json.encode([_CURSOR_VERSION, order.key, desc, phase, tag, plain, row.id])
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _tagged(value: Any) -> tuple[str, Any]:
    if value is None:
        return "n", None
    if isinstance(value, bool):
        return "b", value
    if isinstance(value, int):
        return "i", value
    if isinstance(value, float):
        return "f", value
    if isinstance(value, Decimal):
        return "d", str(value)
    if isinstance(value, datetime):
        return "t", value.isoformat()
    return "s", str(value)


def _decode(cursor: str, order: _Sort, desc: bool) -> tuple[int, Any, str]:
    def refused(reason: str) -> FilterError:
        return FilterError(reason, option="after")

    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        version, key, was_desc, phase, tag, plain, last_id = msgspec.json.decode(raw)
    except (ValueError, binascii.Error, msgspec.DecodeError, TypeError):
        raise refused("not a cursor from this listing") from None
    if version != _CURSOR_VERSION or phase not in (0, 1) or not _plain_text(last_id, _MAX_ID_CHARS):
        raise refused("not a cursor from this listing")
    if not isinstance(key, str) or not isinstance(was_desc, bool):
        raise refused("not a cursor from this listing")
    if key != order.key or was_desc != desc:
        was = f"{key[:100]}{' descending' if was_desc else ''}"
        raise refused(f"the cursor continues a listing sorted by {was}: pass the same sort")
    try:
        value = _untagged(tag, plain)
    except (ValueError, TypeError, ArithmeticError):
        raise refused("not a cursor from this listing") from None
    if phase == 0 and not _fits(order.operand, value):
        raise refused("not a cursor from this listing")
    return phase, value, last_id


# What a tampered cursor may not carry, as the database would refuse it with an
# error of its own: integers past 64 bits (SQLite), NUL characters (PostgreSQL),
# numbers past PostgreSQL's numeric range, dates that leave Python's range in UTC.
_MAX_ID_CHARS = 100
_INT64 = range(-(2**63), 2**63)
_NUMERIC_DIGITS = 131_072
_NUMERIC_BITS = 400_000  # about 120,000 decimal digits


def _plain_text(value: Any, most: int) -> bool:
    return isinstance(value, str) and "\x00" not in value and len(value) <= most


def _fits(operand: Operand, value: Any) -> bool:
    """Whether a cursor's sort value can be compared with the sort key's values."""
    kind, postgres = operand.kind, operand.dialect == "postgresql"
    numeric = postgres and kind == "number" and operand.column is None  # a metadata number: bound as NUMERIC
    if isinstance(value, bool):
        return kind == "boolean"
    if isinstance(value, int):
        return kind in ("number", "boolean") and (value in _INT64 or (numeric and value.bit_length() < _NUMERIC_BITS))
    if isinstance(value, float):  # a datetime as a float: SQLite's Julian day of a metadata value
        julian = kind == "datetime" and operand.column is None and not postgres
        return (kind == "number" or julian) and math.isfinite(value)
    if isinstance(value, Decimal):
        return numeric and _numeric(value)
    if isinstance(value, datetime):
        return kind == "datetime" and _in_range(value)
    return kind == "string" and isinstance(value, str) and not (postgres and "\x00" in value)


def _numeric(value: Decimal) -> bool:
    if not value.is_finite():
        return False
    exponent = value.as_tuple().exponent
    return isinstance(exponent, int) and value.adjusted() < _NUMERIC_DIGITS and exponent >= -16_383


def _in_range(moment: datetime) -> bool:
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return False
    return True


def _untagged(tag: str, plain: Any) -> Any:
    expected = {"n": type(None), "b": bool, "i": int, "f": float, "d": str, "t": str, "s": str}
    if tag not in expected or not isinstance(plain, expected[tag]) or (tag == "i" and isinstance(plain, bool)):
        raise ValueError(tag)
    if tag == "d":
        return Decimal(str(plain))
    if tag == "t":
        moment = datetime.fromisoformat(str(plain))
        if moment.tzinfo is None:
            raise ValueError(plain)
        return moment
    return plain
