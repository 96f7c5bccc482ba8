"""DICOM: UIDs, size, frames, modality and the Encord tag set, reading stops before the pixel data.

pydicom parses the file through a file object over the :class:`Source` (so its reads
count against the budget), with ``stop_before_pixels`` and ``specific_tags``: elements
it does not need are stepped over by seeking, never read, and it stops at the
``(7FE0,0010)`` Pixel Data header. An element whose length runs past the end of the
file is caught by the file object (it notes the overrun) and the file is corrupt.

Deflated files (transfer syntax 1.2.840.10008.1.2.1.99, the data set after the file
meta group compressed whole) are inflated here, not by pydicom, which would inflate
the whole file at once: only as far as the Pixel Data header, and at most
``MAX_INFLATED`` bytes, so a deflate bomb costs nothing.

pydicom's warnings about non-conformant values are left alone: silencing them with
``warnings.catch_warnings`` would change process-wide state from several threads at
once. They go wherever the process sends warnings; the probe reports what the file holds.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import TYPE_CHECKING, Any

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_dataset
from pydicom.tag import BaseTag, Tag

from accessio.probe.errors import ProbeError
from accessio.probe.info import Kind, MediaInfo
from accessio.probe.source import Source
from accessio.spec.convert import REQUIRED_DICOM_TAGS
from accessio.spec.model import DicomAttribute

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer
    from pydicom.dataset import Dataset

MIME = "application/dicom"
_EXTRA_TAGS = {"00080060": "Modality", "00080016": "SOPClassUID"}
_WANTED: list[BaseTag | int] = [Tag(int(tag, 16)) for tag in {**REQUIRED_DICOM_TAGS, **_EXTRA_TAGS}]
_BULK_THRESHOLD = 1024
DEFLATED = "1.2.840.10008.1.2.1.99"
MAX_INFLATED = 32 * 1024 * 1024
_PIXEL_DATA = b"\xe0\x7f\x10\x00"  # (7FE0,0010) in little endian
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


class _SourceFile(io.RawIOBase):
    """A read-only file over a Source, remembering whether anything tried to read past the end."""

    def __init__(self, src: Source) -> None:
        super().__init__()
        self._src = src
        self._pos = 0
        self.overran = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._src.size}[whence]
        self._pos = max(0, base + offset)
        if self._pos > self._src.size:
            self.overran = True
        return self._pos

    def readall(self) -> bytes:
        """The rest of the file (reading to the end is no overrun)."""
        data = self._src.read(self._pos, max(0, self._src.size - self._pos))
        self._pos += len(data)
        return data

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos > self._src.size:
            self.overran = True
        data = self._src.read(self._pos, len(view)) if self._pos < self._src.size else b""
        if 0 < len(data) < len(view):
            self.overran = True  # the end of the file inside an element; exactly at the end is the normal stop
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)


def probe_dicom(src: Source) -> MediaInfo:
    """UIDs, rows, columns, frames, modality and the Encord tag set of a DICOM Part 10 file."""
    handle = _SourceFile(src)
    try:
        meta_end = _deflated_data_start(src)
        dataset: Dataset
        if meta_end is None:
            dataset = pydicom.dcmread(handle, stop_before_pixels=True, specific_tags=_WANTED)
        else:
            dataset = read_dataset(
                io.BytesIO(_inflate_header(src, meta_end)), is_implicit_VR=False, is_little_endian=True,
                stop_when=_at_pixel_data, specific_tags=_WANTED,
            )  # fmt: skip
        tags = {tag: _json(dataset, tag) for tag in REQUIRED_DICOM_TAGS}
        modality = _text(dataset, "00080060")
    except ProbeError:
        raise
    except InvalidDicomError as exc:
        raise src.corrupt(f"DICOM: {exc}") from exc
    except (RecursionError, MemoryError) as exc:
        raise src.corrupt(f"DICOM: the data set is nested too deeply or too large ({type(exc).__name__})") from exc
    except Exception as exc:  # pydicom raises many types on malformed input; all mean corrupt here
        raise src.corrupt(f"DICOM: the header cannot be parsed ({type(exc).__name__}: {exc})") from exc
    if handle.overran:
        raise src.corrupt("DICOM: an element's length runs past the end of the file (truncated or corrupt)")
    rows, columns = _int(tags["00280010"]), _int(tags["00280011"])
    if rows and columns and rows * columns > src.limits.max_pixels:
        raise src.too_large(f"DICOM: {rows:,} rows x {columns:,} columns is over the pixel limit")
    return MediaInfo(
        kind=Kind.DICOM, mime_type=MIME, file_size=src.size, width=columns, height=rows,
        frame_count=_int(tags["00280008"]) or (1 if rows else None), modality=modality,
        dicom_study_uid=_first_text(tags["0020000D"]), dicom_series_uid=_first_text(tags["0020000E"]),
        dicom_instance_uid=_first_text(tags["00080018"]), dicom_tags=tags,
    )  # fmt: skip


def _deflated_data_start(src: Source) -> int | None:
    """Where the deflated data set starts, if the file meta group names the deflated transfer syntax."""
    head = src.head()
    if head[128:132] != b"DICM" or head[132:136] != b"\x02\x00\x00\x00" or head[136:138] != b"UL":
        return None
    meta_end = 144 + struct.unpack_from("<I", head, 140)[0]
    pos = 144
    while pos + 8 <= min(meta_end, len(head)):
        group, element, vr = struct.unpack_from("<HH2s", head, pos)
        if group != 2:
            return None
        if vr in _LONG_VRS:
            length, body = struct.unpack_from("<I", head, pos + 8)[0], pos + 12
        else:
            length, body = struct.unpack_from("<H", head, pos + 6)[0], pos + 8
        if element == 0x10:
            syntax = head[body : body + length].rstrip(b"\0 ").decode("ascii", "replace")
            return meta_end if syntax == DEFLATED else None
        pos = body + length
    return None


def _inflate_header(src: Source, start: int) -> bytes:
    """The inflated data set up to its Pixel Data header (or its end), bounded by MAX_INFLATED."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    out = bytearray()
    pos = start
    while pos < src.size and not inflater.eof:
        src.check_time()
        chunk = src.read(pos, 65536)
        pos += len(chunk)
        searched = max(0, len(out) - len(_PIXEL_DATA))
        out += inflater.decompress(chunk, MAX_INFLATED + 1 - len(out))
        found = out.find(_PIXEL_DATA, searched)
        if found >= 0 and len(out) >= found + 12:  # the element's header whole: pydicom stops there
            break
        if len(out) > MAX_INFLATED:
            raise src.too_large(f"DICOM: the deflated data set inflates past {MAX_INFLATED:,} bytes before its pixels")
    return bytes(out)


def _at_pixel_data(tag: Any, _vr: Any, _length: Any) -> bool:
    return bool(tag == 0x7FE00010)


def _json(dataset: Dataset, tag: str) -> DicomAttribute | None:
    element = dataset.get(Tag(int(tag, 16)))
    if element is None:
        return None
    try:
        as_json = element.to_json_dict(None, _BULK_THRESHOLD)
    except (ValueError, TypeError, AttributeError, OverflowError):
        return DicomAttribute(vr=str(element.VR))
    value = as_json.get("Value")
    return DicomAttribute(vr=str(as_json.get("vr", element.VR)), value=list(value) if value is not None else None)


def _text(dataset: Dataset, tag: str) -> str | None:
    element = dataset.get(Tag(int(tag, 16)))
    value: Any = None if element is None else element.value
    return str(value).strip() or None if value is not None else None


def _first_text(attribute: DicomAttribute | None) -> str | None:
    if attribute is None or not attribute.value:
        return None
    first = attribute.value[0]
    return str(first) if isinstance(first, str | int | float) else None


def _int(attribute: DicomAttribute | None) -> int | None:
    if attribute is None or not attribute.value:
        return None
    try:
        return int(attribute.value[0])
    except (TypeError, ValueError):
        return None
