"""The Celery application of Accessio's workers, and sending chunks to them.

Settings, and why:

- ``task_acks_late`` and ``task_reject_on_worker_lost``: a chunk's message is acknowledged
  once the chunk ended; a worker killed while working it leaves it in the broker.
- ``worker_prefetch_multiplier = 1``: a worker reserves one chunk beyond the one it works,
  so that chunks go to the workers that are free.
- The broker's visibility timeout (Redis): a message not acknowledged for that long is
  delivered again. It is set above the longest chunk (``VISIBILITY_S``); the catalog's
  chunk leases find a dead worker's chunk sooner (``catalog.chunks.sweep``), and a second
  delivery of a chunk finished or held is dropped by its claim.
- Messages are JSON, no results are stored (the catalog holds every outcome).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import Celery
from kombu.utils.url import maybe_sanitize_url

from accessio.errors import AccessioError

log = logging.getLogger("accessio.cluster")

TASK = "accessio.chunk"
DEFAULT_QUEUE = "accessio"
# A chunk reads at most CHUNK_READS objects (handoff.py): at a worst case of one read
# timing out (30 s) per 32 concurrent reads, 2,000 reads take ~31 minutes; 2 hours is above.
VISIBILITY_S = 7_200


class BrokerMissing(AccessioError):
    """No broker is configured."""

    status = 400
    code = "executor.setup"


class BrokerUnreachable(AccessioError):
    """The broker cannot be reached."""

    status = 503
    code = "broker.unreachable"


def broker_url(given: str | None = None) -> str:
    """The broker: ``given`` (a flag), else ``$ACCESSIO_BROKER_URL``."""
    url = given or os.environ.get("ACCESSIO_BROKER_URL")
    if not url:
        raise BrokerMissing(
            "the Celery executor needs a broker: set ACCESSIO_BROKER_URL (e.g. redis://host:6379/0)"
            " or pass --broker-url"
        )
    return url


def shown(url: str) -> str:
    """A broker URL for messages: without its password."""
    return str(maybe_sanitize_url(url))


def make_celery(url: str) -> Celery:
    """The Celery application on the broker at ``url`` (the chunk task is registered by the worker)."""
    app = Celery("accessio", broker=url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=DEFAULT_QUEUE,
        broker_transport_options={"visibility_timeout": VISIBILITY_S},
        broker_connection_retry_on_startup=True,
        worker_cancel_long_running_tasks_on_connection_loss=False,  # a chunk in work finishes; its write decides
        worker_hijack_root_logger=False,
        broker_heartbeat=0,
    )
    return app


_RETRY = {"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5}


class ChunkSender:
    """Sends chunk messages (``job id``, ``chunk index``) to their queue."""

    def __init__(self, url: str, celery: Celery | None = None) -> None:
        self.url = url
        self.celery = celery or make_celery(url)

    def send(self, job_id: str, chunks: list[tuple[int, str]]) -> None:
        """Send the chunks (index, queue) of a job; :class:`BrokerUnreachable` on failure
        (the chunks stay marked sent in the catalog: the workers' sweep sends them again)."""
        try:
            for index, queue in chunks:
                self.celery.send_task(TASK, args=[job_id, index], queue=queue, retry=True, retry_policy=_RETRY)
        except Exception as exc:  # kombu raises the transport's own errors
            raise BrokerUnreachable(
                f"the broker at {shown(self.url)} cannot be reached ({type(exc).__name__}): job {job_id} is stored;"
                " a worker sends its chunks again once the broker is back"
            ) from None

    def close(self) -> None:
        self.celery.close()


def task_options() -> dict[str, Any]:
    return {"name": TASK, "acks_late": True, "reject_on_worker_lost": True, "ignore_result": True}
