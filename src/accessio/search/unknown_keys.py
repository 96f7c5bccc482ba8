"""A filter that matched nothing because it names a key no item has (``weathr``, or
``Weather`` for ``weather``: names are case-sensitive) is a mistake to point out, not
an empty answer to give.

A key is known when it is a built-in field, a key of the metadata schema, or held by
an item of the folder. Only an empty result is checked, so a filter that matches
costs nothing more.
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlalchemy as sa

from accessio.catalog.metadata_schema import MetadataSchema
from accessio.catalog.schema import items
from accessio.search.filter_sql import BUILTINS
from accessio.search.filter_syntax import (
    And,
    Exists,
    Field,
    Filter,
    FilterError,
    Node,
    Not,
    Or,
    parse_filter,
    to_text_field,
)
from accessio.search.listing import query_items
from accessio.spec.issues import did_you_mean

SAMPLE = 1000  # items whose keys are offered as suggestions


def _fields(node: Node) -> Iterator[Field]:
    if isinstance(node, And | Or):
        for operand in node.operands:
            yield from _fields(operand)
    elif isinstance(node, Not):
        yield from _fields(node.operand)
    else:
        yield node.field


def unknown_key(conn: sa.Connection, folder_id: str, where: str, schema: MetadataSchema) -> FilterError | None:
    """The error for the first key of ``where`` that no item of the folder holds, or ``None``."""
    parsed: Filter = parse_filter(where)
    for subject in _fields(parsed.root):
        if (not subject.quoted and subject.name in BUILTINS) or subject.name in schema.keys:
            continue
        held = query_items(conn, folder_id, where=to_text(Exists(subject)), limit=1, schema=schema)
        if held.rows:
            continue
        known = sorted({*BUILTINS, *schema.keys, *_sample_keys(conn, folder_id)})
        hint = did_you_mean(subject.name, known)
        return parsed.error(f"no item of the folder has the key {subject.name!r}{hint}", subject.at)
    return None


def to_text(node: Exists) -> str:
    return f"exists({to_text_field(node.field)})"


def _sample_keys(conn: sa.Connection, folder_id: str) -> set[str]:
    query = (
        sa.select(items.c.client_metadata)
        .where(items.c.folder_id == folder_id, items.c.parent_item_id.is_(None), items.c.client_metadata.is_not(None))
        .limit(SAMPLE)
    )
    keys: set[str] = set()
    for metadata in conn.execute(query).scalars():
        if isinstance(metadata, dict):
            keys.update(metadata)
    return keys
