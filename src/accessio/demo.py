"""``accessio demo``: example specs of every type, and a real registration of a small
local media folder into a catalog of its own."""

from __future__ import annotations

from pathlib import Path

from accessio.spec import (
    Audio,
    AudioMetadata,
    DicomSeries,
    Image,
    ImageGroup,
    ImageMetadata,
    Nifti,
    Pdf,
    PdfMetadata,
    PlainText,
    TextMetadata,
    UploadSpec,
    Video,
    VideoMetadata,
    write_json,
)

BUCKET = "https://accessio-demo.s3.eu-west-2.amazonaws.com"


def example_spec() -> UploadSpec:
    """One spec holding every unit type, with media and client metadata."""
    return UploadSpec(
        videos=[
            Video(
                object_url=f"{BUCKET}/videos/drive-001.mp4",
                title="Drive 1",
                client_metadata={"site": "Algiers", "weather": "sunny"},
                video_metadata=VideoMetadata(30.0, 12.5, 1920, 1080, 18_204_112, "video/mp4"),
            ),
            Video(object_url=f"{BUCKET}/videos/drive-002.mp4"),
        ],
        images=[
            Image(
                object_url=f"{BUCKET}/images/cat%20on%20mat.jpg",
                client_metadata={"captured_at": "2024-05-01T10:00:00Z"},
                image_metadata=ImageMetadata("image/jpeg", 312_004, 1024, 768),
            ),
            Image(object_url=f"{BUCKET}/images/dog.png", title="Dog"),
        ],
        image_groups=[
            ImageGroup(urls=(f"{BUCKET}/frames/a/0001.jpg", f"{BUCKET}/frames/a/0002.jpg"), title="Group A"),
            ImageGroup(
                urls=(f"{BUCKET}/frames/b/0001.jpg", f"{BUCKET}/frames/b/0002.jpg", f"{BUCKET}/frames/b/0003.jpg"),
                title="Sequence B",
                create_video=True,
            ),
        ],
        dicom_series=[
            DicomSeries(urls=(f"{BUCKET}/dicom/study1/series1/1.dcm",), title="Study 1, series 1"),
            DicomSeries(
                urls=tuple(f"{BUCKET}/dicom/study1/series2/{n}.dcm" for n in range(1, 4)),
                title="Study 1, series 2",
            ),
        ],
        audio=[
            Audio(
                object_url=f"{BUCKET}/audio/interview.mp3",
                audio_metadata=AudioMetadata(62.4, 998_400, "audio/mpeg", 44_100, 16, "mp3", 2),
            )
        ],
        text=[PlainText(object_url=f"{BUCKET}/text/notes.txt", text_metadata=TextMetadata(2_048, "text/plain"))],
        pdf=[Pdf(object_url=f"{BUCKET}/docs/manual.pdf", pdf_metadata=PdfMetadata(1_204_556, 24))],
        nifti=[Nifti(object_url=f"{BUCKET}/scans/brain.nii.gz")],
        skip_duplicate_urls=True,
    )


EXAMPLE_CSV = f"""ObjectUrl,Image group title,Create video
{BUCKET}/frames/a/0001.jpg,Group A,false
{BUCKET}/frames/a/0002.jpg,Group A,false
{BUCKET}/frames/b/0001.jpg,Sequence B,
{BUCKET}/frames/b/0002.jpg,Sequence B,
ObjectUrl,Image title
{BUCKET}/images/dog.png,Dog
ObjectUrl,Video title
{BUCKET}/videos/drive-001.mp4,Drive 1
{BUCKET}/videos/drive-002.mp4,
ObjectUrl,Series title
{BUCKET}/dicom/study1/series2/1.dcm,Study 1 series 2
{BUCKET}/dicom/study1/series2/2.dcm,Study 1 series 2
{BUCKET}/dicom/study2/single.dcm,
ObjectUrl,Audio title
{BUCKET}/audio/interview.mp3,Interview
ObjectUrl,PDF title
{BUCKET}/docs/manual.pdf,
ObjectUrl,Text title
{BUCKET}/text/notes.txt,Notes
ObjectUrl,NIfTI title
{BUCKET}/scans/brain.nii.gz,Brain
"""


def write_examples(directory: Path) -> list[Path]:
    """Write ``spec.json`` and ``spec.csv`` into ``directory``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "spec.json"
    json_path.write_bytes(write_json(example_spec()) + b"\n")
    csv_path = directory / "spec.csv"
    csv_path.write_text(EXAMPLE_CSV, encoding="utf-8")
    return [json_path, csv_path]


def local_spec(media: dict[str, list[Path]]) -> UploadSpec:
    """A spec of every unit type over the demo media folder (``file://`` URLs)."""
    uri = Path.as_uri
    return UploadSpec(
        videos=[Video(object_url=uri(media["videos"][0]), title="Drive", client_metadata={"weather": "sunny"})],
        images=[
            Image(object_url=uri(path), client_metadata={"camera": "front", "index": n})
            for n, path in enumerate(media["images"])
        ],
        image_groups=[
            ImageGroup(urls=tuple(uri(p) for p in media["frames"][:2]), title="Frames 1-2"),
            ImageGroup(urls=tuple(uri(p) for p in media["frames"][2:]), title="Frames 3-4", create_video=True),
        ],
        dicom_series=[DicomSeries(urls=tuple(uri(p) for p in media["dicom"]), title="MR series 1")],
        audio=[Audio(object_url=uri(media["audio"][0]), title="Tone")],
        text=[PlainText(object_url=uri(media["text"][0]))],
        pdf=[Pdf(object_url=uri(media["pdf"][0]), title="Manual")],
        nifti=[Nifti(object_url=uri(media["nifti"][0]), title="Brain")],
        skip_duplicate_urls=True,
    )
