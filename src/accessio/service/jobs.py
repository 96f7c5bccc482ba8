"""Registration jobs as a principal sees them: submit, find, list, cancel, report.

A job is seen through its folder. Submitting needs the editor role in the folder and
an integration granted to the caller (admins: any); without an integration, the job
registers files the caller uploaded into that folder (see :mod:`.files`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from accessio.catalog import integrations as integration_store
from accessio.catalog import jobs as job_store
from accessio.catalog.accounts import Role
from accessio.catalog.errors import NotFound
from accessio.catalog.schema import folders, integrations, items, jobs
from accessio.service.access import Principal, Scope, integration_condition, scope_of
from accessio.service.app import Accessio, Job, job_json
from accessio.service.files import check_uploaded_urls
from accessio.service.folders import Seen, folder_for
from accessio.spec import UploadSpec

ITEMS_WITH_NAMES_MAX = 10_000  # a job's created items listed in its long-poll answer


def visible_integrations(app: Accessio, who: Principal) -> list[integration_store.IntegrationRecord]:
    """The integrations a principal may register through (admins: all; members: granted)."""
    with app.engine.connect() as conn:
        query = sa.select(integrations.c.id).order_by(integrations.c.name)
        condition = integration_condition(who, integrations.c.id)
        if condition is not None:
            query = query.where(condition)
        return [integration_store.get(conn, integration_id) for integration_id in conn.execute(query).scalars()]


def integration_for(conn: sa.Connection, who: Principal, name_or_id: str) -> integration_store.IntegrationRecord:
    """An integration the principal may use; :class:`NotFound` otherwise."""
    try:
        record = integration_store.get(conn, name_or_id)
    except NotFound:
        raise NotFound("integration", name_or_id) from None
    condition = integration_condition(who, integrations.c.id)
    if condition is not None:
        granted = conn.execute(sa.select(integrations.c.id).where(integrations.c.id == record.id, condition)).first()
        if granted is None:
            raise NotFound("integration", name_or_id)
    return record


def submit(
    app: Accessio,
    who: Principal,
    folder_id: str,
    spec: UploadSpec,
    *,
    integration: str | None,
    ignore_errors: bool = False,
    file_name: str | None = None,
    lease_holder: str | None = None,
    sequence_fps: float | None = None,
) -> Job:
    """Store a registration job (nothing is read yet); ``lease_holder`` is the executor
    that will work it; ``sequence_fps`` the frame rate of its image sequences' videos."""
    with app.engine.connect() as conn:
        folder = folder_for(conn, scope_of(conn, who), folder_id, Role.EDITOR).folder
        if integration is None:
            urls = (url for _, _, unit in spec.units() for url in unit.urls)
            integration_id = check_uploaded_urls(conn, who, folder.id, urls)
        else:
            integration_id = integration_for(conn, who, integration).id
    return app.store_job(
        spec,
        folder_id=folder.id,
        integration_id=integration_id,
        ignore_errors=ignore_errors,
        file_name=file_name,
        owner_id=who.user_id,
        lease_holder=lease_holder,
        sequence_fps=sequence_fps,
    )


def _job_in_scope(
    conn: sa.Connection, scope: Scope, job_id: str, need: Role = Role.VIEWER
) -> tuple[job_store.JobRecord, Seen]:
    try:
        record = job_store.get(conn, job_id)
        seen = folder_for(conn, scope, record.folder_id, need)
    except NotFound:
        raise NotFound("job", job_id) from None
    return record, seen


def get_job(app: Accessio, who: Principal, job_id: str, *, folder_id: str | None = None) -> job_store.JobRecord:
    """A job the principal sees (in ``folder_id``, when given)."""
    with app.engine.connect() as conn:
        record, seen = _job_in_scope(conn, scope_of(conn, who), job_id)
    if folder_id is not None and seen.folder.id != folder_id:
        raise NotFound("job", job_id)
    return record


def show_job(app: Accessio, who: Principal, job_id: str, *, max_errors: int = 1000) -> dict[str, Any]:
    """A job as ``jobs show --json`` prints it."""
    with app.engine.connect() as conn:
        record, _ = _job_in_scope(conn, scope_of(conn, who), job_id)
        return job_json(conn, record, max_errors=max_errors)


def list_jobs(app: Accessio, who: Principal, *, limit: int = 50) -> list[dict[str, Any]]:
    """The most recent jobs of the folders the principal sees, newest first."""
    with app.engine.connect() as conn:
        scope = scope_of(conn, who)
        query = sa.select(jobs.c.id).order_by(jobs.c.created_at.desc()).limit(limit)
        visible = scope.folder_condition()
        if visible is not None:
            query = query.where(jobs.c.folder_id.in_(sa.select(folders.c.id).where(visible)))
        return [job_json(conn, job_store.get(conn, job_id), max_errors=0) for job_id in conn.execute(query).scalars()]


def cancel(app: Accessio, who: Principal, job_id: str, *, folder_id: str | None = None) -> int:
    """Cancel a job (editors of its folder); how many units were cancelled."""
    with app.engine.begin() as conn:
        record, seen = _job_in_scope(conn, scope_of(conn, who), job_id, Role.EDITOR)
        if folder_id is not None and seen.folder.id != folder_id:
            raise NotFound("job", job_id)
        return job_store.cancel(conn, record.id)


def job_handle(app: Accessio, who: Principal, job_id: str, need: Role = Role.VIEWER) -> Job:
    """A :class:`Job` handle once the principal may see (or change) the job."""
    with app.engine.connect() as conn:
        _job_in_scope(conn, scope_of(conn, who), job_id, need)
    return Job(app, job_id)


def items_with_names(app: Accessio, job_id: str, limit: int = ITEMS_WITH_NAMES_MAX) -> list[tuple[str, str]]:
    """The top-level items a job created, in unit order: ``(item id, name)``.

    A job's item ids share its id's first 24 characters (``jobs.units.item_id``), so
    they are a range of the primary key: no index on ``job_id`` is needed to find them."""
    prefix = job_id[:24]
    with app.engine.connect() as conn:
        query = (
            sa.select(items.c.id, items.c.name)
            .where(
                items.c.id >= prefix + "0" * 12,
                items.c.id <= prefix + "f" * 12,
                items.c.job_id == job_id,
                items.c.parent_item_id.is_(None),
            )
            .order_by(items.c.id)
            .limit(limit)
        )
        return [(row.id, row.name) for row in conn.execute(query)]
