"""Errors of probing, under :class:`accessio.errors.AccessioError`.

    ProbeError                    422  the object's content could not give its media metadata
    ├── ProbeTypeMismatch         422  the content is not of the declared kind (code probe.type_mismatch)
    ├── ProbeCorrupt              422  truncated, malformed or self-contradicting content (probe.corrupt)
    ├── ProbeTooLarge             422  over a bound: bytes read, index size, pixels (probe.too_large)
    ├── ProbeUnsupported          422  a real format or variant the probes do not read (probe.unsupported)
    └── ProbeTimeout              422  the probe ran past its time limit (probe.timeout)

A probe failure fails its unit (a unit error row); it never stops a job. Messages name
the format and what was wrong, never the object's bytes.
"""

from __future__ import annotations

from accessio.errors import AccessioError

_ARTICLES = {
    "video": "a video",
    "image": "an image",
    "audio": "an audio file",
    "pdf": "a PDF",
    "text": "a text file",
    "dicom": "a DICOM file",
    "nifti": "a NIfTI file",
}


def kind_noun(kind: str) -> str:
    """The kind with its article, as messages say it (``an audio file``)."""
    return _ARTICLES.get(kind, f"a {kind}")


class ProbeError(AccessioError):
    """The object's content could not give its media metadata."""

    status = 422
    code = "probe"

    def __init__(self, message: str, *, url: str = "") -> None:
        super().__init__(message)
        self.url = url


class ProbeTypeMismatch(ProbeError):
    """The content is not of the kind the unit declared (``Expected a video, got a file of type image/jpeg``)."""

    code = "probe.type_mismatch"

    def __init__(self, expected: str, found_mime: str, *, url: str = "") -> None:
        noun = kind_noun(expected)
        super().__init__(f"Expected {noun}, got a file of type {found_mime}", url=url)
        self.expected = expected
        self.found_mime = found_mime


class ProbeCorrupt(ProbeError):
    """Truncated, malformed or self-contradicting content."""

    code = "probe.corrupt"


class ProbeTooLarge(ProbeError):
    """Content over one of the probe's bounds (bytes read, index size, pixel count)."""

    code = "probe.too_large"


class ProbeUnsupported(ProbeError):
    """A real format, or variant of one, that the probes do not read."""

    code = "probe.unsupported"


class ProbeTimeout(ProbeError):
    """The probe ran past its time limit."""

    code = "probe.timeout"
