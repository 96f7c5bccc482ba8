"""Broken and hostile files: each with the error code a probe must fail with (None: bounded success).

Broken files are cut or damaged copies of valid ones. Hostile files are built to hurt
a careless parser: absurd declared sizes (decompression bombs), boxes claiming 2^63
bytes, endless or deeply nested structures, a looping ``/Prev`` chain, gzip bombs. A
sparse file stands in for a huge one where the parser must refuse before reading.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from pydicom import dcmread

from tests.media import Entry
from tests.media.medical import nifti1
from tests.media.pdfwriter import PdfWriter

CORRUPT, TOO_LARGE, UNSUPPORTED, MISMATCH = (
    "probe.corrupt",
    "probe.too_large",
    "probe.unsupported",
    "probe.type_mismatch",
)
BOMB_BYTES = 256 * 1024 * 1024


def _box(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", 8 + len(body)) + kind + body


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _ebml(element: int, body: bytes, *, unknown: bool = False) -> bytes:
    ident = element.to_bytes((element.bit_length() + 7) // 8, "big")
    size = b"\x01\xff\xff\xff\xff\xff\xff\xff" if unknown else (0x0100000000000000 | len(body)).to_bytes(8, "big")
    return ident + size + body


def _gzip_stream(prefix: bytes, zeros: int) -> bytes:
    """gzip of ``prefix`` then ``zeros`` zero bytes, compressed in pieces (never held whole)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    out = [packer.compress(prefix)]
    piece = bytes(16 * 1024 * 1024)
    for _ in range(zeros // len(piece)):
        out.append(packer.compress(piece))
    out.append(packer.flush())
    return b"".join(out)


def _dicom_with_huge_length(source: Path) -> bytes:
    dataset = dcmread(source)
    dataset.add_new(0x00091001, "OB", b"\x00" * 8)
    patched = source.parent / "dicom-private.tmp"
    dataset.save_as(patched, enforce_file_format=True)
    data = bytearray(patched.read_bytes())
    patched.unlink()
    at = data.find(b"\x09\x00\x01\x10OB\x00\x00")
    data[at + 8 : at + 12] = struct.pack("<I", 0xFFFFFFF0)
    return bytes(data)


def _dicom_with_deep_sequences(source: Path, depth: int = 3000) -> bytes:
    """Sequences of undefined length nested ``depth`` deep, inserted right after the file meta group."""
    data = source.read_bytes()
    start = 132 + 12 + struct.unpack_from("<I", data, 132 + 8)[0]
    opened = b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    closed = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    return data[:start] + opened * depth + closed * depth + data[start:]


def _circular_pdf() -> bytes:
    body = PdfWriter().document(1).classic()
    body = body[: body.index(b"xref\n")]
    first = len(body)
    section = b"xref\n0 1\n0000000000 65535 f \ntrailer\n<< /Size 5 /Root 1 0 R /Prev %010d >>\n"
    second = first + len(section % 0)
    out = body + section % second + section % first
    return out + b"startxref\n%d\n%%%%EOF\n" % first


def _nested_pdf() -> bytes:
    writer = PdfWriter().document(1)
    writer.objects[2] = b"<< /Type /Pages /Count 1 /Kids " + b"[" * 100_000 + b"]" * 100_000 + b" >>"
    return writer.classic()


def _flate_bomb_pdf() -> bytes:
    packer = zlib.compressobj(9)
    bomb = packer.compress(bytes(64 * 1024 * 1024)) + packer.flush()
    writer = PdfWriter().document(1)
    out = bytearray(writer.classic())
    out = out[: out.index(b"xref\n")]
    at = len(out)
    out += (
        b"9 0 obj\n<< /Type /XRef /Size 10 /W [1 4 2] /Root 1 0 R /Length %d /Filter /FlateDecode >>\nstream\n"
        % len(bomb)
    )
    out += bomb + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % at
    return bytes(out)


def build(root: Path, valid: dict[str, Entry]) -> list[Entry]:
    entries: list[Entry] = []

    def add(name: str, suffix: str, kind: str, data: bytes, error: str | None, group: str = "hostile",
            truth: dict[str, object] | None = None) -> None:  # fmt: skip
        path = root / f"{name}.{suffix}"
        path.write_bytes(data)
        entries.append(Entry(name, path, kind, truth or {}, group, error))  # type: ignore[arg-type]

    def cut(name: str, count: int, error: str) -> None:
        source = valid[name]
        data = source.path.read_bytes()
        add(f"{name}-cut-{count}", source.path.name.split(".", 1)[1], source.kind, data[:count], error, "broken")

    cut("jpeg", 120, CORRUPT)
    cut("png", 20, CORRUPT)
    cut("mkv", 300, CORRUPT)
    cut("avi", 100, CORRUPT)
    cut("wav-s16", 36, CORRUPT)
    cut("ogg-opus", 30, CORRUPT)
    cut("dicom-ct", 400, CORRUPT)
    cut("nifti1", 1000, CORRUPT)
    cut("pdf-classic", 20, CORRUPT)
    moov_end = valid["mp4-moov-end"].path.read_bytes()
    add("mp4-moov-end-cut", "mp4", "video", moov_end[:-2000], CORRUPT, "broken")
    flac = bytearray(valid["flac"].path.read_bytes())
    flac[18:21] = b"\x00\x00\x00"  # STREAMINFO sample rate 0
    add("flac-zero-rate", "flac", "audio", bytes(flac), CORRUPT, "broken")

    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0))
    idat = _png_chunk(b"IDAT", zlib.compress(bytes(4096)))
    add("png-huge-dims", "png", "image", b"\x89PNG\r\n\x1a\n" + ihdr + idat + _png_chunk(b"IEND", b""), TOO_LARGE)
    jpeg = bytearray(valid["jpeg"].path.read_bytes())
    sof = jpeg.find(b"\xff\xc0")
    jpeg[sof + 5 : sof + 9] = struct.pack(">HH", 65500, 65500)
    add("jpeg-huge-dims", "jpg", "image", bytes(jpeg), TOO_LARGE)
    add("jpeg-endless-segments", "jpg", "image", b"\xff\xd8" + b"\xff\xfe\x00\x02" * 50_000, CORRUPT)
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + b"\xff\xff\xff" + b"\xff\xff\xff"
    add("webp-huge-canvas", "webp", "image", b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x, TOO_LARGE)
    add("tiff-huge-ifd", "tif", "image", b"II*\x00\x08\x00\x00\x00\xff\xff" + bytes(64), CORRUPT)

    ftyp = _box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2avc1mp41")
    add("mp4-box-2-63", "mp4", "video", ftyp + struct.pack(">I4sQ", 1, b"moov", 1 << 63) + bytes(64), CORRUPT)
    add("mp4-mdat-2-63", "mp4", "video", ftyp + struct.pack(">I4sQ", 1, b"mdat", 1 << 63) + bytes(64), CORRUPT)
    nested = b""
    for _ in range(20_000):
        nested = _box(b"trak", nested)
    add("mp4-nested-boxes", "mp4", "video", ftyp + _box(b"moov", nested), UNSUPPORTED)
    add("mp4-endless-boxes", "mp4", "video", ftyp + _box(b"free", b"") * 200_000, CORRUPT)
    sparse = root / "mp4-huge-moov.mp4"
    with sparse.open("wb") as handle:  # a 200 MB file, nearly all holes: the moov claims 150 MB of it
        handle.write(ftyp + struct.pack(">I4s", 150 * 1024 * 1024, b"moov"))
        handle.truncate(200 * 1024 * 1024)
    entries.append(Entry("mp4-huge-moov", sparse, "video", {}, "hostile", TOO_LARGE))

    header = _ebml(0x1A45DFA3, _ebml(0x4282, b"matroska"))
    info = _ebml(0x1549A966, _ebml(0x2AD7B1, (1_000_000).to_bytes(3, "big")))
    clusters = b"".join(_ebml(0x1F43B675, _ebml(0xE7, b"\x00"), unknown=True) for _ in range(10_000))
    add("mkv-unknown-clusters", "mkv", "video", header + _ebml(0x18538067, info + clusters, unknown=True), CORRUPT)
    huge_tracks = b"\x16\x54\xae\x6b" + (0x0100000000000000 | (1 << 40)).to_bytes(8, "big")
    add("mkv-huge-element", "mkv", "video", header + _ebml(0x18538067, info, unknown=True) + huge_tracks, TOO_LARGE)

    add("pdf-circular-prev", "pdf", "pdf", _circular_pdf(), CORRUPT)
    add("pdf-deep-nesting", "pdf", "pdf", _nested_pdf(), CORRUPT)
    add("pdf-flate-bomb", "pdf", "pdf", _flate_bomb_pdf(), TOO_LARGE)

    add("dicom-huge-length", "dcm", "dicom", _dicom_with_huge_length(valid["dicom-ct"].path), CORRUPT)
    add("dicom-deep-sequences", "dcm", "dicom", _dicom_with_deep_sequences(valid["dicom-ct"].path), CORRUPT)

    chunks = b"junk" + struct.pack("<I", 0)
    add("wav-endless-chunks", "wav", "audio", b"RIFF\xff\xff\xff\xffWAVE" + chunks * 100_000, CORRUPT)
    hdrl = b"LIST" + struct.pack("<I", 0x7FFFFFF0) + b"hdrl" + bytes(64)
    add("avi-huge-header", "avi", "video", b"RIFF\xff\xff\xff\xffAVI " + hdrl, TOO_LARGE)

    volume = nifti1((16, 16, 8), (1.0, 1.0, 2.0))
    add("nifti-gzip-bomb", "nii.gz", "nifti", _gzip_stream(volume, BOMB_BYTES), None,
        truth={"shape": (16, 16, 8), "voxel_size": (1.0, 1.0, 2.0)})  # fmt: skip
    add("gzip-bomb-not-nifti", "nii.gz", "nifti", _gzip_stream(b"", BOMB_BYTES), MISMATCH)
    return entries
