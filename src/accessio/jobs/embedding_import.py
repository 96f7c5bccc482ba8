"""``accessio embeddings import FILE``: vectors for items already registered.

The file is JSON Lines (one object per line; blank lines are skipped) or one JSON
array of the same objects::

    {"item": "6f1c...", "key": "clip", "vector": [0.12, -0.5, ...]}
    {"url": "s3://bucket/v.mp4", "folder": "datasets/cars", "key": "clip", "frame": 25, "vector": [...]}

``item`` (an item id) or ``url`` (a top-level item's object URL, with ``folder``
when the URL is registered in more than one folder) names the item; ``key`` is an
embedding key of the metadata schema; ``frame`` (videos only) a frame number.

All or nothing: every entry is checked, every problem is reported (line or index
named), and nothing is written unless all are valid. A vector given for an (item,
key, frame) that has one replaces it; one file may not give the same one twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa

from accessio.catalog import embeddings as embedding_store
from accessio.catalog import folders as folder_store
from accessio.catalog import metadata_schema as schema_store
from accessio.catalog import metadata_values as rules
from accessio.catalog.errors import NotFound
from accessio.catalog.items import url_key
from accessio.catalog.schema import items
from accessio.errors import AccessioError
from accessio.jobs.embeddings import EmbeddingProblem, vector_bytes

BATCH = 2_000
PROBLEMS_KEPT = 100
_FIELDS = ("item", "url", "folder", "key", "frame", "vector")


class EmbeddingImportInvalid(AccessioError):
    """An embeddings file with problems; nothing of it was imported. ``problems`` lists
    the first 100, each with its line (or index)."""

    status = 400
    code = "embeddings.invalid"

    def __init__(self, source: str, problems: list[str], total: int) -> None:
        more = f" (and {total - 1:,} more)" if total > 1 else ""
        super().__init__(f"{source}: nothing imported: {problems[0]}{more}")
        self.source = source
        self.problems = tuple(problems)
        self.total = total


@dataclass(frozen=True)
class ImportReport:
    imported: int  # vectors written
    replaced: int  # of which replaced a vector the (item, key, frame) had
    items: int  # distinct items given vectors


@dataclass
class _Entry:
    ordinal: int
    where: str
    item: str | None
    url: str | None
    folder: str | None
    key: str
    frame: int | None
    blob: bytes


def import_embeddings(
    engine: sa.Engine, path: str | Path, *, condition: sa.ColumnElement[bool] | None = None
) -> ImportReport:
    """Import a file of vectors (see the module docstring), in one transaction; only
    into items that meet ``condition`` (an access scope: the others are not found)."""
    source = Path(path)
    problems: list[tuple[int, str]] = []
    total_problems = 0
    imported = replaced = 0
    seen: set[int] = set()
    item_ids: set[str] = set()

    def problem(ordinal: int, text: str) -> None:
        nonlocal total_problems
        total_problems += 1
        if len(problems) < 100 * PROBLEMS_KEPT:  # the first ones in file order are reported
            problems.append((ordinal, text))

    with engine.begin() as conn:
        schema = schema_store.load(conn)
        sizes = schema.embedding_keys()
        batch: list[_Entry] = []
        for ordinal, (where, value) in enumerate(_entries(source)):
            entry = _entry(ordinal, where, value, sizes, problem)
            if entry is not None:
                batch.append(entry)
            if len(batch) >= BATCH:
                rows = _resolve(conn, batch, problem, seen, condition)
                if not total_problems:
                    replaced += embedding_store.replace(conn, rows)
                    imported += len(rows)
                    item_ids.update(row[0] for row in rows)
                batch = []
        rows = _resolve(conn, batch, problem, seen, condition)
        if total_problems:  # leaving the block by an exception rolls back what was written
            shown = [text for _, text in sorted(problems)[:PROBLEMS_KEPT]]
            raise EmbeddingImportInvalid(str(source), shown, total_problems)
        replaced += embedding_store.replace(conn, rows)
        imported += len(rows)
        item_ids.update(row[0] for row in rows)
    return ImportReport(imported, replaced, len(item_ids))


def _entries(source: Path) -> Iterator[tuple[str, Any]]:
    """``(location, decoded object)`` per entry; a line that is not JSON is reported by
    its location with the decoder's message."""
    try:
        handle = source.open("rb")
    except OSError as exc:
        raise AccessioError(f"{source}: cannot be read: {exc.strerror or exc}") from exc
    with handle:
        head = handle.read(4096).lstrip()
        handle.seek(0)
        if head.startswith(b"["):
            try:
                document = msgspec.json.decode(handle.read())
            except msgspec.DecodeError as exc:
                yield "the file", _Undecodable(str(exc))
                return
            if not isinstance(document, list):
                yield "the file", _Undecodable("expected a JSON array of objects")
                return
            for index, value in enumerate(document):
                yield f"entry {index}", value
            return
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield f"line {number}", msgspec.json.decode(line)
            except msgspec.DecodeError as exc:
                yield f"line {number}", _Undecodable(str(exc))


@dataclass(frozen=True)
class _Undecodable:
    reason: str


def _entry(ordinal: int, where: str, value: Any, sizes: dict[str, int], problem: Any) -> _Entry | None:
    if isinstance(value, _Undecodable):
        problem(ordinal, f"{where}: not JSON: {value.reason}")
        return None
    if not isinstance(value, dict):
        problem(ordinal, f"{where}: expected an object, got {rules.kind(value)}")
        return None
    unknown = sorted(set(value) - set(_FIELDS))
    if unknown:
        problem(ordinal, f"{where}: unknown field {unknown[0]!r} (fields: {', '.join(_FIELDS)})")
        return None
    item, url, folder = value.get("item"), value.get("url"), value.get("folder")
    if (item is None) == (url is None):
        problem(ordinal, f'{where}: give the item by "item" (its id) or by "url", one of them')
        return None
    for name, text in (("item", item), ("url", url), ("folder", folder)):
        if text is not None and not isinstance(text, str):
            problem(ordinal, f"{where}: {name} must be a string, got {rules.kind(text)}")
            return None
    key = value.get("key")
    if not isinstance(key, str) or key not in sizes:
        state = "missing" if key is None else f"{rules.shown(key)} is not an embedding key of the metadata schema"
        known = ", ".join(sorted(sizes)) or "none yet"
        problem(ordinal, f"{where}: key {state} (embedding keys: {known})")
        return None
    frame = value.get("frame")
    if frame is not None and (isinstance(frame, bool) or not isinstance(frame, int) or frame < 0):
        problem(ordinal, f"{where}: frame must be a frame number (a whole number >= 0), got {rules.shown(frame)}")
        return None
    vector = value.get("vector")
    shape = rules.embedding_problem(sizes[key], vector)
    if shape is not None:
        problem(ordinal, f"{where}: vector: expected {sizes[key]:,} numbers, got {rules.shown(vector)} ({shape})")
        return None
    try:
        blob = vector_bytes(vector, f"{where}: vector")
    except EmbeddingProblem as exc:
        problem(ordinal, exc.message)
        return None
    return _Entry(ordinal, where, item, url, folder, key, frame, blob)


def _resolve(
    conn: sa.Connection,
    batch: list[_Entry],
    problem: Any,
    seen: set[int],
    condition: sa.ColumnElement[bool] | None = None,
) -> list[embedding_store.Row]:
    """Entries to rows: their items found (and checked: frames only for videos)."""
    if not batch:
        return []
    scope = [condition] if condition is not None else []
    by_id = {
        row.id: row
        for row in conn.execute(
            sa.select(items.c.id, items.c.item_type, items.c.frame_count, items.c.is_tombstone).where(
                items.c.id.in_([e.item for e in batch if e.item is not None]), *scope
            )
        )
    }
    urls = [e.url for e in batch if e.url is not None]
    by_url: dict[str, list[Any]] = {}
    if urls:
        statement = sa.select(
            items.c.id, items.c.url, items.c.folder_id, items.c.item_type, items.c.frame_count, items.c.is_tombstone
        ).where(items.c.url_key.in_({url_key(u) for u in urls}), items.c.parent_item_id.is_(None), *scope)
        for row in conn.execute(statement):
            by_url.setdefault(row.url, []).append(row)
    folders: dict[str, str | None] = {}
    rows: list[embedding_store.Row] = []
    for entry in batch:
        found = _item_of(conn, entry, by_id, by_url, folders, problem)
        if found is None:
            continue
        if entry.frame is not None:
            if found.item_type != "video":
                problem(entry.ordinal, f"{entry.where}: frame is for videos; item {found.id} is {found.item_type}")
                continue
            if found.frame_count and entry.frame >= found.frame_count:
                problem(
                    entry.ordinal,
                    f"{entry.where}: frame {entry.frame:,} is past the video's last ({found.frame_count - 1:,})",
                )
                continue
        mark = hash((found.id, entry.key, entry.frame))
        if mark in seen:
            problem(
                entry.ordinal,
                f"{entry.where}: a second vector for item {found.id}, key {entry.key!r}, frame {entry.frame}",
            )
            continue
        seen.add(mark)
        rows.append((found.id, entry.key, entry.frame, entry.blob))
    return rows


def _item_of(
    conn: sa.Connection,
    entry: _Entry,
    by_id: dict[str, Any],
    by_url: dict[str, list[Any]],
    folders: dict[str, str | None],
    problem: Any,
) -> Any:
    if entry.item is not None:
        found = by_id.get(entry.item)
        if found is None or found.is_tombstone:
            problem(entry.ordinal, f"{entry.where}: item {entry.item!r} not found")
            return None
        return found
    assert entry.url is not None
    candidates = [row for row in by_url.get(entry.url, []) if not row.is_tombstone]
    if entry.folder is not None:
        if entry.folder not in folders:
            try:
                folders[entry.folder] = folder_store.get(conn, entry.folder).id
            except NotFound:
                folders[entry.folder] = None
        folder_id = folders[entry.folder]
        if folder_id is None:
            problem(entry.ordinal, f"{entry.where}: folder {entry.folder!r} not found")
            return None
        candidates = [row for row in candidates if row.folder_id == folder_id]
    if len(candidates) == 1:
        return candidates[0]
    shown = entry.url if len(entry.url) <= 200 else entry.url[:200] + "…"
    if not candidates:
        where = f" in folder {entry.folder!r}" if entry.folder is not None else ""
        problem(entry.ordinal, f"{entry.where}: no item has the URL {shown!r}{where}")
    else:
        problem(
            entry.ordinal,
            f'{entry.where}: {len(candidates)} items have the URL {shown!r}: add "folder", or give "item"',
        )
    return None
