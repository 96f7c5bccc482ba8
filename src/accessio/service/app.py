"""The one Python API every front end uses: catalog, integrations, folders, jobs, items.

>>> from accessio import Accessio
>>> app = Accessio("/tmp/accessio-doctest.db")  # doctest: +SKIP
>>> job = app.register("spec.json", folder="datasets/cars", integration="local")  # doctest: +SKIP
>>> job.run(); job.status  # doctest: +SKIP
'DONE'
"""

# ruff: noqa: PLC0415 (imports deferred for start-up time, see the note on TYPE_CHECKING below)
from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from accessio.catalog import accounts
from accessio.catalog import folders as folder_store
from accessio.catalog import integrations as integration_store
from accessio.catalog import items as item_store
from accessio.catalog import jobs as job_store
from accessio.catalog import metadata_schema as schema_store
from accessio.catalog.db import create_engine, default_catalog_url
from accessio.catalog.schema import items as items_table
from accessio.catalog.schema import jobs as jobs_table
from accessio.search.filter_sql import compile_filter
from accessio.search.filter_syntax import parse_filter
from accessio.search.indexes import sync_key_indexes
from accessio.search.listing import query_items
from accessio.service import lookup

# Registration (the probes), storage, vectors (numpy, usearch) and the spec parser load
# where they are used: a command that lists items starts without them.
if TYPE_CHECKING:
    from accessio.catalog.embeddings import IndexSync
    from accessio.jobs.embedding_import import ImportReport
    from accessio.jobs.runner import Pace
    from accessio.search.projection import EmbeddingMap
    from accessio.search.vectors import Hit, VectorSearch
    from accessio.service.webhook_registry import Webhooks
    from accessio.service.webhooks import DeliveryReport
    from accessio.spec import Unit, UploadSpec
    from accessio.storage import Integration, Storage


@dataclass(frozen=True)
class ItemPage:
    """A page of items (item JSON) and the cursor of the next page (``None`` after the last)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


class Job:
    """A handle on one registration job."""

    def __init__(self, app: Accessio, job_id: str, units: list[Unit] | None = None) -> None:
        self._app = app
        self.id = job_id
        self._units = units  # as stored, when this handle stored them: no need to decode them again

    @property
    def record(self) -> job_store.JobRecord:
        with self._app.engine.connect() as conn:
            return job_store.get(conn, self.id)

    @property
    def status(self) -> str:
        return self.record.status

    def run(
        self,
        progress: Callable[[dict[str, int]], None] | None = None,
        *,
        stop: threading.Event | None = None,
        take_over: str | None = None,
        pace: Pace | None = None,
    ) -> Job:
        """Work the job's pending units in this process (also resumes a stopped job),
        holding its lease; ``JobBusy`` when another live process works it.

        ``stop`` ends the work at the next chunk boundary (the job stays PENDING and
        resumes later); ``take_over`` is a lease holder this process may take the job from;
        ``pace`` makes the job yield to a server's requests."""
        from accessio.jobs.lease import hold_lease
        from accessio.jobs.runner import run_job

        record = self.record
        integration = self._app.integration_record(record.integration_id)
        storage = self._app.storage(integration.name)
        if record.kind == "sync":
            from accessio.jobs.sync import run_sync

            prefix = self._app.folder_by_id(record.folder_id).sync_prefix
            with hold_lease(self._app.engine, self.id, self._app.holder, take_over=take_over) as held:
                if held.status not in job_store.FINAL:
                    assert prefix is not None  # a sync job's folder is synced: it cannot stop being so
                    run_sync(self._app.engine, self.id, storage, prefix=prefix, progress=progress, stop=stop)
            return self
        with hold_lease(self._app.engine, self.id, self._app.holder, take_over=take_over) as held:
            if held.status not in job_store.FINAL:
                run_job(
                    self._app.engine,
                    self.id,
                    storage,
                    integration.access_mode,
                    progress=progress,
                    units=self._units,
                    stop=stop,
                    pace=pace,
                )
        return self

    def cancel(self) -> int:
        """Stop the job: units not yet worked on are cancelled at once, units already
        registered stay. A process working the job stops after its current chunk.
        Returns how many units were cancelled."""
        with self._app.engine.begin() as conn:
            return job_store.cancel(conn, self.id)

    def counts(self) -> dict[str, int]:
        return job_store.counts(self.record)

    def deliver_webhooks(self, time_limit_s: float = 15.0) -> DeliveryReport:
        """Send the webhook deliveries of the job's end now, each once, within
        ``time_limit_s`` (what fails stays pending for a server or ``webhook deliver``)."""
        return self._app.webhooks.deliver(job_id=self.id, time_limit_s=time_limit_s)

    def units(self) -> list[Unit]:
        """The job's units, in the order of their positions."""
        from accessio.jobs.units import decode_units

        if self._units is not None:
            return list(self._units)
        with self._app.engine.connect() as conn:
            return decode_units(job_store.stored_units(conn, self.id))

    def failures_csv(self) -> str:
        from accessio.jobs.report import failures_csv

        with self._app.engine.connect() as conn:
            failed = job_store.failed_units(conn, self.id)
            if self.record.kind == "sync":
                from accessio.jobs.sync import decode_plan, sync_failures_csv

                return sync_failures_csv(failed, decode_plan(job_store.stored_units(conn, self.id)))
        return failures_csv(failed, self.units() if failed else [])

    def failures_spec(self) -> bytes:
        from accessio.jobs.report import failures_spec

        record = self.record
        if record.kind == "sync":
            from accessio.jobs.sync import SyncHasNoSpec

            raise SyncHasNoSpec(
                "a sync has no spec to retry: the next sync of its folder tries its failed objects again"
            )
        with self._app.engine.connect() as conn:
            failed = job_store.failed_units(conn, self.id)
        return failures_spec(
            failed,
            self.units() if failed else [],
            skip_duplicate_urls=record.skip_duplicate_urls,
            upsert_metadata=record.upsert_metadata,
        )

    def to_json(self, *, max_errors: int = 1000) -> dict[str, Any]:
        """The job as ``--json`` and the API show it."""
        with self._app.engine.connect() as conn:
            record = job_store.get(conn, self.id)
            return job_json(conn, record, max_errors=max_errors, units=self._units)


def job_json(
    conn: sa.Connection, record: job_store.JobRecord, *, max_errors: int = 1000, units: list[Unit] | None = None
) -> dict[str, Any]:
    """A job as ``--json`` and the API show it: ``status`` (PENDING, DONE, ERROR,
    CANCELLED) and ``state``, which tells a PENDING job's queued, running and
    interrupted apart (``catalog.jobs.state``)."""
    from accessio.jobs.units import decode_units, item_id

    folder = folder_store.get_by_id(conn, record.folder_id)
    errors: list[dict[str, Any]] = []
    failed = job_store.failed_units(conn, record.id, max_errors)
    if failed and record.kind == "sync":
        from accessio.jobs.sync import decode_plan, failed_urls

        plan = decode_plan(job_store.stored_units(conn, record.id))
        errors = [
            {"objectUrls": failed_urls(plan[row.unit_index]), "error": row.error, "actionDescription": row.action,
             "subtaskUuid": item_id(record.id, row.unit_index)}
            for row in failed
        ]  # fmt: skip
        failed = []
    if failed and units is None:
        units = decode_units(job_store.stored_units(conn, record.id))
    for row in failed:
        assert units is not None
        unit = units[row.unit_index]
        errors.append(
            {
                "objectUrls": list(unit.urls),
                "error": row.error,
                "actionDescription": row.action,
                "subtaskUuid": item_id(record.id, row.unit_index),
            }
        )
    return {
        "id": record.id,
        "status": record.status,
        "state": job_store.state(record),
        "folder": folder.path,
        "folderUuid": folder.id,
        "fileName": record.file_name,
        "counts": job_store.counts(record),
        "unitErrors": errors,
        "createdAt": record.created_at.isoformat(),
        "startedAt": record.started_at.isoformat() if record.started_at else None,
        "finishedAt": record.finished_at.isoformat() if record.finished_at else None,
        "leaseHolder": record.lease_holder if job_store.lease_live(record, datetime.now(UTC)) else None,
        "kind": record.kind,
        **({"syncCounts": record.sync_counts or {}} if record.kind == "sync" else {}),
    }


def _integration_of(record: integration_store.IntegrationRecord) -> Integration:
    from accessio.storage import AccessMode, Integration
    from accessio.storage.urls import Provider

    return Integration(
        name=record.name,
        provider=Provider(record.provider),
        access_mode=AccessMode(record.access_mode),
        root=record.root,
        endpoint=record.endpoint,
        region=record.region,
        credentials=record.credentials_ref,
        allow_private_network=record.allow_private_network,
        sign_ttl_s=record.sign_ttl_s,
        write_prefix=record.write_prefix,
    )


class Accessio:
    """A catalog and everything done with it."""

    def __init__(self, catalog: str | None = None) -> None:
        self.catalog = catalog or default_catalog_url()
        self.engine: sa.Engine = create_engine(self.catalog)
        self.holder = job_store.lease_holder_id()  # this process's name on the job leases it holds
        self._storages: dict[str, Storage] = {}
        self._vectors: VectorSearch | None = None

    def close(self) -> None:
        """Release the catalog's connections."""
        self.engine.dispose()

    def __enter__(self) -> Accessio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # integrations

    def add_integration(
        self,
        name: str,
        provider: str,
        *,
        access_mode: str = "server",
        root: str | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        credentials: str | None = None,
        allow_private_network: bool = False,
        sign_ttl_s: int = 3600,
        write_prefix: str | None = None,
    ) -> integration_store.IntegrationRecord:
        """Store an integration after checking that its settings make one; ``write_prefix``
        (a prefix URL inside it) lets Accessio write there (image sequences' videos)."""
        from accessio.storage import AccessMode, Integration, open_storage
        from accessio.storage.urls import Provider

        if provider not in {p.value for p in Provider}:
            raise ValueError(f"provider {provider!r} is not one of {', '.join(p.value for p in Provider)}")
        if access_mode not in {m.value for m in AccessMode}:
            raise ValueError(f"access mode {access_mode!r} is not one of {', '.join(m.value for m in AccessMode)}")
        integration = Integration(
            name=name,
            provider=Provider(provider),
            access_mode=AccessMode(access_mode),
            root=root,
            endpoint=endpoint,
            region=region,
            credentials=credentials,
            allow_private_network=allow_private_network,
            sign_ttl_s=sign_ttl_s,
            write_prefix=write_prefix,
        )
        open_storage(integration)  # refuses settings that cannot work, before they are stored
        with self.engine.begin() as conn:
            return integration_store.add(
                conn,
                name=name,
                provider=integration.provider.value,
                access_mode=integration.access_mode.value,
                root=root,
                endpoint=endpoint,
                region=region,
                credentials_ref=credentials,
                allow_private_network=allow_private_network,
                sign_ttl_s=sign_ttl_s,
                write_prefix=write_prefix,
            )

    def set_write_prefix(self, name_or_id: str, prefix: str | None) -> integration_store.IntegrationRecord:
        """Let an integration write under ``prefix`` (checked like a new integration's), or
        make it read-only (``None``)."""
        from accessio.storage import open_storage

        record = self.integration_record(name_or_id)
        open_storage(replace(_integration_of(record), write_prefix=prefix))
        with self.engine.begin() as conn:
            integration_store.set_write_prefix(conn, record.id, prefix)
        self._storages.pop(record.id, None)  # a job using it keeps it
        return self.integration_record(record.id)

    def set_max_expiry(self, name_or_id: str, seconds: int) -> integration_store.IntegrationRecord:
        """Set the longest a URL signed through an integration stays valid (1 s to 7 days)."""
        from accessio.storage.integration import MAX_SIGN_TTL_S

        if not 1 <= seconds <= MAX_SIGN_TTL_S:
            raise ValueError(f"the longest expiry is 1 to {MAX_SIGN_TTL_S:,} seconds (7 days), not {seconds:,}")
        with self.engine.begin() as conn:
            record = lookup.integration(conn, name_or_id)
            integration_store.set_sign_ttl(conn, record.id, seconds)
        self._storages.pop(record.id, None)  # its storage holds the old bound
        return self.integration_record(record.id)

    def integrations(self) -> list[integration_store.IntegrationRecord]:
        with self.engine.connect() as conn:
            return integration_store.all_integrations(conn)

    def integration_record(self, name_or_id: str) -> integration_store.IntegrationRecord:
        with self.engine.connect() as conn:
            return lookup.integration(conn, name_or_id)

    def storage(self, name_or_id: str) -> Storage:
        """The storage of an integration (opened once per process, again when its settings
        changed; by name, or by id when cached: then the catalog is not read)."""
        from accessio.storage import open_storage

        if name_or_id in self._storages:  # by id: no catalog read
            return self._storages[name_or_id]
        record = self.integration_record(name_or_id)
        integration = _integration_of(record)
        cached = self._storages.get(record.id)
        if cached is None or cached.integration != integration:  # new, or changed since (a write prefix set)
            self._storages[record.id] = open_storage(integration)  # a job using the old one keeps it
        return self._storages[record.id]

    @property
    def webhooks(self) -> Webhooks:
        """The catalog's webhooks (docs/webhooks.md).

        >>> hook, secret = app.webhooks.add("https://ci.example.com/accessio", folder="datasets/cars")  # doctest: +SKIP
        """
        from accessio.service.webhook_registry import Webhooks

        return Webhooks(self)

    # folders

    def create_folder(
        self,
        path: str,
        description: str = "",
        *,
        exist_ok: bool = False,
        owner: str | None = None,
        sync: tuple[str, str] | None = None,
    ) -> folder_store.Folder:
        """Create a folder and its missing parents; ``owner``: a user's name or id (who is its admin).
        ``sync``: (integration, prefix URL) the folder follows (a cloud-synced folder: ``sync()``)."""
        source: tuple[str, str] | None = None
        if sync is not None:
            from accessio.jobs.sync import check_source

            record = self.integration_record(sync[0])
            source = (record.id, check_source(self.storage(record.id), sync[1]))
        with self.engine.begin() as conn:
            owner_id = accounts.get_user(conn, owner).id if owner else None
            folder = folder_store.create(conn, path, description, exist_ok=exist_ok, owner_id=owner_id)
            if source is not None and (folder.sync_integration_id, folder.sync_prefix) != source:
                folder_store.follow(conn, folder, *source)
                folder = replace(folder, sync_integration_id=source[0], sync_prefix=source[1])
            return folder

    def sync(
        self,
        path: str,
        *,
        progress: Callable[[dict[str, int]], None] | None = None,
        stop: threading.Event | None = None,
    ) -> Job:
        """Sync a synced folder with its prefix and wait for the sync to end (one that runs
        in another process already is waited for instead)."""
        from accessio.service.sync import start, wait_for

        job = start(self, self.folder(path))
        try:
            job.run(progress, stop=stop)
        except job_store.JobBusy:
            wait_for(job)
        return job

    def folder(self, path: str) -> folder_store.Folder:
        with self.engine.connect() as conn:
            return lookup.folder(conn, path)

    def folder_by_id(self, folder_id: str) -> folder_store.Folder:
        with self.engine.connect() as conn:
            return folder_store.get_by_id(conn, folder_id)

    def folders(self, path: str | None = None) -> list[folder_store.Folder]:
        with self.engine.connect() as conn:
            return folder_store.children(conn, path)

    # registration

    def start_registration(
        self,
        spec: UploadSpec | str | Path,
        *,
        folder: str,
        integration: str,
        ignore_errors: bool = False,
        file_name: str | None = None,
        sequence_fps: float | None = None,
        lease_holder: str | None = None,
    ) -> Job:
        """Persist a registration job and all its units; nothing is read or registered yet.
        ``sequence_fps``: the frame rate of its image sequences' videos (``None``: the default);
        ``lease_holder``: who will work it (see :meth:`store_job`)."""
        from accessio.spec import UploadSpec, load_spec

        if not isinstance(spec, UploadSpec):
            file_name = file_name or Path(spec).name
            spec = load_spec(spec)
        with self.engine.connect() as conn:
            folder_id = lookup.folder(conn, folder).id
            integration_id = lookup.integration(conn, integration).id
        return self.store_job(
            spec,
            folder_id=folder_id,
            integration_id=integration_id,
            ignore_errors=ignore_errors,
            file_name=file_name,
            sequence_fps=sequence_fps,
            lease_holder=lease_holder,
        )

    def store_job(
        self,
        spec: UploadSpec,
        *,
        folder_id: str,
        integration_id: str,
        ignore_errors: bool = False,
        file_name: str | None = None,
        owner_id: str | None = None,
        lease_holder: str | None = None,
        sequence_fps: float | None = None,
    ) -> Job:
        """Persist a job by folder and integration id. ``lease_holder``: the process that
        will work the job (a server's executor), which holds it from the start."""
        from accessio.jobs.sequences import check_sequence_fps
        from accessio.jobs.units import encode_units, ordered_units

        check_sequence_fps(sequence_fps)
        with self.engine.begin() as conn:
            from accessio.service.sync import refuse_synced

            refuse_synced(conn, folder_id)
            job = job_store.create(
                conn,
                folder_id=folder_id,
                integration_id=integration_id,
                file_name=file_name,
                ignore_errors=ignore_errors,
                skip_duplicate_urls=spec.skip_duplicate_urls,
                upsert_metadata=spec.upsert_metadata,
                units=encode_units(spec),
                units_total=spec.unit_count(),
                owner_id=owner_id,
                lease_holder=lease_holder,
                sequence_fps=sequence_fps,
            )
        return Job(self, job.id, ordered_units(spec))

    def register(
        self,
        spec: UploadSpec | str | Path,
        *,
        folder: str,
        integration: str,
        ignore_errors: bool = False,
        progress: Callable[[dict[str, int]], None] | None = None,
        sequence_fps: float | None = None,
    ) -> Job:
        """Register a spec into a folder and wait for the job to end."""
        job = self.start_registration(
            spec, folder=folder, integration=integration, ignore_errors=ignore_errors, sequence_fps=sequence_fps
        )
        return job.run(progress)

    def job(self, job_id: str) -> Job:
        """A job by its id, or a unique prefix of it."""
        with self.engine.connect() as conn:
            job_id = lookup.full_id(conn, jobs_table.c.id, job_id, "job")
            job_store.get(conn, job_id)
        return Job(self, job_id)

    def jobs(self, limit: int = 50) -> list[Job]:
        with self.engine.connect() as conn:
            return [Job(self, record.id) for record in job_store.recent(conn, limit)]

    # items

    def items(
        self,
        folder: str,
        *,
        item_type: str | None = None,
        limit: int = 100,
        where: str | None = None,
        sort: str | None = None,
        desc: bool = False,
        after: str | None = None,
    ) -> list[dict[str, Any]]:
        """A folder's top-level items, filtered and sorted (``docs/filters.md``); by name by default.

        >>> app.items("datasets/cars", where='weather = "sunny" and frames > 100', sort="frames")  # doctest: +SKIP
        """
        return self.items_page(
            folder, item_type=item_type, limit=limit, where=where, sort=sort, desc=desc, after=after
        ).items

    def items_page(
        self,
        folder: str,
        *,
        item_type: str | None = None,
        limit: int = 100,
        where: str | None = None,
        sort: str | None = None,
        desc: bool = False,
        after: str | None = None,
        check_keys: bool = False,
    ) -> ItemPage:
        """One page of :meth:`items` and the cursor of the next (pass it as ``after``).
        ``item_type``: a wire value or an alias of one (``videos``, ``image_groups``).
        ``check_keys``: an empty page from a filter on a key no item of the folder holds
        raises ``FilterError`` with the closest known key (the CLI's choice; a missing
        key otherwise just matches nothing, as docs/filters.md says)."""
        if item_type is not None:
            from accessio.spec.item_types import item_type as parse_item_type

            item_type = parse_item_type(item_type).value
        with self.engine.connect() as conn:
            target = lookup.folder(conn, folder)
            page = query_items(
                conn, target.id, where=where, sort=sort, desc=desc, limit=limit, after=after, item_type=item_type
            )
            if check_keys and not page.rows and after is None and where is not None and where.strip():
                from accessio.search.unknown_keys import unknown_key

                mistake = unknown_key(conn, target.id, where, schema_store.load(conn))
                if mistake is not None:
                    raise mistake
            return ItemPage([item_store.item_json(row, folder_path=target.path) for row in page.rows], page.next_cursor)

    def item(self, item_id: str) -> dict[str, Any]:
        from accessio.catalog.embeddings import summary

        with self.engine.connect() as conn:
            item_id = lookup.full_id(conn, items_table.c.id, item_id, "item")
            row = item_store.get(conn, item_id)
            out = item_store.item_json(row, folder_path=folder_store.get_by_id(conn, row.folder_id).path)
            children = item_store.children(conn, item_id)
            if children:
                out["children"] = [item_store.item_json(child) for child in children]
            vectors = summary(conn, item_id)
            if vectors:  # the vectors themselves are in the embeddings table, not in clientMetadata
                out["embeddings"] = vectors
            return out

    def signed_url(self, item_id: str, expires_s: int | None = None) -> str:
        """A URL that reads the item's object for a bounded time: ``expires_s``, or the
        integration's longest (``ExpiryTooLong`` when ``expires_s`` is longer)."""
        from accessio.storage.errors import ExpiryTooLong

        with self.engine.connect() as conn:
            row = item_store.get(conn, lookup.full_id(conn, items_table.c.id, item_id, "item"))
        if row.url is None:
            raise ValueError(f"item {item_id} is a group; sign its children")
        storage = self.storage(row.integration_id)
        limit = storage.integration.sign_ttl_s
        if expires_s is not None and expires_s > limit:
            raise ExpiryTooLong(storage.integration.name, expires_s, limit)
        return storage.sign(row.url, expires_s)

    # the metadata schema

    def schema(self) -> schema_store.MetadataSchema:
        """The catalog's metadata schema (SPEC section 5).

        >>> app.schema().type_of("frames")  # doctest: +SKIP
        Scalar(hint=<Hint.NUMBER: 'number'>)
        """
        with self.engine.connect() as conn:
            return schema_store.load(conn)

    def _change_schema(self, operation: Callable[[sa.Connection], object]) -> schema_store.MetadataSchema:
        """Every schema change goes through here: one transaction that changes the schema
        and makes the indexes follow it (filter indexes of typed keys, vector indexes of
        embedding keys), then the schema as it is now."""
        from accessio.search.vectors import sync_vector_indexes

        with self.engine.begin() as conn:
            operation(conn)
            schema = schema_store.load(conn)
            sync_key_indexes(conn, schema)
            sync_vector_indexes(conn, schema)
            return schema

    def schema_add_scalar(self, key: str, hint: schema_store.Hint | str) -> schema_store.MetadataSchema:
        """Give a key a scalar type: number, varchar, text, boolean, datetime or uuid."""
        return self._change_schema(lambda conn: schema_store.add_scalar(conn, key, hint))

    def schema_add_enum(self, key: str, values: Sequence[str]) -> schema_store.MetadataSchema:
        return self._change_schema(lambda conn: schema_store.add_enum(conn, key, values))

    def schema_add_enum_options(self, key: str, values: Sequence[str]) -> schema_store.MetadataSchema:
        return self._change_schema(lambda conn: schema_store.add_enum_options(conn, key, values))

    def schema_add_embedding(self, key: str, size: int) -> schema_store.MetadataSchema:
        return self._change_schema(lambda conn: schema_store.add_embedding(conn, key, size))

    def schema_add_geospatial(self, key: str) -> schema_store.MetadataSchema:
        return self._change_schema(lambda conn: schema_store.add_geospatial(conn, key))

    def schema_delete(self, key: str, hard: bool = False) -> schema_store.MetadataSchema:
        """Delete a key: soft (restorable) or hard (its type forgotten)."""
        return self._change_schema(lambda conn: schema_store.delete(conn, key, hard=hard))

    def schema_restore(self, key: str) -> schema_store.MetadataSchema:
        return self._change_schema(lambda conn: schema_store.restore(conn, key))

    def schema_import(self, doc: Any, *, source: str = "schema") -> schema_store.MetadataSchema:
        """Replace the whole schema with a document in the export form."""
        return self._change_schema(lambda conn: schema_store.import_schema(conn, doc, source=source))

    def schema_export(self) -> dict[str, dict[str, Any]]:
        return self.schema().to_json()

    def schema_verify(self, limit: int | None = None) -> list[schema_store.Violation]:
        """Every stored client metadata value that breaks the schema (at most ``limit``)."""
        with self.engine.connect() as conn:
            return schema_store.violations(conn, schema_store.load(conn), limit=limit)

    # embeddings

    def similar(
        self,
        key: str,
        *,
        item: str | None = None,
        frame: int | None = None,
        vector: Sequence[float] | None = None,
        k: int = 10,
        where: str | None = None,
        folder: str | None = None,
        exact: bool = False,
        condition: sa.ColumnElement[bool] | None = None,
    ) -> list[Hit]:
        """The ``k`` items (or video frames) nearest an item's vector, or a vector, under
        an embedding key, nearest first (cosine distance; ``docs/embeddings.md``);
        ``condition`` narrows the candidates further (an access scope on ``items``).

        >>> app.similar("clip", item="6f1c...", k=5, where='weather = "sunny"')  # doctest: +SKIP
        [Hit(item_id='9a2e...', frame=None, distance=0.0132), ...]
        """
        from accessio.search.vectors import VectorSearch

        with self.engine.connect() as conn:
            if item is not None:
                item = lookup.full_id(conn, items_table.c.id, item, "item")
            if where is not None and where.strip():
                schema = schema_store.load(conn)
                compiled = compile_filter(parse_filter(where), dialect=conn.dialect.name, schema=schema)
                condition = compiled if condition is None else sa.and_(condition, compiled)
            if folder is not None:
                inside = items_table.c.folder_id == lookup.folder(conn, folder).id
                condition = inside if condition is None else sa.and_(condition, inside)
        if self._vectors is None:
            self._vectors = VectorSearch(self.engine)
        return self._vectors.similar(key, item_id=item, frame=frame, vector=vector, k=k, where=condition, exact=exact)

    def import_embeddings(self, path: str | Path) -> ImportReport:
        """Import a JSON Lines file of vectors for registered items, all or nothing.

        >>> app.import_embeddings("vectors.jsonl")  # doctest: +SKIP
        ImportReport(imported=1000, replaced=0, items=1000)
        """
        from accessio.jobs.embedding_import import import_embeddings

        return import_embeddings(self.engine, path)

    def embedding_map(
        self, key: str, *, color_by: str | None = None, method: str = "pca", limit: int | None = None
    ) -> EmbeddingMap:
        """An embedding key's vectors projected to 2D (PCA, or UMAP when installed), with
        each point's value of the client metadata key ``color_by``.

        >>> app.embedding_map("clip", color_by="weather").points[0]  # doctest: +SKIP
        MapPoint(item_id='6f1c...', frame=None, name='a.jpg', x=1.73, y=-0.41, color='sunny')
        """
        from accessio.search.projection import MAP_LIMIT, ProjectionError, embedding_map

        with self.engine.connect() as conn:
            schema = schema_store.load(conn)
            if key not in schema.embedding_keys():
                raise ProjectionError(f"{key!r} is not an embedding key of the metadata schema")
            return embedding_map(
                conn, key, color_by=color_by, method=method, limit=MAP_LIMIT if limit is None else limit
            )

    def sync_vector_indexes(self) -> IndexSync:
        """Bring vector storage in line with the metadata schema (PostgreSQL: its HNSW indexes)."""
        from accessio.search.vectors import sync_vector_indexes

        with self.engine.begin() as conn:
            return sync_vector_indexes(conn, schema_store.load(conn))
