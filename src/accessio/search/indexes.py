"""Indexes that make filters and sorts on typed metadata keys fast.

One btree expression index per live scalar or enum schema key, on exactly the typed
expression the filter compiler emits (``filter_sql.typed_expression``), after the
folder and before the item id::

    (folder_id, <typed value of the key>, id) WHERE parent_item_id IS NULL

so that one index serves an equality or range filter within a folder, a sort on the
key and its keyset paging. PostgreSQL indexes the first 256 characters of varchar
keys (a btree row holds at most ~2.7 kB; the compiler adds the matching prefix
condition). ``text`` keys (long strings, searched with ``like``) get no index.

>>> sync_key_indexes(conn, metadata_schema.load(conn))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import logging

import sqlalchemy as sa

from accessio.catalog.metadata_schema import Hint, KeyType, MetadataSchema, Scalar
from accessio.catalog.schema import items
from accessio.search.filter_sql import INSTANT_FUNCTION, key_kind, pg_prefix, pg_prefixed, typed_expression

KEY_INDEX_PREFIX = "ix_items_key_"
NAME_INDEX = "ix_items_folder_name"

log = logging.getLogger(__name__)

# PostgreSQL: ISO 8601 text (every form the schema accepts) as an instant, NULL for
# anything else, never an error, so a stored value that breaks the schema cannot
# break a query. IMMUTABLE so that indexes can hold it: a value without a zone is
# read as UTC here, never in the session's time zone, and only digits, separators, T
# and Z may follow the date (no "now", "today"...). PL/pgSQL: 2.1 us a value against
# 5.5 us for the same as one SQL expression (measured; a SQL function that cannot be
# inlined evaluates its argument's uses one by one).
_SHAPE = "^[0-9]{4}-[0-9][0-9]-[0-9][0-9][0-9:.,+TtZz -]*$"
_INSTANT = f"""
CREATE OR REPLACE FUNCTION {INSTANT_FUNCTION}(value text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  written text;
BEGIN
  IF value !~ '{_SHAPE}' THEN
    RETURN NULL;
  END IF;
  written := replace(replace(replace(value, 't', 'T'), ',', '.'), 'z', 'Z');
  IF NOT (length(written) > 10 AND (strpos(substr(written, 11), '+') > 0
          OR strpos(substr(written, 11), '-') > 0 OR right(written, 1) = 'Z')) THEN
    written := written || '+00';
  END IF;
  %s
END
$$"""
_CHECKED = """IF NOT pg_input_is_valid(written, 'timestamptz') THEN
    RETURN NULL;
  END IF;
  RETURN written::timestamptz;"""
_CAUGHT = """RETURN written::timestamptz;
EXCEPTION WHEN others THEN
  RETURN NULL;"""  # before PostgreSQL 16: no pg_input_is_valid


def ensure_search_functions(conn: sa.Connection) -> None:
    """PostgreSQL: create the function datetime filters call (a no-op on SQLite)."""
    if conn.dialect.name != "postgresql":
        return
    version = conn.execute(sa.text("SHOW server_version_num")).scalar_one()
    conn.exec_driver_sql(_INSTANT % (_CHECKED if int(version) >= 160000 else _CAUGHT))


def key_index(dialect: str, key: str, key_type: KeyType) -> sa.Index | None:
    """The index of one schema key (``None`` for keys that get none)."""
    kind = key_kind(key_type)
    if kind is None or (isinstance(key_type, Scalar) and key_type.hint is Hint.TEXT):
        return None
    try:
        expr = typed_expression(dialect, key, kind)
    except ValueError:
        return None  # a key SQLite's JSON paths cannot name: filters on it say so
    prefixed = dialect == "postgresql" and pg_prefixed(key_type)
    if prefixed:
        expr = pg_prefix(key)
    return sa.Index(
        key_index_name(key, f"{kind}{'/prefix' if prefixed else ''}"),
        items.c.folder_id,
        sa.sql.elements.Grouping(expr),  # PostgreSQL wants an expression in parentheses
        items.c.id,
        sqlite_where=items.c.parent_item_id.is_(None),
        postgresql_where=items.c.parent_item_id.is_(None),
    )


def key_index_name(key: str, kind: str) -> str:
    """An index name from a hash of the key (keys hold spaces and dots) and its kind, so
    a key that changes type gets a new index."""
    digest = hashlib.sha256(f"{key}\x00{kind}".encode()).hexdigest()[:20]
    return f"{KEY_INDEX_PREFIX}{digest}"


def statistics_name(index_name: str) -> str:
    return index_name.replace("ix_", "st_", 1)


def _create_statistics(conn: sa.Connection, index: sa.Index) -> None:
    """PostgreSQL keeps no statistics for the expressions of partial indexes: without
    an expression statistics object (PostgreSQL 14+) the planner guesses every key's
    selectivity and picks the wrong index."""
    if conn.dialect.server_version_info is None or conn.dialect.server_version_info < (14,):
        return
    expr = index.expressions[1]
    assert isinstance(expr, sa.ColumnElement)
    compiled = expr.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True, "render_postcompile": True})
    assert index.name is not None
    conn.exec_driver_sql(f"CREATE STATISTICS IF NOT EXISTS {statistics_name(index.name)} ON ({compiled}) FROM items")


def name_index(dialect: str) -> sa.Index:
    """The default listing order: a folder's items by name (byte order), then id."""
    name = sa.collate(items.c.name, "C") if dialect == "postgresql" else items.c.name
    return sa.Index(
        NAME_INDEX,
        items.c.folder_id,
        name,
        items.c.id,
        sqlite_where=items.c.parent_item_id.is_(None),
        postgresql_where=items.c.parent_item_id.is_(None),
    )


def existing_indexes(conn: sa.Connection) -> set[str]:
    """The names of the indexes on ``items``."""
    if conn.dialect.name == "sqlite":
        query = sa.text("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'items'")
    else:
        query = sa.text("SELECT indexname FROM pg_indexes WHERE tablename = 'items' AND schemaname = current_schema()")
    return set(conn.execute(query).scalars())


def sync_key_indexes(conn: sa.Connection, schema: MetadataSchema) -> None:
    """Make the search indexes match the schema: create (if missing) one index per live
    scalar or enum key and the name index, drop the indexes of keys no longer live.

    Runs in the caller's transaction; building an index over many items takes a while
    (about 2 s per million items) and holds the catalog's write lock meanwhile. An index
    that cannot be built (PostgreSQL: a stored value past a btree row's size) is left
    out with a warning in the log; filters on its key still work, without it.
    """
    dialect = conn.dialect.name
    ensure_search_functions(conn)
    existing = existing_indexes(conn)
    wanted = {NAME_INDEX: name_index(dialect)}
    for key, key_type in schema.live().items():
        index = key_index(dialect, key, key_type)
        if index is not None:
            assert index.name is not None
            wanted[index.name] = index
    for stale in sorted(n for n in existing if n.startswith(KEY_INDEX_PREFIX) and n not in wanted):
        # names of ours: a prefix and hex digits
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {stale}")
        if dialect == "postgresql":
            conn.exec_driver_sql(f"DROP STATISTICS IF EXISTS {statistics_name(stale)}")
    created = False
    for name, index in wanted.items():
        if name in existing:
            continue
        savepoint = conn.begin_nested()
        try:
            conn.execute(sa.schema.CreateIndex(index, if_not_exists=True))
        except sa.exc.DBAPIError as exc:
            savepoint.rollback()
            log.warning("search index %s not built: %s", name, exc.orig)
            continue
        if dialect == "postgresql" and name != NAME_INDEX:
            _create_statistics(conn, index)
        savepoint.commit()
        created = True
    if created:
        # fresh statistics, so that the planner knows how selective each key is
        if dialect == "sqlite":
            conn.execute(sa.text("PRAGMA analysis_limit=1000"))
            conn.execute(sa.text("ANALYZE items"))
        else:
            conn.execute(sa.text("ANALYZE items"))
