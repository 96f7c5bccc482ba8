"""Frames of an image sequence into one H.264 MP4 (yuv420p, ``+faststart``), with PyAV.

Frames are fetched and decoded by a pool of worker threads, at most :data:`WINDOW`
ahead of the encoder, and handed to it in order: whatever the length of the
sequence, only those frames are in memory (plus x264's own look-ahead). Each frame
is decoded with Pillow, turned upright by its EXIF orientation, and fitted to the
video's size: the **first frame's size** (after orientation), rounded up to even
numbers (yuv420p needs them). A frame of another size is **scaled to fit and
padded** (letterboxed, centred, black): nothing of any frame is cut off, and its
aspect ratio is kept. The first frame fills the video (the rounding adds at most one
black column or row, at the right or bottom).

A frame that is missing, unreadable, not an image, or larger than
:data:`MAX_FRAME_PIXELS` (or :data:`MAX_FRAME_BYTES`) stops the encoding with a
:class:`FrameProblem` that names its position and URL.
"""

from __future__ import annotations

import io
import warnings
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from accessio.errors import AccessioError
from accessio.jobs.reads import columns_of
from accessio.jobs.units import ObjectFacts
from accessio.probe import probe
from accessio.storage.errors import redact
from accessio.storage.reader import Fetched

if TYPE_CHECKING:
    import av
    from PIL import Image

# PyAV, numpy and Pillow are imported where frames are decoded and encoded: a job
# without image sequences (most) starts without them (a fifth of a second).

CODEC = "libx264"
PRESET = "medium"  # x264's default: its speed/size balance
CRF = 23  # x264's default quality
SETTINGS = f"{CODEC} preset={PRESET} crf={CRF} yuv420p faststart"  # part of a video's stable name

# The largest frame H.264 allows (level 6.2: 139,264 macroblocks of 16x16 pixels).
MAX_FRAME_PIXELS = 139_264 * 256
MAX_FRAME_BYTES = 64 * 1024 * 1024  # a frame is read whole
WINDOW = 8  # frames fetched and decoded ahead of the encoder
_ORIENTATION = 0x0112
_SWAPS_SIDES = frozenset({5, 6, 7, 8})  # EXIF orientations that turn the image by 90 degrees


class FrameProblem(Exception):
    """A frame that cannot go into the video: where it is, and what is wrong."""

    def __init__(self, position: int, url: str, problem: str, code: str = "sequence.frame") -> None:
        super().__init__(f"frame {position} ({redact(url)}): {problem}")
        self.message = str(self)
        self.position = position
        self.url = url
        self.code = code


@dataclass(frozen=True)
class Encoded:
    """What the encoder made: frames written, the video's size, and each frame's media metadata (by URL)."""

    frame_count: int
    width: int
    height: int
    frames: dict[str, ObjectFacts]


@dataclass(frozen=True)
class _Prepared:
    frame: av.VideoFrame
    size: tuple[int, int]  # the frame's own size, upright
    facts: ObjectFacts


def _open(data: bytes, position: int, url: str) -> Image.Image:
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415 - see the imports

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise FrameProblem(
            position, url, f"more than {MAX_FRAME_PIXELS:,} pixels", "sequence.frame_too_large"
        ) from None
    except UnidentifiedImageError:
        raise FrameProblem(position, url, "not an image Pillow can decode") from None
    except (OSError, ValueError) as exc:
        raise FrameProblem(position, url, f"the image cannot be decoded ({exc})") from None
    width, height = image.size
    if width * height > MAX_FRAME_PIXELS:
        raise FrameProblem(
            position,
            url,
            f"{width}x{height} is more than {MAX_FRAME_PIXELS:,} pixels (H.264's largest frame)",
            "sequence.frame_too_large",
        )
    return image


def _upright_size(image: Image.Image) -> tuple[int, int]:
    width, height = image.size
    orientation = image.getexif().get(_ORIENTATION, 1)
    return (height, width) if orientation in _SWAPS_SIDES else (width, height)


def _fit(size: tuple[int, int], canvas: tuple[int, int]) -> tuple[int, int]:
    """The size of a ``size`` image scaled to fit ``canvas`` with its aspect ratio kept."""
    scale = min(canvas[0] / size[0], canvas[1] / size[1])
    return max(1, min(canvas[0], round(size[0] * scale))), max(1, min(canvas[1], round(size[1] * scale)))


def _decode(
    data: bytes, position: int, url: str, canvas: tuple[int, int] | None
) -> tuple[Image.Image, tuple[int, int]]:
    """The frame upright, as RGB, fitted on ``canvas`` (``None``: the frame's own size,
    rounded up to even); and its own upright size."""
    from PIL import Image, ImageOps  # noqa: PLC0415 - see the imports

    image = _open(data, position, url)
    try:
        upright = _upright_size(image)
        target = canvas or (upright[0] + upright[0] % 2, upright[1] + upright[1] % 2)
        fitted = _fit(upright, target)
        if image.format == "JPEG" and fitted != upright:  # decode at 1/2, 1/4 or 1/8 scale when that is enough
            draft = fitted if upright == image.size else (fitted[1], fitted[0])
            image.draft("RGB", draft)
        image = ImageOps.exif_transpose(image)
        if image.mode != "RGB":
            image = image.convert("RGB")
        if image.size != fitted:
            image = image.resize(fitted, Image.Resampling.BILINEAR, reducing_gap=2.0)
        if image.size != target:
            padded = Image.new("RGB", target)
            padded.paste(image, ((target[0] - fitted[0]) // 2, (target[1] - fitted[1]) // 2))
            image = padded
    except (OSError, ValueError, SyntaxError) as exc:  # truncated or damaged data shows up on decoding
        raise FrameProblem(position, url, f"the image cannot be decoded ({exc})") from None
    return image, upright


def _prepare(
    fetch: Callable[[str], Fetched], position: int, url: str, canvas: tuple[int, int] | None
) -> tuple[_Prepared, tuple[int, int]]:
    import av  # noqa: PLC0415 - see the imports
    import numpy as np  # noqa: PLC0415

    try:
        got = fetch(url)
    except AccessioError as exc:
        raise FrameProblem(position, url, exc.message, exc.code) from None
    try:
        info = probe(io.BytesIO(got.data), "image", url=url)
    except AccessioError as exc:
        raise FrameProblem(position, url, exc.message, exc.code) from None
    facts = ObjectFacts(columns_of(info, got.etag))
    image, upright = _decode(got.data, position, url, canvas)
    # Bilinear chroma subsampling: half the cost of swscale's default (bicubic), and the
    # difference is below what the encoder keeps (the luma plane is not resampled).
    frame = av.VideoFrame.from_ndarray(np.asarray(image), format="rgb24")
    frame = frame.reformat(format="yuv420p", interpolation="FAST_BILINEAR")
    return _Prepared(frame, upright, facts), image.size


def encode_frames(
    fetch: Callable[[str], Fetched],
    urls: tuple[str, ...],
    output: Path,
    fps: float,
    *,
    threads: int = 0,
    window: int = WINDOW,
) -> Encoded:
    """Encode the frames at ``urls`` (each read whole by ``fetch``) into ``output``.

    ``threads``: x264's threads (0: its choice). Raises :class:`FrameProblem` on the
    first frame that cannot be used; ``output`` is then left as it is (the caller
    removes it)."""
    facts: dict[str, ObjectFacts] = {}
    import av  # noqa: PLC0415 - see the imports

    first, canvas = _prepare(fetch, 0, urls[0], None)
    facts[urls[0]] = first.facts
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(output), "w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream(CODEC, rate=rate)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = canvas
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": PRESET, "crf": str(CRF)}
        stream.codec_context.thread_count = threads
        time_base = 1 / rate

        def encode(frame: av.VideoFrame, position: int) -> None:
            frame.pts, frame.time_base = position, time_base
            container.mux(stream.encode(frame))

        encode(first.frame, 0)
        del first
        with ThreadPoolExecutor(max(1, window), thread_name_prefix="accessio-frames") as pool:
            ahead: deque[Future[tuple[_Prepared, tuple[int, int]]]] = deque()
            following = iter(range(1, len(urls)))
            try:
                for position in following:
                    ahead.append(pool.submit(_prepare, fetch, position, urls[position], canvas))
                    if len(ahead) >= window:
                        break
                position = 1
                while ahead:
                    prepared, _ = ahead.popleft().result()
                    facts[urls[position]] = prepared.facts
                    encode(prepared.frame, position)
                    position += 1
                    following_position = next(following, None)
                    if following_position is not None:
                        ahead.append(pool.submit(_prepare, fetch, following_position, urls[following_position], canvas))
            finally:
                for future in ahead:
                    future.cancel()
        container.mux(stream.encode(None))
    return Encoded(len(urls), canvas[0], canvas[1], facts)
