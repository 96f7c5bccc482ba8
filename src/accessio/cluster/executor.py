"""``accessio serve --executor celery``: the server hands its jobs to the workers.

The server stores a job as always (leased to itself, so it never looks interrupted),
then plans it into chunks and sends the first of them (:func:`.handoff.hand_to_workers`)
in a thread beside the requests (a sync of a synced folder, which plans itself as it
lists, runs in the server as with the in-process executor). Jobs of the in-process executor left interrupted (a
server that ran before with ``--executor local``) are handed over too, from where they
stopped. Waiting, notifying and cancelling work as for the in-process executor: the
catalog says how far a job is.
"""

from __future__ import annotations

import asyncio
import logging

from accessio.cluster.broker import ChunkSender, broker_url, shown
from accessio.cluster.handoff import hand_to_workers, queue_name, require_postgres
from accessio.errors import AccessioError
from accessio.service.app import Accessio
from accessio.service.executor import Executor, ExecutorSettings

log = logging.getLogger("accessio.executor")


class CeleryExecutor(Executor):
    """Hands the server's jobs to Celery workers (see the module docstring)."""

    def __init__(self, app: Accessio, settings: ExecutorSettings | None = None) -> None:
        super().__init__(app, settings)
        require_postgres(app.engine)
        self.url = broker_url(self.settings.broker_url)
        self.queue = queue_name(self.settings.queue)
        self._sender: ChunkSender | None = None
        self._handing: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._sender = ChunkSender(self.url)
        log.info("jobs go to the workers of queue %s on %s", self.queue, shown(self.url))
        await super().start()

    async def stop(self) -> None:
        if self._handing:
            await asyncio.wait(self._handing, timeout=self.settings.stop_timeout_s)
        await super().stop()
        if self._sender is not None:
            self._sender.close()

    def submit(self, job_id: str, units_total: int) -> None:
        """Hand a job this server holds the lease of to the workers; callable from the
        event loop or from a request thread."""
        if self._loop is not None and not self._on_loop():
            self._loop.call_soon_threadsafe(self.submit, job_id, units_total)
            return
        if self._stop.is_set():
            return
        task = asyncio.create_task(asyncio.to_thread(self._hand, job_id), name=f"accessio-handoff-{job_id}")
        self._handing.add(task)
        task.add_done_callback(self._handing.discard)

    def _hand(self, job_id: str) -> None:
        assert self._sender is not None
        if self._record(job_id).kind == "sync":  # a sync lists and plans as it goes: it runs in this server
            assert self._loop is not None
            self._loop.call_soon_threadsafe(Executor.submit, self, job_id, 0)
            return
        try:
            hand_to_workers(self.app, job_id, self._sender, queue=self.queue)
        except AccessioError as exc:
            log.error("job %s: %s", job_id, exc.message)
        except Exception:
            log.exception("job %s could not be handed to the workers; the next start tries again", job_id)
