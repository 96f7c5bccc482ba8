"""PDFs (Pillow's writer and every cross-reference layout by hand, one of ~10 MB) and text files."""

from __future__ import annotations

import os
from pathlib import Path

from PIL import Image

from tests.media import Entry
from tests.media.pdfwriter import PdfWriter

BIG_PDF_PAGES, BIG_PDF_PAGE_BYTES = 40, 256 * 1024


def build(root: Path, scale: str) -> list[Entry]:
    entries: list[Entry] = []

    def pdf(name: str, data: bytes, pages: int) -> None:
        path = root / f"{name}.pdf"
        path.write_bytes(data)
        entries.append(Entry(name, path, "pdf", {"mime_type": "application/pdf", "num_pages": pages}))

    frames = [Image.new("RGB", (200, 100), (40 * i, 80, 120)) for i in range(3)]
    pillow = root / "pdf-pillow.pdf"
    frames[0].save(pillow, save_all=True, append_images=frames[1:])
    entries.append(Entry("pdf-pillow", pillow, "pdf", {"mime_type": "application/pdf", "num_pages": 3}))

    pdf("pdf-classic", PdfWriter().document(5).classic(), 5)
    writer = PdfWriter().document(2)
    base = writer.classic()
    added = {7: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>",
             2: b"<< /Type /Pages /Kids [3 0 R 5 0 R 7 0 R] /Count 3 >>"}  # fmt: skip
    pdf("pdf-incremental", writer.update(base, added), 3)
    pdf("pdf-xref-stream", PdfWriter().document(4).xref_stream(compressed={1, 2, 3, 5}), 4)
    broken = bytearray(PdfWriter().document(6).classic())
    at = broken.rfind(b"startxref\n") + len(b"startxref\n")
    broken[at : broken.index(b"\n", at)] = b"%d" % 20  # points into the header: the scan must recover
    pdf("pdf-broken-xref", bytes(broken), 6)
    noise = os.urandom(BIG_PDF_PAGE_BYTES)
    pdf("pdf-10mb", PdfWriter().document(BIG_PDF_PAGES, content=noise).classic(), BIG_PDF_PAGES)

    def text(name: str, suffix: str, data: bytes, mime: str, encoding: str) -> None:
        path = root / f"{name}.{suffix}"
        path.write_bytes(data)
        entries.append(Entry(name, path, "text", {"mime_type": mime, "encoding": encoding}))

    prose = "Accessio registers files. Café, naïve, Zürich — ok.\n" * 40
    text("text-utf8", "txt", prose.encode(), "text/plain", "utf-8")
    text("text-ascii", "txt", b"plain ascii line\n" * 5000, "text/plain", "ascii")
    text("text-utf16", "txt", prose.encode("utf-16"), "text/plain", "utf-16le")
    text("text-cp1252", "txt", prose.replace("—", "-").encode("cp1252"), "text/plain", "windows-1252")
    text("text-json", "json", b'{"a": [1, 2, 3], "b": "caf\xc3\xa9"}\n', "application/json", "utf-8")
    text("text-html", "html", b"<!DOCTYPE html>\n<html><body>hi</body></html>\n", "text/html", "ascii")
    return entries
