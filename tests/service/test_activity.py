"""Requests first: the activity board shared by a server's processes, and the pacer that
makes a job rest between chunks while requests come in."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from accessio.service.activity import BUSY_CHUNK_UNITS, ActivityBoard, Pacer, board_path


@pytest.fixture
def board(tmp_path: Path) -> Iterator[ActivityBoard]:
    board = ActivityBoard(tmp_path / "board")
    yield board
    board.close()


class Requests:
    """A thread that records requests on a board at a steady rate until stopped. A wake-up
    that comes late (a loaded machine) records every request due by then, so the rate the
    board sees holds over any window longer than the delay."""

    def __init__(self, board: ActivityBoard, per_second: float) -> None:
        self.board, self.per_second = board, per_second
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        began, recorded = time.monotonic(), 0
        while not self._stop.wait(1 / self.per_second):
            due = int((time.monotonic() - began) * self.per_second)
            for _ in range(due - recorded):
                self.board.record()
            recorded = max(recorded, due)

    def __enter__(self) -> Requests:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def test_processes_count_on_one_board(board: ActivityBoard) -> None:
    code = (
        "import sys; from pathlib import Path; from accessio.service.activity import ActivityBoard\n"
        "b = ActivityBoard(Path(sys.argv[1]))\n"
        "for _ in range(1000): b.record()\n"
    )
    before = board.requests()
    for process in [subprocess.Popen([sys.executable, "-c", code, str(board.path)]) for _ in range(3)]:
        assert process.wait(30) == 0
    board.record()
    assert board.requests() - before == 3001


def test_the_board_is_named_after_the_catalog() -> None:
    assert board_path("sqlite:///a.db") == board_path("sqlite:///a.db")
    assert board_path("sqlite:///a.db") != board_path("sqlite:///b.db")


def test_a_quiet_server_never_holds_a_job(board: ActivityBoard) -> None:
    pacer = Pacer(board)
    time.sleep(0.1)
    assert pacer.chunk_units(50_000) == 50_000
    time.sleep(0.2)  # "work"
    began = time.monotonic()
    pacer.pause()
    assert time.monotonic() - began < 0.3  # no rest (a busy server's would be 2.7 s here)
    assert pacer.busy is False
    assert pacer.chunk_units(50_000) == 50_000


def test_a_busy_server_gets_most_of_the_time(board: ActivityBoard) -> None:
    with Requests(board, 200):
        pacer = Pacer(board, share=0.25)
        time.sleep(0.1)
        assert pacer.chunk_units(50_000) == BUSY_CHUNK_UNITS  # the first chunk is already small
        time.sleep(0.2)  # "work": 0.2 s, so the rest is 0.6 s at a share of 25 %
        began = time.monotonic()
        pacer.pause()
        rested = time.monotonic() - began
    assert 0.45 < rested < 1.5, rested
    assert pacer.busy is True
    assert pacer.chunk_units(50_000) == BUSY_CHUNK_UNITS


def test_a_job_picks_up_as_soon_as_requests_stop(board: ActivityBoard) -> None:
    requests = Requests(board, 200).__enter__()
    pacer = Pacer(board, share=0.01)
    time.sleep(0.5)  # 0.5 s of work at a 1 % share: a rest of 49.5 s while requests come
    threading.Timer(0.3, requests.stop).start()
    began = time.monotonic()
    pacer.pause()
    rested = time.monotonic() - began
    assert 0.25 < rested < 1.5, rested
    assert pacer.busy is False
    assert pacer.chunk_units(50_000) == 50_000


def test_stopping_the_server_ends_a_rest(board: ActivityBoard) -> None:
    stop = threading.Event()
    with Requests(board, 200):
        pacer = Pacer(board, share=0.01)
        time.sleep(0.5)
        threading.Timer(0.2, stop.set).start()
        began = time.monotonic()
        pacer.pause(stop)
        assert time.monotonic() - began < 1.5


def test_a_share_is_a_fraction(board: ActivityBoard) -> None:
    with pytest.raises(ValueError, match="share"):
        Pacer(board, share=0)
