"""Media probing: an object's media metadata read from its first (and sometimes last) bytes.

>>> from accessio.probe import probe
>>> with storage.reader("s3://shots/cat.jpg") as reader:  # doctest: +SKIP
...     info = probe(reader, "image", url="s3://shots/cat.jpg")
>>> info.mime_type, info.width, info.height  # doctest: +SKIP
('image/jpeg', 4032, 3024)

Content decides the type, never the name: :func:`sniff` gives the mime type, and
:func:`probe` fails with :class:`ProbeTypeMismatch` (``Expected a video, got a file of
type image/jpeg``) when it is not the kind the unit declared. Every probe runs under
:class:`ProbeLimits` (bytes read, seconds, pixels); hostile or broken content fails
with a :class:`ProbeError` rather than being read on. One module per format family;
``docs/probing.md`` gives each format's strategy and its cost in requests.
"""

from accessio.probe.dispatch import DEFAULT_LIMITS, block_size_for, kind_of_mime, probe, probe_content, sniff
from accessio.probe.errors import (
    ProbeCorrupt,
    ProbeError,
    ProbeTimeout,
    ProbeTooLarge,
    ProbeTypeMismatch,
    ProbeUnsupported,
)
from accessio.probe.info import Kind, MediaInfo, ProbeLimits
from accessio.probe.source import BinaryReader

__all__ = [
    "DEFAULT_LIMITS",
    "BinaryReader",
    "Kind",
    "MediaInfo",
    "ProbeCorrupt",
    "ProbeError",
    "ProbeLimits",
    "ProbeTimeout",
    "ProbeTooLarge",
    "ProbeTypeMismatch",
    "ProbeUnsupported",
    "block_size_for",
    "kind_of_mime",
    "probe",
    "probe_content",
    "sniff",
]
