"""``register --dry-run``: everything a registration would check, nothing written."""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from accessio.catalog import folders as folder_store
from accessio.catalog import items as item_store
from accessio.catalog import metadata_schema as schema_store
from accessio.catalog.errors import NotFound
from accessio.errors import AccessioError
from accessio.jobs.sequences import is_sequence
from accessio.jobs.units import dedup_key
from accessio.spec import UploadSpec

if TYPE_CHECKING:
    from accessio.service import Accessio

SAMPLE = 10
SHOWN = 100


def dry_run(app: Accessio, spec: UploadSpec, *, folder: str, integration: str) -> dict[str, Any]:
    """Check that every URL belongs to the integration, read a sample, count duplicates;
    image sequences need an integration that may write their videos."""
    storage = app.storage(integration)
    record = app.integration_record(integration)
    unreachable: list[dict[str, str]] = []
    urls: list[str] = []
    for _, _, unit in spec.units():
        for url in unit.urls:
            try:
                storage.locate(url)
                urls.append(url)
            except AccessioError as exc:
                if len(unreachable) < SHOWN:
                    unreachable.append({"url": url, "error": exc.message})
    sample = urls[:: max(1, len(urls) // SAMPLE)][:SAMPLE] if record.access_mode != "strictClientOnly" else []

    async def read_sample() -> list[dict[str, str]]:
        async def read(url: str) -> dict[str, str] | None:
            try:
                await storage.probe_head(url, 1)
            except AccessioError as exc:
                return {"url": url, "error": exc.message}
            return None

        found = await asyncio.gather(*(read(url) for url in sample))
        return [f for f in found if f is not None]

    failed_reads = asyncio.run(read_sample()) if sample else []
    unreachable.extend(failed_reads)
    if record.write_prefix is None:
        why = (
            "strictClientOnly: its frames may not be read"
            if record.access_mode == "strictClientOnly"
            else (f"the integration has no write prefix (accessio integration set {record.name} --write-prefix URL)")
        )
        sequences = (unit for _, _, unit in spec.units() if is_sequence(unit))
        for unit in itertools.islice(sequences, SHOWN):
            unreachable.append({"url": unit.urls[0], "error": f"image sequence {unit.display_title!r}: {why}"})
    with app.engine.connect() as conn:
        duplicates = count_duplicates(conn, folder, spec)
        metadata_errors = metadata_problems(schema_store.load(conn), spec)
    return {
        "valid": True,
        "units": spec.unit_count(),
        "urls": spec.url_count(),
        "duplicates": duplicates,
        "sampled": len(sample),
        "reachable": len(sample) - len(failed_reads),
        "unreachable": unreachable,
        "metadataErrors": metadata_errors,
    }


def count_duplicates(conn: sa.Connection, folder: str, spec: UploadSpec) -> int:
    """How many of the spec's units are already in the folder (0 when it does not exist)."""
    try:
        target = folder_store.get(conn, folder)
    except NotFound:
        return 0
    keys = [dedup_key(unit) for _, _, unit in spec.units()]
    found = item_store.existing(conn, target.id, keys)
    return sum(1 for key in keys if key in found)


def metadata_problems(schema: schema_store.MetadataSchema, spec: UploadSpec) -> list[dict[str, str]]:
    """The units whose client metadata breaks the metadata schema (the first ``SHOWN``),
    each with its location in the spec: what registration would fail them for."""
    problems: list[dict[str, str]] = []
    if not schema.keys:
        return problems
    for kind, index, unit in spec.units():
        if unit.client_metadata is None:
            continue
        problem = schema_store.check_client_metadata(schema, unit.client_metadata)
        if problem is not None:
            problems.append({"location": spec.source.locate(kind, index), "error": problem})
            if len(problems) == SHOWN:
                break
    return problems
