"""The notification bell (polled every second by the page), a job's page, and its
failure report downloads."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from litestar import Request, Response, get
from litestar.params import FromPath

from accessio.api.state import ServerDep
from accessio.service import jobs as job_service
from accessio.web.render import SECURITY_HEADERS, page
from accessio.web.session import VisitorDep

BELL_JOBS = 10
_RUNNING = frozenset({"queued", "running"})


@get("/jobs/bell")
async def bell(request: Request[Any, Any, Any], server: ServerDep, visitor: VisitorDep) -> Response[str]:
    """The bell's panel: recent jobs with their progress, and the badge (running jobs)."""
    who = visitor.principal
    jobs = await to_thread.run_sync(lambda: job_service.list_jobs(server.app, who, limit=BELL_JOBS))
    running = sum(1 for job in jobs if job["state"] in _RUNNING)
    return page("partials/bell.html", jobs=jobs, running=running)


@get("/jobs/{job_id:str}")
async def job_page(
    request: Request[Any, Any, Any], job_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[str]:
    shown = await to_thread.run_sync(lambda: job_service.show_job(server.app, visitor.principal, job_id))
    return page("job.html", visitor=visitor, section="files", job=shown)


def _download(body: str | bytes, media_type: str, name: str) -> Response[Any]:
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=media_type, headers=headers)


@get("/jobs/{job_id:str}/failures.csv")
async def failures_csv(
    request: Request[Any, Any, Any], job_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[Any]:
    """"Download failed files (CSV)": one row per failed file, formulas defused."""
    job = await to_thread.run_sync(job_service.job_handle, server.app, visitor.principal, job_id)
    return _download(await to_thread.run_sync(job.failures_csv), "text/csv; charset=utf-8", f"failures-{job_id}.csv")


@get("/jobs/{job_id:str}/retry-spec.json")
async def retry_spec(
    request: Request[Any, Any, Any], job_id: FromPath[str], server: ServerDep, visitor: VisitorDep
) -> Response[Any]:
    """"Download retry spec": the failed units as a spec to fix and import again."""
    job = await to_thread.run_sync(job_service.job_handle, server.app, visitor.principal, job_id)
    return _download(await to_thread.run_sync(job.failures_spec), "application/json", f"retry-{job_id}.json")
