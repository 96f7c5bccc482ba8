"""Thumbnails for the web app's folder grids, made on the server and cached on disk.

>>> thumbnails = Thumbnails(Path("/var/cache/accessio/thumbnails"))  # doctest: +SKIP
>>> thumb = thumbnails.thumbnail(app, row)  # an items-table row  # doctest: +SKIP
>>> (thumb.path, thumb.media_type, thumb.etag) if thumb else icon_name(row.item_type)  # doctest: +SKIP

An ``image`` shows itself (EXIF orientation applied); a ``video`` a poster frame (the
keyframe at or before 10 % of its duration, turned as players turn it); a ``dicomFile``
its first frame windowed to 8 bits (``None`` when pydicom has no decoder for its
transfer syntax); groups, sequences and series their first member. Other types have
none (``None``): the web app shows ``icon_name(item_type)``.

Every read goes through the item's integration (``strictClientOnly`` ones are refused
before anything is read) and is bounded: bytes read (``max_source_bytes``; a larger
image is refused before it is read), pixels declared by an image's, frame's or slice's
header (``max_pixels``, checked before any pixel is decoded), and time (``timeout_s``,
checked at every read and between steps: one step in C can overrun it by its own
length, which ``max_pixels`` bounds). Pillow's own guard (``MAX_IMAGE_PIXELS``,
process-wide, not ours to change) stays; when it fires the image is refused too. Only
the image formats the probes know are opened (never EPS, which Pillow hands to
Ghostscript). A refusal is a :class:`ThumbnailRefused` (422); storage failures are the
storage's own errors.

Thumbnails are WebP (quality 80), at most ``size`` pixels on their longer side, never
upscaled: a quarter to a third smaller than JPEG at the same quality, with alpha for
transparent images, shown by every browser the web app targets.

Cached files are named by a hash of what the picture depends on (item id,
``updated_at``, ETag, file size, thumbnail size): a changed item gets a new name and
nothing is invalidated (objects changed behind the catalog's back go unnoticed, as for
all media metadata). Files are written to a temporary name and renamed, so no thread or
server process sees half a file; the least recently used are deleted over
``max_cache_bytes`` (a path handed out may be gone by the time it is opened: ask again).
Threads of one process asking for the same missing thumbnail wait for one of them to
make it; refusals and "none" answers are remembered for five minutes, so a grid asking
again does not read again.

``thumbnail`` blocks on reads and decoding: call it from a worker thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol, cast

import av
import numpy as np
import pydicom
import sqlalchemy as sa
from PIL import Image, ImageOps, UnidentifiedImageError
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import pixel_array

from accessio.catalog.schema import items
from accessio.errors import AccessioError
from accessio.storage import AccessMode, Storage
from accessio.storage.errors import ObjectNotFound
from accessio.storage.urls import Provider

if TYPE_CHECKING:
    from accessio.service.app import Accessio

MEDIA_TYPE = "image/webp"
_FORMAT_VERSION = "1"  # part of every cache key: bump it when the pictures made change
_IMAGE_FORMATS = ("JPEG", "PNG", "GIF", "WEBP", "TIFF", "BMP", "AVIF")
_REMEMBER_S = 300.0  # how long a refusal or "no thumbnail" answer is remembered
_REMEMBERED_MAX = 4096
_MAX_PACKETS = 5000  # packets demuxed looking for a poster frame before giving up
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, InvalidDicomError, av.FFmpegError)

_ICONS = {
    "video": "video",
    "image": "image",
    "imageGroup": "images",
    "imageSequence": "film",
    "dicomSeries": "scan-stack",
    "dicomFile": "scan",
    "audio": "audio",
    "plainText": "text",
    "pdf": "pdf",
    "nifti": "volume",
}
_GROUPS = frozenset({"imageGroup", "imageSequence", "dicomSeries"})


def icon_name(item_type: str) -> str:
    """The icon the web app shows for an item type without a thumbnail (``"file"`` for
    a type it does not know).

    >>> icon_name("pdf")
    'pdf'
    """
    return _ICONS.get(item_type, "file")


class ThumbnailRefused(AccessioError):
    """The server will not make this item's thumbnail; ``reason`` says why:
    ``readNotAllowed`` (a ``strictClientOnly`` integration), ``tooLarge`` (bytes),
    ``tooManyPixels``, ``timeout`` or ``unreadable`` (a damaged file)."""

    status = 422
    code = "thumbnail.refused"

    def __init__(self, item_id: str, reason: str, detail: str) -> None:
        super().__init__(f"no thumbnail for item {item_id}: {detail}")
        self.item_id = item_id
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Thumbnail:
    """A cached thumbnail: the file to send, its media type, and an ETag (quoted, as
    the header wants it) that changes whenever the picture does."""

    path: Path
    media_type: str
    etag: str


def first_child(app: Accessio, item_id: str) -> Any:
    """The first member (by position) of a group or series, or ``None``."""
    query = (
        sa.select(items)
        .where(items.c.parent_item_id == item_id, items.c.is_tombstone.is_(sa.false()))
        .order_by(items.c.position)
        .limit(1)
    )
    with app.engine.connect() as conn:
        return conn.execute(query).first()


class Thumbnails:
    """Makes and caches item thumbnails (see the module docstring).

    ``hits`` and ``made`` count the thumbnails served from the cache and those decoded
    and written, in this object's life.
    """

    def __init__(
        self,
        cache_dir: Path,
        *,
        max_cache_bytes: int = 1 << 30,
        size: int = 256,
        max_source_bytes: int = 64 << 20,
        max_pixels: int = 100_000_000,
        timeout_s: float = 10.0,
    ) -> None:
        if size < 16 or min(max_cache_bytes, max_source_bytes, max_pixels) < 1 or timeout_s <= 0:
            raise ValueError("thumbnail bounds must be positive, and size at least 16")
        self.size = size
        self.max_source_bytes = max_source_bytes
        self.max_pixels = max_pixels
        self.timeout_s = timeout_s
        self.hits = 0
        self.made = 0
        self._cache = _DiskCache(Path(cache_dir), max_cache_bytes)
        self._locks = _KeyLocks()
        self._remembered: OrderedDict[str, tuple[float, str | None, str]] = OrderedDict()
        self._guard = threading.Lock()

    def thumbnail(self, app: Accessio, row: Any) -> Thumbnail | None:
        """The thumbnail of an items-table row, from the cache or made now; ``None`` when
        the item has none (show ``icon_name(row.item_type)``).

        Raises :class:`ThumbnailRefused`, or the storage's errors (``ObjectNotFound``...).
        """
        if row.item_type in _GROUPS:
            row = first_child(app, row.id)
            if row is None:
                return None
        if row.item_type not in ("image", "video", "dicomFile") or row.url is None or row.integration_id is None:
            return None
        storage = app.storage(row.integration_id)
        if storage.integration.access_mode is AccessMode.STRICT_CLIENT_ONLY:
            # checked before the cache too: a thumbnail made before the mode changed is not served
            raise ThumbnailRefused(row.id, "readNotAllowed", "its integration is strictClientOnly")
        key = self._key(row)
        found, thumb = self._cached(key, row.id)
        if found:
            return thumb
        with self._locks.hold(key):
            found, thumb = self._cached(key, row.id)  # made by another thread while this one waited?
            return thumb if found else self._make(storage, row, key)

    def cached(self, app: Accessio, row: Any) -> Thumbnail | None:
        """The thumbnail of a single-object item when it is on disk already (nothing is
        read or made: cheap enough for an event loop); ``None`` otherwise."""
        if row.item_type not in ("image", "video", "dicomFile") or row.url is None or row.integration_id is None:
            return None
        if app.storage(row.integration_id).integration.access_mode is AccessMode.STRICT_CLIENT_ONLY:
            return None
        path = self._cache.get(self._key(row))
        if path is None:
            return None
        with self._guard:
            self.hits += 1
        return Thumbnail(path, MEDIA_TYPE, f'"{self._key(row)}"')

    def _key(self, row: Any) -> str:
        updated = row.updated_at.isoformat() if row.updated_at is not None else ""
        parts = (_FORMAT_VERSION, row.id, updated, row.etag or "", str(row.file_size), str(self.size))
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:40]

    def _cached(self, key: str, item_id: str) -> tuple[bool, Thumbnail | None]:
        """``(True, answer)`` from the disk or a remembered answer; ``(False, None)`` to make it."""
        path = self._cache.get(key)
        if path is not None:
            with self._guard:
                self.hits += 1
            return True, Thumbnail(path, MEDIA_TYPE, f'"{key}"')
        with self._guard:
            remembered = self._remembered.get(key)
        if remembered is None or remembered[0] < time.monotonic():
            return False, None
        _, reason, detail = remembered
        if reason is not None:
            raise ThumbnailRefused(item_id, reason, detail)
        return True, None

    def _make(self, storage: Storage, row: Any, key: str) -> Thumbnail | None:
        budget = _Budget(row.id, time.monotonic() + self.timeout_s, self.max_source_bytes, self.max_pixels)
        try:
            picture = self._render(storage, row, budget)
            if picture is None:
                self._remember(key, None, "")
                return None
            data = _encode(_fit(picture, self.size))
            budget.check()
        except ThumbnailRefused as refused:
            self._remember(key, refused.reason, refused.detail)
            raise
        path = self._cache.put(key, data)
        with self._guard:
            self.made += 1
        return Thumbnail(path, MEDIA_TYPE, f'"{key}"')

    def _render(self, storage: Storage, row: Any, budget: _Budget) -> Image.Image | None:
        """The item's picture at any size (a JPEG comes already reduced), or ``None``."""
        whole = row.item_type == "image"  # an image is read whole; a poster or a slice reads a part
        with _open_object(storage, row.url, budget, whole=whole) as file:
            try:
                if row.item_type == "image":
                    return _image(file, budget, self.size)
                if row.item_type == "video":
                    return _poster(file, budget)
                return _dicom(file, budget)
            except _DECODE_ERRORS as exc:
                budget.check()  # a bound cut the read short: say which
                raise budget.refused("unreadable", f"the file cannot be decoded ({exc})") from exc

    def _remember(self, key: str, reason: str | None, detail: str) -> None:
        with self._guard:
            self._remembered[key] = (time.monotonic() + _REMEMBER_S, reason, detail)
            self._remembered.move_to_end(key)
            while len(self._remembered) > _REMEMBERED_MAX:
                self._remembered.popitem(last=False)


# bounds


@dataclass
class _Budget:
    """The bounds of one thumbnail's work: a deadline, bytes and pixels."""

    item_id: str
    deadline: float  # time.monotonic()
    max_bytes: int
    max_pixels: int
    bytes_read: int = 0
    exceeded: ThumbnailRefused | None = None

    def refused(self, reason: str, detail: str) -> ThumbnailRefused:
        return ThumbnailRefused(self.item_id, reason, detail)

    def check(self) -> None:
        """Raise the refusal of a bound already crossed, or of the deadline passed."""
        if self.exceeded is None and time.monotonic() > self.deadline:
            self.exceeded = self.refused("timeout", "making it took too long")
        if self.exceeded is not None:
            raise self.exceeded

    def count(self, size: int) -> bool:
        """Count ``size`` bytes read; ``False`` once a bound is crossed (remembered for ``check``)."""
        self.bytes_read += size
        if self.exceeded is None and self.bytes_read > self.max_bytes:
            self.exceeded = self.refused("tooLarge", f"it needs more than {self.max_bytes} bytes read")
        elif self.exceeded is None and time.monotonic() > self.deadline:
            self.exceeded = self.refused("timeout", "making it took too long")
        return self.exceeded is None

    def check_pixels(self, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise self.refused("tooManyPixels", f"{width} x {height} is more than {self.max_pixels} pixels")


class _Source(Protocol):
    """What an object is read through: a local file, ``BytesIO`` or a ``RangedReader``."""

    def read(self, size: int = -1, /) -> bytes: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def tell(self) -> int: ...
    def close(self) -> None: ...


class _BoundedFile(io.RawIOBase):
    """A file whose reads count against a budget. Past a bound it reads as ended, and
    the budget remembers why: decoders whose callbacks cannot raise (PyAV drops
    exceptions raised in them) stop on their own, and the caller asks the budget."""

    def __init__(self, inner: _Source, budget: _Budget) -> None:
        super().__init__()
        self._inner = inner
        self._budget = budget

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._inner.seek(offset, whence)

    def tell(self) -> int:
        return self._inner.tell()

    def read(self, size: int | None = -1) -> bytes:
        if self._budget.exceeded is not None:
            return b""
        data = self._inner.read(-1 if size is None else size)
        return data if self._budget.count(len(data)) else b""

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._inner.close()
        super().close()


@contextmanager
def _open_object(storage: Storage, url: str, budget: _Budget, *, whole: bool) -> Iterator[_BoundedFile]:
    """The object as a bounded file: the local file itself, or ranged reads. ``whole``:
    refuse an object over the byte bound before reading it, and read a remote one in
    (at most) two requests rather than block by block."""
    if storage.integration.provider is Provider.LOCAL:
        try:
            local = open(storage.local_path(url), "rb")  # noqa: SIM115  (closed by the wrapper)
        except FileNotFoundError as exc:
            raise ObjectNotFound(url) from exc
        inner: _Source = local
        size = os.fstat(local.fileno()).st_size
    elif whole:
        reader = storage.reader(url, block_size=1 << 20, max_blocks=2)
        size = reader.size()  # the first request: small images come whole with it
        inner = io.BytesIO(reader.read()) if size <= budget.max_bytes else reader
    else:
        inner = storage.reader(url, block_size=256 << 10, max_blocks=16)
        size = 0
    file = _BoundedFile(inner, budget)
    try:
        if whole and size > budget.max_bytes:
            raise budget.refused("tooLarge", f"the object's {size} bytes are more than {budget.max_bytes}")
        budget.check()
        yield file
    finally:
        file.close()


# rendering: each returns a picture at any size, or None for "show the icon"


def _image(file: _BoundedFile, budget: _Budget, size: int) -> Image.Image | None:
    try:
        image = Image.open(cast(BinaryIO, file), formats=_IMAGE_FORMATS)
    except UnidentifiedImageError:
        return None  # HEIC, or not an image Pillow reads: the icon
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise budget.refused("tooManyPixels", str(exc)) from exc
    budget.check_pixels(*image.size)  # the header's size: nothing is decoded yet
    image.draft("RGB", (size, size))  # JPEG: decode at 1/2 to 1/8 scale, what makes a 12 MP photo fast
    image.load()
    budget.check()
    return ImageOps.exif_transpose(image)


def _poster(file: _BoundedFile, budget: _Budget) -> Image.Image | None:
    with av.open(file, mode="r") as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        budget.check_pixels(stream.codec_context.width, stream.codec_context.height)
        stream.codec_context.thread_type = "SLICE"  # frame threads would delay the first frame
        target = container.duration / av.time_base * 0.1 if container.duration else 1.0
        if stream.time_base:
            try:
                container.seek(int(target / stream.time_base) + (stream.start_time or 0), stream=stream)
            except av.FFmpegError:
                container.seek(0)
        frame = _first_frame(container, stream, budget)
        if frame is None:
            container.seek(0)  # seeking missed (no index, or past the end): from the start
            frame = _first_frame(container, stream, budget)
        if frame is None:
            return None
        budget.check_pixels(frame.width, frame.height)
        picture = Image.fromarray(frame.to_ndarray(format="rgb24"))
        turn = round(frame.rotation / 90) % 4  # counterclockwise quarter turns players apply
        return picture.rotate(turn * 90, expand=True) if turn else picture


def _first_frame(container: Any, stream: Any, budget: _Budget) -> av.VideoFrame | None:
    for count, packet in enumerate(container.demux(stream)):
        budget.check()
        if count > _MAX_PACKETS:
            raise budget.refused("unreadable", f"no frame in the first {_MAX_PACKETS} packets")
        for frame in packet.decode():
            if isinstance(frame, av.VideoFrame):
                return frame
    budget.check()
    return None


def _dicom(file: _BoundedFile, budget: _Budget) -> Image.Image | None:
    header = pydicom.dcmread(file, stop_before_pixels=True)
    rows, columns = int(header.get("Rows", 0)), int(header.get("Columns", 0))
    syntax = header.file_meta.get("TransferSyntaxUID") if hasattr(header, "file_meta") else None
    if not rows or not columns or syntax is None:
        return None
    budget.check_pixels(columns, rows)
    try:
        if not get_decoder(syntax).is_available:
            return None  # a compressed syntax whose plugin is not installed: the icon
    except NotImplementedError:
        return None
    file.seek(0)
    pixels = pixel_array(cast(BinaryIO, file), index=0)
    budget.check()
    if pixels.ndim == 3:  # colour: already RGB
        return Image.fromarray(_to_8bit(pixels, None, None))
    values = pixels.astype(np.float32) * float(header.get("RescaleSlope", 1) or 1)
    values += float(header.get("RescaleIntercept", 0) or 0)
    center, width = _first(header.get("WindowCenter")), _first(header.get("WindowWidth"))
    window = (center - width / 2, center + width / 2) if center is not None and width else (None, None)
    grey = _to_8bit(values, *window)
    if header.get("PhotometricInterpretation") == "MONOCHROME1":
        grey = 255 - grey  # MONOCHROME1: low values are white
    return Image.fromarray(grey)


def _first(value: Any) -> float | None:
    """A DICOM value that may be multi-valued, as one number (the first)."""
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if len(value) else None
    return None if value is None else float(value)


def _to_8bit(values: np.ndarray[Any, Any], low: float | None, high: float | None) -> np.ndarray[Any, Any]:
    """Values mapped linearly from ``low..high`` (their own range when not given) to 0..255."""
    if values.dtype == np.uint8:
        return np.asarray(values, dtype=np.uint8)
    low = float(values.min()) if low is None else low
    high = float(values.max()) if high is None else high
    scaled = (values.astype(np.float32) - low) * (255.0 / max(high - low, 1e-6))
    return np.asarray(np.clip(scaled, 0, 255), dtype=np.uint8)


def _fit(picture: Image.Image, size: int) -> Image.Image:
    """RGB (RGBA when transparent), at most ``size`` on its longer side."""
    if picture.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        picture = Image.fromarray(_to_8bit(np.asarray(picture), None, None))
    picture = picture.convert("RGBA" if picture.has_transparency_data else "RGB")
    picture.thumbnail((size, size))
    return picture


def _encode(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    picture.save(out, "WEBP", quality=80, method=4)
    return out.getvalue()


# the cache


class _KeyLocks:
    """One lock per key while someone holds or waits for it (a dict of locks that never
    shrank would grow with every item ever shown)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


class _DiskCache:
    """Files ``root/ab/abcdef….webp``, least recently used (by mtime, set on every hit)
    deleted first. The running total is an estimate (other processes write too): it is
    recounted when it passes the bound, and every few minutes."""

    _RESCAN_S = 300.0
    _STALE_TEMP_S = 3600.0  # a temporary file this old was left by a process that died
    _LOW_WATER = 0.9  # evict down to this fraction, so that the next write does not evict again

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._evicting = threading.Lock()
        self._total: int | None = None
        self._counted_at = 0.0

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.webp"

    def get(self, key: str) -> Path | None:
        path = self.path(key)
        try:
            if os.stat(path).st_size == 0:  # a file a crash cut short (renamed but never flushed)
                return None
            now = time.time_ns()
            os.utime(path, ns=(now, now))
        except FileNotFoundError:
            return None
        return path

    def put(self, key: str, data: bytes) -> Path:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.parent / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            temp.write_bytes(data)
            now = time.time_ns()  # set exactly: the file system's clock ticks too coarsely to order writes
            os.utime(temp, ns=(now, now))
            os.replace(temp, path)
        except OSError:
            temp.unlink(missing_ok=True)
            raise
        with self._lock:
            self._total = None if self._total is None else self._total + len(data)
            due = self._total is None or self._total > self.max_bytes
            due = due or time.monotonic() - self._counted_at > self._RESCAN_S
        if due and self._evicting.acquire(blocking=False):  # one thread counts; the others go on
            try:
                self._evict(keep=path)
            finally:
                self._evicting.release()
        return path

    def _evict(self, keep: Path) -> None:
        """Recount the cache and delete the least recently used files over the bound."""
        files = sorted(self._files())
        total = sum(size for _, size, _ in files)
        if total > self.max_bytes:
            target = self.max_bytes * self._LOW_WATER
            for _, size, path in files:
                if total <= target:
                    break
                if path == str(keep):
                    continue
                with contextlib.suppress(FileNotFoundError):  # another process evicted it first
                    os.unlink(path)
                total -= size
        with self._lock:
            self._total, self._counted_at = total, time.monotonic()

    def _files(self) -> Iterator[tuple[int, int, str]]:
        """``(mtime_ns, size, path)`` of every cached file; stale temporary files go."""
        now = time.time()
        try:
            shards = [entry.path for entry in os.scandir(self.root) if entry.is_dir()]
        except FileNotFoundError:
            return
        for shard in shards:
            for entry in os.scandir(shard):
                try:
                    stat = entry.stat()
                    if not entry.name.endswith(".tmp"):
                        yield stat.st_mtime_ns, stat.st_size, entry.path
                    elif now - stat.st_mtime > self._STALE_TEMP_S:
                        os.unlink(entry.path)
                except FileNotFoundError:
                    continue  # deleted meanwhile by another process
