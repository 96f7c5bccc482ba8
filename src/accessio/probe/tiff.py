"""TIFF image file directories: TIFF images themselves, and the EXIF block of JPEG, PNG, WebP.

Only the first IFD is read, and of it only the entries whose value fits in the
entry itself (width, height, orientation): no pointer is followed, so a hostile
directory cannot send the reader around the file.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from accessio.probe.errors import ProbeCorrupt

WIDTH, HEIGHT, ORIENTATION = 256, 257, 274
MAX_ENTRIES = 4096
_SHORT, _LONG, _LONG8 = 3, 4, 16

ReadAt = Callable[[int, int], bytes]


def first_ifd(read: ReadAt) -> dict[int, int]:
    """Inline integer values of the first IFD, by tag, from a TIFF stream read with ``read(offset, count)``."""
    header = read(0, 16)
    if len(header) < 8:
        raise ProbeCorrupt("the TIFF header is cut off")
    order = {b"II": "<", b"MM": ">"}.get(header[:2])
    if order is None:
        raise ProbeCorrupt("the TIFF header has no byte order mark")
    magic = struct.unpack_from(order + "H", header, 2)[0]
    if magic == 42:
        big, offset = False, struct.unpack_from(order + "I", header, 4)[0]
    elif magic == 43 and len(header) >= 16:
        big, offset = True, struct.unpack_from(order + "Q", header, 8)[0]
    else:
        raise ProbeCorrupt(f"the TIFF header's magic number is {magic}, not 42 or 43")
    count_size, entry_size = (8, 20) if big else (2, 12)
    raw_count = read(offset, count_size)
    if len(raw_count) < count_size:
        raise ProbeCorrupt("the first TIFF directory lies past the end of the file")
    count = struct.unpack_from(order + ("Q" if big else "H"), raw_count)[0]
    if count > MAX_ENTRIES:
        raise ProbeCorrupt(f"the first TIFF directory claims {count:,} entries")
    entries = read(offset + count_size, count * entry_size)
    if len(entries) < count * entry_size:
        raise ProbeCorrupt("the first TIFF directory is cut off")
    values: dict[int, int] = {}
    for index in range(count):
        at = index * entry_size
        if big:
            tag, kind, number = struct.unpack_from(order + "HHQ", entries, at)
            field = at + 12
        else:
            tag, kind, number = struct.unpack_from(order + "HHI", entries, at)
            field = at + 8
        if number != 1:
            continue
        if kind == _SHORT:
            values[tag] = struct.unpack_from(order + "H", entries, field)[0]
        elif kind == _LONG:
            values[tag] = struct.unpack_from(order + "I", entries, field)[0]
        elif kind == _LONG8 and big:
            values[tag] = struct.unpack_from(order + "Q", entries, field)[0]
    return values


def exif_orientation(exif: bytes) -> int:
    """The orientation (1 to 8) an EXIF block holds; 1 when it holds none or nonsense.

    >>> exif_orientation(b"MM\\x00*\\x00\\x00\\x00\\x08\\x00\\x01\\x01\\x12\\x00\\x03\\x00\\x00\\x00\\x01\\x00\\x06")
    6
    """
    if exif.startswith(b"Exif\x00\x00"):
        exif = exif[6:]
    try:
        value = first_ifd(lambda offset, count: exif[offset : offset + count]).get(ORIENTATION, 1)
    except (ProbeCorrupt, struct.error):
        return 1  # a broken EXIF block does not make the image unreadable
    return value if 1 <= value <= 8 else 1


def swaps_axes(orientation: int) -> bool:
    """Orientations 5 to 8 turn the image a quarter: its displayed width is its stored height."""
    return 5 <= orientation <= 8
