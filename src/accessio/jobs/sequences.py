"""Image sequences become videos: a job's sequences encoded (see :mod:`.encode`) and
written under their integration's write prefix.

A sequence's video has a **stable name**, ``<write prefix>/<digest>.mp4``, the digest
covering the frame URLs in order, the frame rate and the encoder's settings: a
resumed job, a rerun, or another job registering the same sequence finds the video
there and does not encode it again. The video is made on local disk (under the
system's temporary directory, ``accessio-sequences/``), uploaded under a temporary
name (``<write prefix>/.partial/<digest>/<host>-<pid>-<random>.mp4``) and then moved
to its name, so no half video ever bears it. Leftovers of a process that died are
removed when a sequence is next encoded: local files of processes gone from this
machine, and uploads older than :data:`PARTIAL_STALE_S`. Two processes encoding the
same sequence at once each make a whole video; the last move wins, and both items
point at the same name.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import socket
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from accessio.errors import AccessioError
from accessio.jobs.encode import MAX_FRAME_BYTES, SETTINGS, FrameProblem, encode_frames
from accessio.jobs.reads import DEFAULT_ACTION, ObjectSource, UnitFailure, failure_of, probe_object
from accessio.jobs.units import ObjectFacts
from accessio.spec import model
from accessio.storage.errors import redact
from accessio.storage.reader import Fetched
from accessio.storage.storage import ListedObject, ObjectInfo

DEFAULT_FPS = 25.0  # as ffmpeg reads numbered images when given no rate
MIN_FPS, MAX_FPS = 0.1, 240.0
PARTIAL_STALE_S = 15 * 60  # an upload under a temporary name lives seconds: older ones were left by a crash
PROBE_CONCURRENCY = 8  # frames probed at once when the video exists already
VIDEO_TYPE = "video/mp4"
_LOCAL_TEMP = re.compile(r"^[0-9a-f]{32}\.(\d+)\.[0-9a-f]+\.mp4$")

_log = logging.getLogger(__name__)


class SequenceStore(ObjectSource, Protocol):
    """What a job needs of storage when it makes videos (:class:`~accessio.storage.Storage` has it all)."""

    def read_object(self, url: str, max_bytes: int) -> Fetched: ...

    def write_url(self, name: str) -> str: ...

    def head(self, url: str) -> ObjectInfo | None: ...

    def put_file(self, url: str, path: str | Path, content_type: str) -> None: ...

    def move(self, source_url: str, target_url: str) -> None: ...

    def delete(self, url: str) -> None: ...

    def list_written(self, prefix_url: str) -> tuple[ListedObject, ...]: ...


class SequenceFpsInvalid(AccessioError):
    """A frame rate for image sequences outside what Accessio encodes."""

    status = 400
    code = "job.sequence_fps"


def check_sequence_fps(fps: float | None) -> None:
    """Refuse a frame rate for a job's image sequences outside :data:`MIN_FPS` to :data:`MAX_FPS`."""
    if fps is not None and not MIN_FPS <= fps <= MAX_FPS:
        raise SequenceFpsInvalid(f"the image sequences' frame rate must be {MIN_FPS:g} to {MAX_FPS:g} fps, not {fps:g}")


def is_sequence(unit: model.Unit) -> bool:
    return isinstance(unit, model.ImageGroup) and unit.create_video


def video_name(urls: tuple[str, ...], fps: float) -> str:
    """The digest naming a sequence's video: its frames in order, its rate, the encoder's settings."""
    text = "\n".join(("accessio image sequence 1", SETTINGS, repr(float(fps)), *urls))
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class Video:
    """A sequence's video: its URL and its item columns (probed from the written file)."""

    url: str
    columns: dict[str, Any]


WRITE_ACTION = (
    "Give the integration a write prefix (accessio integration set NAME --write-prefix URL) and re-submit the "
    "unit, or register the frames as an image group (createVideo: false)."
)
STRICT_ACTION = (
    "Register the sequence through an integration in server mode with a write prefix, or as an image group "
    "(createVideo: false)."
)


def strict_failure() -> UnitFailure:
    return UnitFailure(
        "the integration is strictClientOnly, so Accessio may not read the frames of this image sequence to encode "
        "its video",
        STRICT_ACTION,
    )


def _frame_failure(problem: FrameProblem) -> UnitFailure:
    return UnitFailure(
        f"image sequence: {problem.message}; no video was written",
        f"Replace or remove the frame at position {problem.position} ({redact(problem.url)}), then re-submit the unit.",
    )


def _unit_failure(exc: AccessioError) -> UnitFailure:
    failure = failure_of(exc)
    if exc.code == "storage.write_not_allowed":
        return UnitFailure(f"image sequence: its video must be written, and {exc.message}", WRITE_ACTION)
    return UnitFailure(f"image sequence: {failure.error}", failure.action)


def _temp_dir() -> Path:
    return Path(tempfile.gettempdir()) / "accessio-sequences"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _clean_local_leftovers(directory: Path) -> None:
    """Remove videos half made by processes of this machine that are gone."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    for name in names:
        match = _LOCAL_TEMP.match(name)
        if match and not _alive(int(match.group(1))):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(directory / name)


def _process_tag() -> str:
    host = re.sub(r"[^A-Za-z0-9.-]", "-", socket.gethostname())[:60] or "host"
    return f"{host}-{os.getpid()}"


def _clean_partials(source: SequenceStore, digest: str) -> None:
    """Remove uploads under a temporary name for ``digest`` left by a process that died."""
    prefix = source.write_url(f".partial/{digest}")
    now = datetime.now(UTC)
    tag = _process_tag().rsplit("-", 1)[0] + "-"
    for listed in source.list_written(prefix):
        name = listed.key.rsplit("/", 1)[-1]
        pid = name.removeprefix(tag).split("-", 1)[0]
        mine_and_dead = name.startswith(tag) and pid.isdigit() and not _alive(int(pid))
        stale = listed.last_modified is not None and (now - listed.last_modified).total_seconds() > PARTIAL_STALE_S
        if mine_and_dead or stale:
            source.delete(listed.url)


def _probe_frames(source: SequenceStore, urls: tuple[str, ...]) -> dict[str, ObjectFacts]:
    """Each frame's media metadata, when the video exists and the frames are not decoded."""

    def one(position: int) -> tuple[str, ObjectFacts]:
        url = urls[position]
        try:
            return url, probe_object(source, url, "image")
        except AccessioError as exc:
            raise FrameProblem(position, url, exc.message, exc.code) from None

    with ThreadPoolExecutor(PROBE_CONCURRENCY, thread_name_prefix="accessio-frames") as pool:
        return dict(pool.map(one, range(len(urls))))


def _upload(source: SequenceStore, url: str, local: Path) -> None:
    try:
        source.put_file(url, local, VIDEO_TYPE)
    except AccessioError as exc:
        if exc.code != "storage.not_found":
            raise
        # Local files: another encoding's cleanup can remove the empty directory of
        # temporary names while this upload makes it; the second attempt makes it again.
        source.put_file(url, local, VIDEO_TYPE)


def make_video(
    source: SequenceStore, unit: model.ImageGroup, fps: float, *, threads: int = 0
) -> tuple[Video, dict[str, ObjectFacts]]:
    """The video of one sequence, made unless it exists under its stable name; and its
    frames' media metadata. Raises :class:`FrameProblem` or an :class:`AccessioError`."""
    digest = video_name(unit.urls, fps)
    final = source.write_url(f"{digest}.mp4")
    if source.head(final) is not None:
        frames = _probe_frames(source, unit.urls)
        return Video(final, probe_object(source, final, "video").columns), frames
    directory = _temp_dir()
    directory.mkdir(parents=True, exist_ok=True)
    _clean_local_leftovers(directory)
    _clean_partials(source, digest)
    local = directory / f"{digest}.{os.getpid()}.{secrets.token_hex(6)}.mp4"
    try:
        fetch = partial(source.read_object, max_bytes=MAX_FRAME_BYTES)
        encoded = encode_frames(fetch, unit.urls, local, fps, threads=threads)
        partial_url = source.write_url(f".partial/{digest}/{_process_tag()}-{secrets.token_hex(6)}.mp4")
        try:
            _upload(source, partial_url, local)
            source.move(partial_url, final)
        except BaseException:
            with contextlib.suppress(AccessioError):
                source.delete(partial_url)
            raise
    finally:
        local.unlink(missing_ok=True)
    return Video(final, probe_object(source, final, "video").columns), encoded.frames


def make_videos(
    source: SequenceStore, wanted: list[tuple[int, model.ImageGroup]], fps: float, facts: dict[str, ObjectFacts]
) -> tuple[dict[int, Video], dict[int, UnitFailure]]:
    """The videos of a chunk's sequences, encoded in parallel up to the machine's cores
    (x264's threads shared among them); their frames' metadata into ``facts``."""
    videos: dict[int, Video] = {}
    failures: dict[int, UnitFailure] = {}
    if not wanted:
        return videos, failures
    cores = os.cpu_count() or 1
    parallel = min(len(wanted), cores)
    threads = 0 if parallel == 1 else max(1, cores // parallel)  # 0: x264 chooses (1.5 per core)

    def one(index: int, unit: model.ImageGroup) -> None:
        try:
            video, frames = make_video(source, unit, fps, threads=threads)
        except FrameProblem as problem:
            failures[index] = _frame_failure(problem)
        except AccessioError as exc:
            failures[index] = _unit_failure(exc)
        except Exception as exc:  # a fault of ours: the unit fails, the job goes on, the log keeps the trace
            _log.exception("encoding the image sequence %s failed", unit.display_title)
            failures[index] = UnitFailure(f"image sequence: encoding failed ({type(exc).__name__})", DEFAULT_ACTION)
        else:
            videos[index] = video
            facts.update(frames)

    with ThreadPoolExecutor(parallel, thread_name_prefix="accessio-sequence") as pool:
        for future in [pool.submit(one, index, unit) for index, unit in wanted]:
            future.result()
    return videos, failures
