"""NIfTI-1 and NIfTI-2 volumes: shape and voxel size from the fixed header, gzipped or not.

The header is 348 (NIfTI-1) or 540 (NIfTI-2) bytes at the start; its own size field
says which and in which byte order. A ``.nii.gz`` is inflated only as far as the
header (``max_length``), so a gzip bomb costs nothing. Voxel sizes are the header's
``pixdim`` in its own units (usually millimetres and seconds).
"""

from __future__ import annotations

import math
import struct
import zlib

from accessio.probe.info import Kind, MediaInfo
from accessio.probe.source import Source

HEADER_BYTES = 540
MIME = "application/x-nifti"
_MAX_GZIP_INPUT = 1024 * 1024


def gunzip_head(src: Source, count: int = HEADER_BYTES) -> bytes:
    """The first ``count`` inflated bytes of a gzip file (fewer if the stream ends or is broken)."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out, pos = b"", 0
    while len(out) < count and pos < min(src.size, _MAX_GZIP_INPUT):
        chunk = src.read(pos, 4096 if pos else len(src.head()))
        if not chunk:
            break
        pos += len(chunk)
        try:
            out += inflater.decompress(inflater.unconsumed_tail + chunk, count - len(out))
        except zlib.error:
            break
        if inflater.eof:
            break
    return out


def is_nifti(header: bytes) -> bool:
    """Whether the bytes start with a NIfTI-1 or NIfTI-2 header (single-file or pair)."""
    if len(header) >= 348 and header[344:348] in (b"n+1\x00", b"ni1\x00"):
        return 348 in (struct.unpack_from("<i", header)[0], struct.unpack_from(">i", header)[0])
    if len(header) >= 12 and header[4:8] in (b"n+2\x00", b"ni2\x00"):
        return 540 in (struct.unpack_from("<i", header)[0], struct.unpack_from(">i", header)[0])
    return False


def probe_nifti(src: Source) -> MediaInfo:
    """Shape and voxel size of a NIfTI volume."""
    gzipped = src.head()[:2] == b"\x1f\x8b"
    header = gunzip_head(src) if gzipped else src.head()[:HEADER_BYTES]
    if not is_nifti(header):
        raise src.corrupt("NIfTI: no valid header")
    version = 2 if header[4:8] in (b"n+2\x00", b"ni2\x00") else 1
    order = "<" if struct.unpack_from("<i", header)[0] in (348, 540) else ">"
    if version == 1:
        dims = struct.unpack_from(order + "8h", header, 40)
        bitpix = struct.unpack_from(order + "h", header, 72)[0]
        pixdim = struct.unpack_from(order + "8f", header, 76)
        offset = struct.unpack_from(order + "f", header, 108)[0]
    else:
        if len(header) < HEADER_BYTES:
            raise src.corrupt("NIfTI-2: the header is cut off")
        bitpix = struct.unpack_from(order + "h", header, 14)[0]
        dims = struct.unpack_from(order + "8q", header, 16)
        pixdim = struct.unpack_from(order + "8d", header, 104)
        offset = struct.unpack_from(order + "q", header, 168)[0]
    rank = dims[0]
    if not 1 <= rank <= 7:
        raise src.corrupt(f"NIfTI: dim[0] is {rank}, not 1 to 7")
    shape = tuple(int(d) for d in dims[1 : rank + 1])
    if any(d < 1 for d in shape):
        raise src.corrupt(f"NIfTI: the shape {shape} has an empty axis")
    voxels = math.prod(shape)
    sizes = tuple(abs(float(p)) for p in pixdim[1 : rank + 1])
    if not all(math.isfinite(s) for s in sizes):
        raise src.corrupt("NIfTI: a voxel size is not a finite number")
    single_file = header[344:348] == b"n+1\x00" if version == 1 else header[4:8] == b"n+2\x00"
    if single_file and not gzipped:
        if not math.isfinite(offset) or offset < 0:
            raise src.corrupt(f"NIfTI: vox_offset is {offset}")
        needed = int(offset) + voxels * max(bitpix, 1) // 8
        if needed > src.size:
            raise src.corrupt(f"NIfTI: the header describes {needed:,} bytes; the file has {src.size:,} (truncated)")
    return MediaInfo(
        kind=Kind.NIFTI, mime_type=MIME, file_size=src.size, shape=shape, voxel_size=tuple(round(s, 6) for s in sizes),
        width=shape[0], height=shape[1] if rank > 1 else None,
    )  # fmt: skip
