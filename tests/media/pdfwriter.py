"""A small PDF writer, to make every cross-reference layout the probe must read.

Written from the PDF 1.7 specification (sections 7.5.4 to 7.5.8): classic tables,
incremental updates chained by ``/Prev``, cross-reference streams with PNG-Up
predictors, and object streams. Each document is a catalog (1), a page tree root
(2) and pages with content streams, so its page count is known by construction.
"""

from __future__ import annotations

import zlib


class PdfWriter:
    """Objects by number; ``classic()`` / ``xref_stream()`` lay them out with their index."""

    def __init__(self) -> None:
        self.objects: dict[int, bytes] = {}

    def document(self, pages: int, *, content: bytes = b"BT /F1 12 Tf 72 720 Td (Hello) Tj ET") -> PdfWriter:
        kids = []
        for index in range(pages):
            page, stream = 3 + 2 * index, 4 + 2 * index
            self.objects[stream] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content)
            self.objects[page] = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R >>" % stream
            kids.append(b"%d 0 R" % page)
        self.objects[1] = b"<< /Type /Catalog /Pages 2 0 R >>"
        self.objects[2] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(kids), pages)
        return self

    def classic(self) -> bytes:
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = self._body(out, self.objects)
        xref_at = len(out)
        size = max(self.objects) + 1
        out += b"xref\n0 %d\n0000000000 65535 f \n" % size
        for num in range(1, size):
            out += b"%010d 00000 n \n" % offsets[num] if num in offsets else b"0000000000 65535 f \n"
        out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref_at)
        return bytes(out)

    def update(self, base: bytes, changed: dict[int, bytes], *, prev: int | None = None) -> bytes:
        """An incremental update appended to ``base``: new versions of ``changed`` and a section for them."""
        out = bytearray(base)
        offsets = self._body(out, changed)
        xref_at = len(out)
        out += b"xref\n0 1\n0000000000 65535 f \n"
        for num in sorted(offsets):
            out += b"%d 1\n%010d 00000 n \n" % (num, offsets[num])
        if prev is None:
            prev = int(base.rsplit(b"startxref", 1)[1].split()[0])
        size = max(*self.objects, *changed) + 1
        out += b"trailer\n<< /Size %d /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (size, prev, xref_at)
        return bytes(out)

    def xref_stream(self, *, compressed: set[int]) -> bytes:
        """Objects in ``compressed`` go into one object stream; the index is a predicted, deflated xref stream."""
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        plain = {n: body for n, body in self.objects.items() if n not in compressed}
        offsets = self._body(out, plain)
        objstm_num = max(self.objects) + 1
        members = sorted(compressed)
        header, payload = b"", b""
        for num in members:
            header += b"%d %d " % (num, len(payload))
            payload += self.objects[num] + b"\n"
        packed = zlib.compress(header + payload)
        offsets[objstm_num] = len(out)
        out += b"%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Length %d /Filter /FlateDecode >>\nstream\n" % (
            objstm_num, len(members), len(header), len(packed),
        )  # fmt: skip
        out += packed + b"\nendstream\nendobj\n"
        xref_num = objstm_num + 1
        offsets[xref_num] = len(out)
        rows = [b"\x00\x00\x00\x00\x00\xff\xff"]
        for num in range(1, xref_num + 1):
            if num in compressed:
                rows.append(b"\x02" + objstm_num.to_bytes(4, "big") + members.index(num).to_bytes(2, "big"))
            else:
                rows.append(b"\x01" + offsets[num].to_bytes(4, "big") + b"\x00\x00")
        data = zlib.compress(_png_up(rows))
        out += b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Length %d /Filter /FlateDecode " % (
            xref_num, xref_num + 1, len(data),
        )  # fmt: skip
        out += b"/DecodeParms << /Predictor 12 /Columns 7 >> >>\nstream\n" + data + b"\nendstream\nendobj\n"
        out += b"startxref\n%d\n%%%%EOF\n" % offsets[xref_num]
        return bytes(out)

    @staticmethod
    def _body(out: bytearray, objects: dict[int, bytes]) -> dict[int, int]:
        offsets = {}
        for num in sorted(objects):
            offsets[num] = len(out)
            out += b"%d 0 obj\n%s\nendobj\n" % (num, objects[num])
        return offsets


def _png_up(rows: list[bytes]) -> bytes:
    out, previous = bytearray(), bytes(len(rows[0]))
    for row in rows:
        out += b"\x02" + bytes((a - b) & 0xFF for a, b in zip(row, previous, strict=True))
        previous = row
    return bytes(out)
