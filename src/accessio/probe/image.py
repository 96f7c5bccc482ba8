"""Images: width and height from the header, EXIF orientation applied, no pixel decoded.

Each format is parsed by hand from its first bytes: Pillow's openers are lazy for
most formats but read the whole file for WebP, and a hand parser is also what lets
a hostile header (a PNG declaring 2^31 x 2^31 pixels) be refused before anything
would try to allocate it. JPEG segments and TIFF directories may lie past the first
block; they are reached by seeking, one read each.
"""

from __future__ import annotations

import struct

from accessio.probe import heif, tiff
from accessio.probe.info import Kind, MediaInfo
from accessio.probe.source import Source

MAX_JPEG_SEGMENTS = 1024
MAX_JPEG_JUNK = 1 << 20  # bytes of junk skipped between segments, as libjpeg and Pillow skip them
MAX_EXIF_BYTES = 65533
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, 0xD0, 0xD1, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8}


def probe_image(src: Source, mime: str) -> MediaInfo:
    """Width, height (as displayed) and mime type of an image whose type ``mime`` sniffing found."""
    match mime:
        case "image/jpeg":
            width, height, orientation = _jpeg(src)
        case "image/png":
            width, height, orientation = _png(src)
        case "image/gif":
            width, height, orientation = *struct.unpack_from("<HH", src.exact(6, 4, "the GIF screen size")), 1
        case "image/bmp":
            width, height, orientation = *_bmp(src), 1
        case "image/webp":
            width, height, orientation = _webp(src)
        case "image/tiff":
            width, height, orientation = _tiff(src)
        case _:
            size = heif.primary_size(src)
            mime, width, height, orientation = size.mime, size.width, size.height, 6 if size.quarter_turn else 1
    if width <= 0 or height <= 0:
        raise src.corrupt(f"the {mime} header says the image is {width} x {height} pixels")
    if width * height > src.limits.max_pixels:
        raise src.too_large(
            f"the {mime} header declares {width:,} x {height:,} pixels, over the limit of {src.limits.max_pixels:,}"
        )
    if tiff.swaps_axes(orientation):
        width, height = height, width
    return MediaInfo(kind=Kind.IMAGE, mime_type=mime, file_size=src.size, width=width, height=height)


def _jpeg(src: Source) -> tuple[int, int, int]:
    pos, orientation = 2, 1
    for _ in range(MAX_JPEG_SEGMENTS):
        marker = src.exact(pos, 2, "a JPEG marker")
        if marker[0] != 0xFF:
            pos = _after_junk(src, pos)
            marker = src.exact(pos, 2, "a JPEG marker")
        code = marker[1]
        if code == 0xFF:
            pos += 1
            continue
        if code in _STANDALONE:
            pos += 2
            continue
        if code in (0xD9, 0xDA):
            raise src.corrupt("JPEG: no frame header (SOF) before the image data")
        length = struct.unpack(">H", src.exact(pos + 2, 2, "a JPEG segment length"))[0]
        if length < 2:
            raise src.corrupt(f"JPEG: a segment at byte {pos} has length {length}")
        if code in _SOF:
            height, width = struct.unpack(">HH", src.exact(pos + 5, 4, "the JPEG frame header"))
            if height == 0:
                raise src.corrupt("JPEG: the frame header gives no height (a DNL marker is not supported)")
            return width, height, orientation
        if code == 0xE1 and orientation == 1:
            body = src.exact(pos + 4, min(length - 2, MAX_EXIF_BYTES), "a JPEG APP1 segment")
            if body.startswith(b"Exif\x00\x00"):
                orientation = tiff.exif_orientation(body)
        pos += 2 + length
    raise src.corrupt(f"JPEG: no frame header in the first {MAX_JPEG_SEGMENTS} segments")


def _after_junk(src: Source, pos: int) -> int:
    """The offset of the next 0xFF: readers skip bytes that are not a marker (libjpeg warns, Pillow is silent)."""
    start = pos
    while pos - start < MAX_JPEG_JUNK:
        src.check_time()
        window = src.read(pos, 4096)
        found = window.find(b"\xff")
        if found >= 0:
            return pos + found
        if len(window) < 4096:
            break
        pos += len(window)
    raise src.corrupt(f"JPEG: no marker after the junk at byte {start}")


def _png(src: Source) -> tuple[int, int, int]:
    head = src.head()
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise src.corrupt("PNG: the first chunk is not a complete IHDR")
    width, height = struct.unpack_from(">II", head, 16)
    orientation, pos = 1, 33
    # eXIf must come before IDAT; look for it only in the bytes already read.
    while pos + 8 <= len(head):
        length, kind = struct.unpack_from(">I4s", head, pos)
        if kind in (b"IDAT", b"IEND"):
            break
        if kind == b"eXIf":
            orientation = tiff.exif_orientation(head[pos + 8 : pos + 8 + length])
            break
        pos += 12 + length
    return width, height, orientation


def _bmp(src: Source) -> tuple[int, int]:
    header = src.exact(14, 12, "the BMP header")
    if struct.unpack_from("<I", header)[0] == 12:
        short_width, short_height = struct.unpack_from("<HH", header, 4)
        return short_width, short_height
    width, height = struct.unpack_from("<ii", header, 4)
    return width, abs(height)


def _webp(src: Source) -> tuple[int, int, int]:
    chunk = src.exact(12, 8 + 10, "the first WebP chunk")
    kind, data = chunk[:4], chunk[8:]
    if kind == b"VP8 ":
        if data[3:6] != b"\x9d\x01\x2a":
            raise src.corrupt("WebP: the VP8 frame has no start code")
        width, height = struct.unpack_from("<HH", data, 6)
        return width & 0x3FFF, height & 0x3FFF, 1
    if kind == b"VP8L":
        if data[0] != 0x2F:
            raise src.corrupt("WebP: the VP8L stream has no signature")
        bits = int.from_bytes(data[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, 1
    if kind == b"VP8X":
        width = int.from_bytes(data[4:7], "little") + 1
        height = int.from_bytes(data[7:10], "little") + 1
        orientation = _webp_exif_orientation(src) if data[0] & 0x08 else 1
        return width, height, orientation
    raise src.corrupt(f"WebP: the first chunk is {kind!r}, not VP8, VP8L or VP8X")


def _webp_exif_orientation(src: Source) -> int:
    # The EXIF chunk usually follows the image data: step over chunks by their sizes.
    pos, end = 12, min(src.size, 8 + struct.unpack("<I", src.exact(4, 4, "the RIFF size"))[0])
    for _ in range(64):
        if pos + 8 > end:
            break
        kind, length = struct.unpack("<4sI", src.exact(pos, 8, "a WebP chunk header"))
        if kind == b"EXIF":
            return tiff.exif_orientation(src.read(pos + 8, min(length, MAX_EXIF_BYTES)))
        pos += 8 + length + (length & 1)
    return 1


def _tiff(src: Source) -> tuple[int, int, int]:
    values = tiff.first_ifd(src.read)
    if tiff.WIDTH not in values or tiff.HEIGHT not in values:
        raise src.corrupt("TIFF: the first directory has no image width or length")
    return values[tiff.WIDTH], values[tiff.HEIGHT], values.get(tiff.ORIENTATION, 1)
