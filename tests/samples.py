"""Small real media files for registration tests: registration probes what it reads,
so a file named ``.jpg`` must hold a JPEG."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.media.medical import dicom
from tests.media.video import encode

_JPEGS: dict[tuple[int, int], bytes] = {}


def jpeg_bytes(width: int = 16, height: int = 12) -> bytes:
    """A JPEG of the given size (made once per size)."""
    if (width, height) not in _JPEGS:
        out = io.BytesIO()
        Image.new("RGB", (width, height), (30, 120, 200)).save(out, "JPEG")
        _JPEGS[width, height] = out.getvalue()
    return _JPEGS[width, height]


SAMPLE_STUDY_UID = "1.2.826.0.1.3680043.8.498.10001"
SAMPLE_SERIES_UID = "1.2.826.0.1.3680043.8.498.10001.1"


def write_sample(path: Path, n: int = 0) -> Path:
    """A real file of the kind its extension says: ``.jpg`` ``(16 + n) x 12``, ``.mp4``
    of 10 frames at 25 fps, ``.dcm`` a 16 x 16 CT slice (every sample slice in one series,
    ``SAMPLE_SERIES_UID``, so that any of them make a series)."""
    from fractions import Fraction  # noqa: PLC0415

    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".jpg":
        path.write_bytes(jpeg_bytes(16 + n, 12))
    elif path.suffix == ".mp4":
        encode(path, "mp4", "mpeg4", frames=10, rate=Fraction(25), size=(32, 32))
    elif path.suffix == ".dcm":
        dicom(path, rows=16, columns=16, frames=1, modality="CT", study_uid=SAMPLE_STUDY_UID,
              series_uid=SAMPLE_SERIES_UID)  # fmt: skip
    else:
        raise ValueError(f"no sample for {path.suffix}")
    return path
