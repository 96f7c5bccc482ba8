"""A worker process of the server's executor: ``python -m accessio.service.worker JOB``.

The catalog comes in ``ACCESSIO_CATALOG`` (never on the command line, where other
users of the machine could read a password in it), the server's lease holder in
``ACCESSIO_TAKE_OVER``, the server's activity board in ``ACCESSIO_ACTIVITY`` (the job
yields to requests, keeping ``ACCESSIO_BUSY_SHARE`` of the time while they come).
SIGTERM and SIGINT stop the job at its next chunk boundary; it stays PENDING and
resumes later.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

from accessio.catalog.jobs import JobBusy
from accessio.service.activity import ActivityBoard, Pacer
from accessio.service.app import Accessio


def main(job_id: str) -> int:
    stop = threading.Event()

    def request_stop(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s accessio-worker %(levelname)s %(message)s")
    board = os.environ.get("ACCESSIO_ACTIVITY")
    pace = Pacer(ActivityBoard(Path(board)), share=float(os.environ["ACCESSIO_BUSY_SHARE"])) if board else None
    with Accessio(os.environ["ACCESSIO_CATALOG"]) as app:
        try:
            app.job(job_id).run(stop=stop, take_over=os.environ.get("ACCESSIO_TAKE_OVER"), pace=pace)
        except JobBusy as exc:
            logging.info("job %s: %s", job_id, exc.message)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
