"""What a unit's client metadata holds for the embeddings table (SPEC section 5,
"Custom embeddings"), checked against the metadata schema.

- Any item: the value under an embedding key of the schema is the item's own vector
  (for image groups and sequences, the group's ``clientMetadata``).
- Videos: ``$encord.frames`` holds frames, keyed by frame number (or by seconds, as
  strings, with ``keyframe_mode: "seconds"``), each an object of that frame's
  metadata; values under embedding keys are the frame's vectors. Which frames are
  imported: frame 0, every keyframe (a frame listed, unless its entry says
  ``{"$encord": {"keyframe": false}}``), and the frames the sampling rate picks (one
  every ``fps / sampling_rate`` frames, from frame 0; rate 0 picks none). A frame
  entry that is none of these is not imported: its vectors are dropped.

Vectors are stored in the embeddings table only: the client metadata kept with the
item is the one given minus the vectors (frame entries keep their other keys).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from accessio.catalog.embeddings import to_blob
from accessio.catalog.metadata_schema import ENCORD_KEY, MetadataSchema, check_client_metadata
from accessio.catalog.schema import items
from accessio.jobs.units import ObjectFacts
from accessio.spec import model

DEFAULT_SAMPLING_RATE = 1.0  # frames per second
_FLOAT32_MAX = 3.4028234663852886e38  # numpy's finfo(float32).max (numpy is imported where vectors are made)
_FRAME_NUMBER = re.compile(r"0|[1-9][0-9]*")
_SECONDS = re.compile(r"(0|[1-9][0-9]*)(\.[0-9]+)?")
_ENCORD_FIELDS = ("config", "frames")
_CONFIG_FIELDS = ("sampling_rate", "keyframe_mode")

Vectors = list[tuple[str, int | None, bytes]]  # (key, frame or None, float32 bytes)


class EmbeddingProblem(Exception):
    """Client metadata whose embeddings cannot be imported; the message says where and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class VideoFacts:
    """What placing frames needs of a video (supplied or probed)."""

    fps: float | None = None
    frame_count: int | None = None
    duration: float | None = None


@dataclass(frozen=True)
class Extracted:
    vectors: Vectors
    client_metadata: Mapping[str, Any]  # as the item keeps it: without the vectors (the same object if none)


def needs_extraction(schema: MetadataSchema, metadata: Mapping[str, Any] | None, *, video: bool) -> bool:
    """Whether :func:`extract` has anything to check or take in this metadata."""
    if not metadata:
        return False
    return bool(schema.keys) or (video and ENCORD_KEY in metadata)


def extract(schema: MetadataSchema, metadata: Mapping[str, Any], video: VideoFacts | None = None) -> Extracted:
    """Check ``metadata`` against the schema and take its vectors out; ``video`` is given
    for videos (their ``$encord`` frames are read), ``None`` for every other item.
    Raises :class:`EmbeddingProblem`."""
    problem = check_client_metadata(schema, metadata)
    if problem is not None:
        raise EmbeddingProblem(problem)
    keys = schema.embedding_keys()
    vectors: Vectors = []
    taken = [key for key in keys if key in metadata]
    frames = video is not None and ENCORD_KEY in metadata
    if not taken and not frames:
        return Extracted(vectors, metadata)
    kept = dict(metadata)
    for key in taken:
        vectors.append((key, None, vector_bytes(metadata[key], f"clientMetadata key {_quoted(key)}")))
        del kept[key]
    if video is not None and frames:
        frame_vectors, kept[ENCORD_KEY] = _frames(schema, keys, metadata[ENCORD_KEY], video)
        vectors.extend(frame_vectors)
    return Extracted(vectors, kept)


def vector_bytes(value: Any, where: str) -> bytes:
    """A checked embedding value (a list of numbers of the key's size) as float32 bytes;
    float32 must hold it, and it must not be all zeros (cosine distance needs a direction)."""
    import numpy as np  # noqa: PLC0415 - a registration without embeddings starts without it

    array = np.asarray(value, dtype=np.float64)
    if array.size and float(np.max(np.abs(array))) > _FLOAT32_MAX:
        raise EmbeddingProblem(f"{where}: a number is beyond the range of float32 (±3.4e38)")
    vector = array.astype(np.float32)
    if not np.any(vector):
        raise EmbeddingProblem(f"{where}: an embedding of zeros has no direction; cosine similarity needs one")
    return to_blob(vector)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _frames(
    schema: MetadataSchema, keys: dict[str, int], encord: Any, video: VideoFacts
) -> tuple[Vectors, dict[str, Any]]:
    where = f"clientMetadata[{_quoted(ENCORD_KEY)}]"
    if not isinstance(encord, Mapping):
        raise EmbeddingProblem(f'{where}: expected an object with "config" and "frames"')
    unknown = sorted(set(encord) - set(_ENCORD_FIELDS))
    if unknown:
        raise EmbeddingProblem(f'{where}: unknown key {_quoted(unknown[0])} (known: "config", "frames")')
    rate, seconds = _config(encord.get("config", {}), f"{where}.config")
    frames = encord.get("frames", [])
    kept = dict(encord)
    if isinstance(frames, list):
        for position, entry in enumerate(frames):
            _place(entry, seconds, video, f"{where}.frames[{position}]")
        return [], kept
    if not isinstance(frames, Mapping):
        raise EmbeddingProblem(f"{where}.frames: expected a list of keyframes or an object keyed by frame")
    vectors: Vectors = []
    kept_frames: dict[str, Any] = {}
    placed: dict[int, str] = {}
    for name, entry in frames.items():
        at = f"{where}.frames[{_quoted(name)}]"
        pattern = _SECONDS if seconds else _FRAME_NUMBER
        if not isinstance(name, str) or pattern.fullmatch(name) is None:
            wanted = "a number of seconds" if seconds else "a frame number"
            raise EmbeddingProblem(f"{at}: the key must be {wanted} (0, 1, 2, ...)")
        frame = _place(float(name) if seconds else int(name), seconds, video, at)
        if frame in placed:
            raise EmbeddingProblem(f"{at}: frame {frame} is given twice (also as {_quoted(placed[frame])})")
        placed[frame] = name
        if not isinstance(entry, Mapping):
            raise EmbeddingProblem(f"{at}: a frame's entry is an object of its metadata")
        keyframe = _keyframe(entry.get(ENCORD_KEY, {}), f"{at}[{_quoted(ENCORD_KEY)}]")
        values = {k: v for k, v in entry.items() if k != ENCORD_KEY}
        problem = check_client_metadata(schema, values)
        if problem is not None:
            raise EmbeddingProblem(f"{at}: {problem}")
        imported = frame == 0 or keyframe or _sampled(frame, rate, video, at)
        kept_entry = dict(entry)
        for key in keys:
            if key in values:
                blob = vector_bytes(values[key], f"{at}: key {_quoted(key)}")
                if imported:
                    vectors.append((key, frame, blob))
                del kept_entry[key]
        kept_frames[name] = kept_entry
    kept["frames"] = kept_frames
    return vectors, kept


def _config(config: Any, where: str) -> tuple[float, bool]:
    """The sampling rate and whether frames are keyed by seconds."""
    if not isinstance(config, Mapping):
        raise EmbeddingProblem(f"{where}: expected an object")
    unknown = sorted(set(config) - set(_CONFIG_FIELDS))
    if unknown:
        raise EmbeddingProblem(f'{where}: unknown key {_quoted(unknown[0])} (known: "sampling_rate", "keyframe_mode")')
    rate = config.get("sampling_rate", DEFAULT_SAMPLING_RATE)
    if not _number(rate) or rate < 0:
        raise EmbeddingProblem(f"{where}.sampling_rate: expected frames per second, a number >= 0, got {rate!r}")
    mode = config.get("keyframe_mode", "frame")
    if mode not in ("frame", "seconds"):
        raise EmbeddingProblem(f'{where}.keyframe_mode: expected "frame" or "seconds", got {mode!r}')
    return float(rate), mode == "seconds"


def _keyframe(marker: Any, where: str) -> bool:
    if not isinstance(marker, Mapping) or set(marker) - {"keyframe"}:
        raise EmbeddingProblem(f'{where}: expected {{"keyframe": true|false}}')
    keyframe = marker.get("keyframe", True)
    if not isinstance(keyframe, bool):
        raise EmbeddingProblem(f"{where}.keyframe: expected true or false, got {keyframe!r}")
    return keyframe


def _place(position: Any, seconds: bool, video: VideoFacts, where: str) -> int:
    """The frame number of a frame given by number or by seconds, checked against the video."""
    if seconds:
        if not _number(position) or position < 0:
            raise EmbeddingProblem(f"{where}: expected a number of seconds >= 0, got {position!r}")
        fps = _fps(video, where, "to turn seconds into frames")
        frame: int = math.floor(float(position) * fps + 0.5)
    else:
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise EmbeddingProblem(f"{where}: expected a frame number (a whole number >= 0), got {position!r}")
        frame = int(position)
    last = _last_frame(video)
    if last is not None and frame > last:
        raise EmbeddingProblem(f"{where}: frame {frame:,} is past the video's last frame ({last:,})")
    return frame


def _last_frame(video: VideoFacts) -> int | None:
    if video.frame_count:
        return video.frame_count - 1
    if video.fps and video.duration:
        return math.ceil(video.duration * video.fps)  # supplied figures: allow their rounding
    return None


def _fps(video: VideoFacts, where: str, purpose: str) -> float:
    if not video.fps or video.fps <= 0:
        raise EmbeddingProblem(f"{where}: the video's fps is needed {purpose}: supply videoMetadata.fps")
    return video.fps


def _sampled(frame: int, rate: float, video: VideoFacts, where: str) -> bool:
    """Whether sampling at ``rate`` frames per second picks ``frame``: the frames
    ``round(j * fps / rate)`` for j = 0, 1, 2, ..."""
    if rate <= 0:
        return False
    fps = _fps(video, where, "to tell which frames the sampling rate picks")
    step = fps / rate
    if step <= 1:
        return True
    nearest = round(frame / step)
    return any(math.floor(j * step + 0.5) == frame for j in (nearest - 1, nearest, nearest + 1) if j >= 0)


def video_facts(unit: model.Unit, facts: dict[str, ObjectFacts], stored: VideoFacts | None = None) -> VideoFacts | None:
    """What placing a video's frames needs: supplied metadata, else what was read, else
    the catalog's row (an upserted video is not read again); ``None`` for other units.
    An image sequence's facts are its video's (``stored``: the one just made, or its row)."""
    if isinstance(unit, model.ImageGroup) and unit.create_video:
        return stored or VideoFacts(frame_count=len(unit.urls))
    if not isinstance(unit, model.Video):
        return None
    if unit.video_metadata is not None:
        return VideoFacts(fps=unit.video_metadata.fps, duration=unit.video_metadata.duration)
    read = facts.get(unit.object_url)
    if read is not None:
        columns = read.columns
        return VideoFacts(columns.get("fps"), columns.get("frame_count"), columns.get("duration"))
    return stored or VideoFacts()


def existing_videos(
    engine: sa.Engine, schema: MetadataSchema, duplicate_of: dict[int, str], units: list[model.Unit], first: int
) -> dict[str, VideoFacts]:
    """Stored facts of the videos about to be upserted with ``$encord`` frames."""
    wanted = [
        item
        for index, item in duplicate_of.items()
        if (
            (isinstance(unit := units[index - first], model.Video) and unit.video_metadata is None)
            or (isinstance(unit, model.ImageGroup) and unit.create_video)
        )
        and needs_extraction(schema, unit.client_metadata, video=True)
    ]
    if not wanted:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(items.c.id, items.c.fps, items.c.frame_count, items.c.duration).where(items.c.id.in_(wanted))
        ).all()
    return {row.id: VideoFacts(row.fps, row.frame_count, row.duration) for row in rows}
