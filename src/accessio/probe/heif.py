"""HEIF images (HEIC, AVIF): the primary item's size from the ``meta`` box, no codec involved.

A HEIF file is ISO-BMFF: ``ftyp``, then ``meta`` holding the primary item id
(``pitm``), the item properties (``iprp/ipco``: ``ispe`` is the image size, ``irot``
a rotation in quarter turns) and which properties belong to which item
(``iprp/ipma``). The size reported is the primary item's ``ispe``; a quarter or
three-quarter ``irot`` swaps it, as a viewer would show the image.
"""

from __future__ import annotations

from dataclasses import dataclass

from accessio.probe import isobmff
from accessio.probe.isobmff import Box, u16, u32
from accessio.probe.source import Source

MAX_META_BYTES = 16 * 1024 * 1024
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"}
HEIF_BRANDS = _AVIF_BRANDS | _HEIC_BRANDS | {b"mif1", b"msf1"}


@dataclass(frozen=True)
class HeifSize:
    mime: str
    width: int
    height: int
    quarter_turn: bool


def mime_of_brands(major: bytes, compatible: list[bytes]) -> str | None:
    """The image mime type an ``ftyp`` names, or None when it names no HEIF brand."""
    brands = [major, *compatible]
    if any(b in _AVIF_BRANDS for b in brands):
        return "image/avif"
    if any(b in _HEIC_BRANDS for b in brands):
        return "image/heic"
    if any(b in (b"mif1", b"msf1") for b in brands):
        return "image/heif"
    return None


def primary_size(src: Source) -> HeifSize:
    """The primary image's size and whether it is turned a quarter."""
    mime, meta = "image/heif", None
    for box in isobmff.top_level(src):
        if box.type == b"ftyp":
            data = src.exact(box.body, min(box.size - box.header, 256), "the ftyp box")
            compatible = [data[i : i + 4] for i in range(8, len(data) - 3, 4)]
            mime = mime_of_brands(data[:4], compatible) or mime
        elif box.type == b"meta":
            meta = box
            break
    if meta is None:
        raise src.corrupt("HEIF: no meta box")
    if meta.size > MAX_META_BYTES:
        raise src.too_large(f"HEIF: the meta box is {meta.size:,} bytes")
    data = src.exact(meta.start, meta.size, "the HEIF meta box")
    root = Box(meta.type, 0, meta.header, meta.size)
    width, height, turn = _primary(data, root, src)
    return HeifSize(mime, width, height, turn % 2 == 1)


def _primary(data: bytes, meta: Box, src: Source) -> tuple[int, int, int]:
    primary: int | None = None
    ipco = ipma = None
    for box in isobmff.children(data, meta.body + 4, meta.end):
        if box.type == b"pitm":
            version, _ = isobmff.full_box(data, box)
            primary = u16(data, box.body + 4) if version == 0 else u32(data, box.body + 4)
        elif box.type == b"iprp":
            ipco = isobmff.child(data, box, b"ipco", depth=1)
            ipma = isobmff.child(data, box, b"ipma", depth=1)
    if ipco is None or ipma is None:
        raise src.corrupt("HEIF: no item properties (iprp/ipco, iprp/ipma)")
    properties = list(isobmff.children(data, ipco.body, ipco.end, depth=2))
    sizes: tuple[int, int] | None = None
    turn = 0
    for index in _associations(data, ipma, primary):
        if not 1 <= index <= len(properties):
            continue
        prop = properties[index - 1]
        if prop.type == b"ispe":
            sizes = u32(data, prop.body + 4), u32(data, prop.body + 8)
        elif prop.type == b"irot":
            turn = data[prop.body] & 3
    if sizes is None:
        raise src.corrupt("HEIF: the primary item has no size property (ispe)")
    return sizes[0], sizes[1], turn


def _associations(data: bytes, ipma: Box, primary: int | None) -> list[int]:
    """Property indices (1-based) of the primary item, or of the first item when no ``pitm`` names one."""
    version, flags = isobmff.full_box(data, ipma)
    pos = ipma.body + 4
    count = u32(data, pos)
    pos += 4
    for _ in range(min(count, 65536)):
        if version < 1:
            item, pos = u16(data, pos), pos + 2
        else:
            item, pos = u32(data, pos), pos + 4
        number, pos = data[pos], pos + 1
        indices: list[int] = []
        for _ in range(number):
            if flags & 1:
                indices.append(u16(data, pos) & 0x7FFF)
                pos += 2
            else:
                indices.append(data[pos] & 0x7F)
                pos += 1
        if primary is None or item == primary:
            return indices
    return []
