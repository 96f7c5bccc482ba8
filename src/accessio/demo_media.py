"""A small folder of real media files, one or more of every type, for ``accessio demo``."""

from __future__ import annotations

import struct
import wave
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image as PILImage
from PIL import ImageDraw
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid


def write_media(root: Path) -> dict[str, list[Path]]:
    """Write the demo files under ``root``; their paths by unit kind."""
    root.mkdir(parents=True, exist_ok=True)
    return {
        "images": [_image(root / "images" / f"car-{n}.jpg", n) for n in range(3)],
        "frames": [_image(root / "frames" / f"frame-{n:03d}.png", n) for n in range(4)],
        "videos": [_video(root / "videos" / "drive.mp4")],
        "audio": [_audio(root / "audio" / "tone.wav")],
        "text": [_text(root / "text" / "notes.txt")],
        "pdf": [_pdf(root / "docs" / "manual.pdf")],
        "nifti": [_nifti(root / "scans" / "brain.nii")],
        "dicom": _dicom_series(root / "dicom" / "series-1", 3),
    }


def _image(path: Path, n: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture = PILImage.new("RGB", (64 + 16 * n, 48), (40 * n, 120, 200))
    ImageDraw.Draw(picture).rectangle((8, 8, 24 + 8 * n, 32), fill=(250, 250, 250))
    picture.save(path)
    return path


def _video(path: Path, frames: int = 25) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, 25)
        for n in range(frames):
            picture = PILImage.new("RGB", (64, 48), (10 * n, 100, 150))
            frame = av.VideoFrame.from_image(picture)  # type: ignore[no-untyped-call]
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _audio(path: Path, seconds: float = 1.0, rate: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = (int(8000 * ((n // 20) % 2 * 2 - 1)) for n in range(int(seconds * rate)))
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return path


def _text(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("Field notes: sunny, site Algiers, 12 cars.\n", encoding="utf-8")
    return path


def _pdf(path: Path) -> Path:
    """A one-page PDF, cross-reference table included."""
    path.parent.mkdir(parents=True, exist_ok=True)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] /Contents 4 0 R >>",
        b"<< /Length 35 >>\nstream\nBT /F1 12 Tf 20 50 Td (Manual) Tj ET\nendstream",
    ]
    body = b"%PDF-1.4\n"
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % number + content + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(body)
    return path


def _nifti(path: Path, shape: tuple[int, int, int] = (8, 8, 4)) -> Path:
    """A NIfTI-1 volume: the 348-byte header, then int16 voxels."""
    path.parent.mkdir(parents=True, exist_ok=True)
    dims = (3, *shape, 1, 1, 1, 1)
    header = struct.pack("<i", 348) + b"\0" * 36 + struct.pack("<8h", *dims)
    header += b"\0" * 14 + struct.pack("<hh", 4, 16) + b"\0" * 4
    header += struct.pack("<8f", 1.0, 1.0, 1.0, 2.5, 1.0, 1.0, 1.0, 1.0) + struct.pack("<f", 352.0)
    header = header.ljust(344, b"\0") + b"n+1\0"
    voxels = b"".join(struct.pack("<h", n % 100) for n in range(shape[0] * shape[1] * shape[2]))
    path.write_bytes(header + b"\0" * 4 + voxels)
    return path


def _dicom_series(directory: Path, count: int) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    study, series = generate_uid(), generate_uid()
    paths = []
    for n in range(count):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MRImageStorage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = Dataset()
        ds.file_meta = meta
        ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality, ds.PatientID, ds.InstanceNumber = "MR", "DEMO-1", n + 1
        ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 16, 16, 15
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, "MONOCHROME2", 0
        ds.PixelData = bytes(8 * 8 * 2)
        path = directory / f"{n + 1:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
