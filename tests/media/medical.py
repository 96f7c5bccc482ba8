"""DICOM files written by pydicom (one ~10 MB multi-frame) and NIfTI volumes written to the spec."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    CTImageStorage,
    EnhancedMRImageStorage,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    generate_uid,
)

from tests.media import Entry


def dicom(path: Path, *, rows: int, columns: int, frames: int, modality: str, implicit: bool = False,
          enhanced: bool = False, study_uid: str | None = None, series_uid: str | None = None,
          ) -> dict[str, object]:  # fmt: skip
    """Write one DICOM file with the Encord tags (in a new study and series unless given); return its truth."""
    sop_class = EnhancedMRImageStorage if enhanced else CTImageStorage
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = sop_class, generate_uid()
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid or generate_uid(), series_uid or generate_uid()
    ds.Modality, ds.PatientID, ds.InstanceNumber = modality, "CORPUS-1", 7
    ds.SliceThickness, ds.PixelSpacing = "1.25", ["0.5", "0.5"]
    ds.ImagePositionPatient, ds.ImageOrientationPatient = ["0", "0", "12.5"], ["1", "0", "0", "0", "1", "0"]
    ds.WindowCenter, ds.WindowWidth = "40", "400"
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = rows, columns, 16, 12, 11
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = 1, "MONOCHROME2", 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if enhanced:
        measures = Dataset()
        measures.PixelSpacing, measures.SliceThickness = ["0.5", "0.5"], "1.25"
        shared = Dataset()
        shared.PixelMeasuresSequence = Sequence([measures])
        ds.SharedFunctionalGroupsSequence = Sequence([shared])
    ds.PixelData = bytes(range(256)) * (rows * columns * frames * 2 // 256)
    ds.save_as(path, enforce_file_format=True)
    return {
        "mime_type": "application/dicom", "width": columns, "height": rows, "frame_count": frames,
        "modality": modality, "dicom_study_uid": str(ds.StudyInstanceUID),
        "dicom_series_uid": str(ds.SeriesInstanceUID), "dicom_instance_uid": str(ds.SOPInstanceUID),
    }  # fmt: skip


def nifti1(shape: tuple[int, ...], voxel: tuple[float, ...], *, big_endian: bool = False) -> bytes:
    """A single-file NIfTI-1 volume of int16 voxels (header, 4 bytes of extension flag, data)."""
    order = ">" if big_endian else "<"
    dims = (len(shape), *shape, *([1] * (7 - len(shape))))
    pixdim = (1.0, *voxel, *([1.0] * (7 - len(voxel))))
    header = struct.pack(order + "i", 348) + b"\0" * 36 + struct.pack(order + "8h", *dims)
    header += b"\0" * 14 + struct.pack(order + "hh", 4, 16) + b"\0" * 2 + struct.pack(order + "8f", *pixdim)
    header += struct.pack(order + "f", 352.0)
    header = header.ljust(123, b"\0") + b"\x0a"  # xyzt_units: mm and seconds
    header = header.ljust(344, b"\0") + b"n+1\0" + b"\0" * 4
    count = 1
    for d in shape:
        count *= d
    return header + bytes(2 * count)


def nifti2(shape: tuple[int, ...], voxel: tuple[float, ...]) -> bytes:
    """A single-file NIfTI-2 volume of int16 voxels."""
    dims = (len(shape), *shape, *([1] * (7 - len(shape))))
    pixdim = (1.0, *voxel, *([1.0] * (7 - len(voxel))))
    header = struct.pack("<i", 540) + b"n+2\0\r\n\x1a\n" + struct.pack("<hh", 4, 16)
    header += struct.pack("<8q", *dims) + b"\0" * 24 + struct.pack("<8d", *pixdim) + struct.pack("<q", 544)
    header = header.ljust(540, b"\0") + b"\0" * 4
    count = 1
    for d in shape:
        count *= d
    return header + bytes(2 * count)


def build(root: Path, scale: str) -> list[Entry]:
    entries: list[Entry] = []
    for name, options in (
        ("dicom-ct", {"rows": 64, "columns": 48, "frames": 1, "modality": "CT"}),
        ("dicom-implicit", {"rows": 32, "columns": 32, "frames": 1, "modality": "CT", "implicit": True}),
        ("dicom-enhanced", {"rows": 64, "columns": 64, "frames": 4, "modality": "MR", "enhanced": True}),
        ("dicom-10mb", {"rows": 512, "columns": 512, "frames": 20, "modality": "MR", "enhanced": True}),
    ):
        path = root / f"{name}.dcm"
        truth = dicom(path, **options)  # type: ignore[arg-type]
        entries.append(Entry(name, path, "dicom", truth))

    def volume(name: str, suffix: str, data: bytes, shape: tuple[int, ...], voxel: tuple[float, ...]) -> None:
        path = root / f"{name}.{suffix}"
        path.write_bytes(data)
        truth = {"mime_type": "application/x-nifti", "shape": shape, "voxel_size": voxel}
        entries.append(Entry(name, path, "nifti", truth))

    volume("nifti1", "nii", nifti1((32, 24, 16), (1.5, 1.5, 3.0)), (32, 24, 16), (1.5, 1.5, 3.0))
    volume("nifti1-4d-gz", "nii.gz", gzip.compress(nifti1((16, 16, 8, 5), (2.0, 2.0, 2.5, 1.5))), (16, 16, 8, 5),
           (2.0, 2.0, 2.5, 1.5))  # fmt: skip
    volume("nifti1-big-endian", "nii", nifti1((10, 12, 14), (0.5, 0.75, 1.0), big_endian=True), (10, 12, 14),
           (0.5, 0.75, 1.0))  # fmt: skip
    volume("nifti2", "nii", nifti2((20, 20, 10), (1.0, 1.0, 2.0)), (20, 20, 10), (1.0, 1.0, 2.0))
    return entries
