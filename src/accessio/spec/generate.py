"""Generate an upload spec from what a storage listing finds under a bucket prefix or local directory.

>>> from accessio.service import Accessio
>>> storage = Accessio("catalog.db").storage("media")  # doctest: +SKIP
>>> generated = generate(storage, "s3://cats/2024/")  # doctest: +SKIP
>>> write_json(generated.spec)  # doctest: +SKIP

Each object's extension (:func:`~accessio.spec.extensions.guess_mime_type`) decides its
unit: images, videos, audio, pdf, text and nifti become one unit per object; DICOM files
(``.dcm``, ``.dicom``: by extension only) become one ``dicom_series`` per directory,
titled by the directory's path relative to the prefix (``.`` for the prefix itself).
Objects of unknown type are skipped and counted, never dropped silently. Other titles are
left out, so the default title (the URL's path) applies. Units are sorted by key.

Only the unit list is held while the listing streams; a listing that would break the
per-spec limits (SPEC section 4) stops early with :class:`ListingTooLarge`.

With ``with_metadata`` the listing's facts fill only metadata they make complete:
``textMetadata`` (``file_size`` from the listing, ``mime_type`` from the extension).
``imageMetadata``, ``videoMetadata`` and ``audioMetadata`` need dimensions, durations or
codecs, ``pdfMetadata`` needs ``num_pages`` and DICOM metadata is the files' tags; none of
these is in a listing, so they are left for registration to probe. Media facts are never
put into ``clientMetadata``, which belongs to the user.
"""

from __future__ import annotations

import asyncio
import csv
import io
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Literal, get_args

from accessio.errors import AccessioError
from accessio.spec import model
from accessio.spec.extensions import guess_mime_type, item_type_of
from accessio.spec.item_types import plural_name
from accessio.spec.limits import DEFAULT_LIMITS, Limits
from accessio.spec.rules import url_problem
from accessio.storage import ListedObject, Provider, Storage

GenerateType = Literal["auto", "images", "videos", "audio", "pdf", "text", "dicom", "nifti"]
GENERATE_TYPES: tuple[str, ...] = get_args(GenerateType)
ROOT_SERIES_TITLE = "."
"""The title of the DICOM series of files directly under the prefix (no relative path can be ``.``)."""

_KIND_OF: dict[model.ItemType, model.UnitKind] = {
    model.ItemType.IMAGE: "images",
    model.ItemType.VIDEO: "videos",
    model.ItemType.AUDIO: "audio",
    model.ItemType.PDF: "pdf",
    model.ItemType.PLAIN_TEXT: "text",
    model.ItemType.NIFTI: "nifti",
    model.ItemType.DICOM_FILE: "dicom_series",
}
_NOT_FROM_LISTING: dict[model.UnitKind, str] = {
    "images": "imageMetadata needs width and height",
    "videos": "videoMetadata needs fps, duration, width and height",
    "audio": "audioMetadata needs duration, sample rate, bit depth, codec and channels",
    "pdf": "pdfMetadata needs the page count",
    "dicom_series": "DICOM metadata is the files' tags",
}
CSV_TITLE_HEADERS: dict[model.UnitKind, str] = {
    "videos": "Video title",
    "images": "Image title",
    "image_groups": "Image group title",
    "dicom_series": "Series title",
    "audio": "Audio title",
    "pdf": "PDF title",
    "text": "Text title",
    "nifti": "NIfTI title",
}


class ListingTooLarge(AccessioError):
    """The listing holds more units or object URLs than one spec may."""

    status = 400
    code = "spec.too_large"


class NothingToList(AccessioError):
    """The listing found no object a spec could hold."""

    status = 404
    code = "spec.nothing_found"


@dataclass
class Generated:
    """A generated spec and what the listing held that did not go into it."""

    spec: model.UploadSpec
    listed: int = 0
    unknown: Counter[str] = field(default_factory=Counter)  # extension (or "no extension") -> objects
    other_type: int = 0  # of a known type other than the one asked for
    unusable_urls: int = 0  # URLs a spec cannot hold (too long, whitespace, control characters)
    folder_markers: int = 0  # zero-size keys ending in "/"
    metadata_filled: int = 0
    metadata_missing: dict[str, str] = field(default_factory=dict)  # kind -> why a listing cannot fill it

    def summary(self) -> list[str]:
        """Lines for a human: what went in, what was skipped and why, what metadata was not filled."""
        counts = ", ".join(plural_name(kind, n) for kind, n in self.spec.counts().items())
        lines = [f"listed {self.listed:,} objects: {counts}; {self.spec.url_count():,} object URLs"]
        skipped = []
        if self.unknown:
            shown = ", ".join(f"{ext} {n:,}" for ext, n in self.unknown.most_common(5))
            more = ", …" if len(self.unknown) > 5 else ""
            skipped.append(f"{sum(self.unknown.values()):,} of unknown type ({shown}{more})")
        if self.other_type:
            skipped.append(f"{self.other_type:,} of other types (--type)")
        if self.unusable_urls:
            skipped.append(f"{self.unusable_urls:,} whose URL a spec cannot hold")
        if self.folder_markers:
            skipped.append(f"{self.folder_markers:,} folder markers")
        if skipped:
            lines.append(f"skipped {'; '.join(skipped)}")
        if self.metadata_filled:
            filled = self.metadata_filled
            lines.append(f"filled textMetadata of {filled:,} text file{'s' * (filled != 1)} from the listing")
        if self.metadata_missing:
            reasons = "; ".join(f"{kind} ({why})" for kind, why in self.metadata_missing.items())
            lines.append(f"metadata not filled, a listing does not give it (left for registration to probe): {reasons}")
        return lines


class _Collector:
    def __init__(self, wanted: model.UnitKind | None, with_metadata: bool, base: str | None, limits: Limits) -> None:
        self.wanted, self.with_metadata, self.base, self.limits = wanted, with_metadata, base, limits
        self.singles: dict[model.UnitKind, list[tuple[str, model.SingleUnit]]] = {}
        self.series: dict[str, list[tuple[str, str]]] = {}  # directory key -> [(key, url)]
        self.dicom_files = 0
        self.result = Generated(model.UploadSpec())

    def add(self, obj: ListedObject) -> None:
        result = self.result
        result.listed += 1
        if obj.key.endswith("/"):
            result.folder_markers += 1
            return
        mime = guess_mime_type(obj.url)
        found = item_type_of(mime) if mime else None
        kind = _KIND_OF.get(found) if found else None
        if mime is None or kind is None:
            name = obj.key.rsplit("/", 1)[-1]
            dot = name.rfind(".")
            result.unknown[name[dot:].lower() if dot > 0 else "no extension"] += 1
            return
        if self.wanted is not None and kind != self.wanted:
            result.other_type += 1
            return
        if url_problem(obj.url, self.limits) is not None:
            result.unusable_urls += 1
            return
        if kind == "dicom_series":
            self.series.setdefault(obj.key.rpartition("/")[0], []).append((obj.key, obj.url))
            self.dicom_files += 1
        else:
            self.singles.setdefault(kind, []).append((obj.key, self._single(kind, obj, mime)))
        self._check_limits()

    def _single(self, kind: model.UnitKind, obj: ListedObject, mime: str) -> model.SingleUnit:
        if kind == "text" and self.with_metadata:
            self.result.metadata_filled += 1
            return model.PlainText(object_url=obj.url, text_metadata=model.TextMetadata(obj.size, mime))
        return model.SINGLE_UNIT_TYPES[kind](object_url=obj.url)

    def _check_limits(self) -> None:
        singles = sum(len(units) for units in self.singles.values())
        units, urls = singles + len(self.series), singles + self.dicom_files
        if units > self.limits.max_units or urls > self.limits.max_urls:
            raise ListingTooLarge(
                f"the listing holds more than {self.limits.max_units:,} units or {self.limits.max_urls:,} object "
                "URLs, more than one spec may; list a narrower prefix or one --type at a time"
            )

    def finish(self) -> Generated:
        spec = self.result.spec
        for kind, found in self.singles.items():
            found.sort(key=lambda pair: pair[0])
            spec.units_of(kind).extend(unit for _, unit in found)
        members = sorted((sorted(files), directory) for directory, files in self.series.items())
        for files, directory in members:
            urls = tuple(url for _, url in files)
            spec.dicom_series.append(model.DicomSeries(urls=urls, title=self._series_title(directory)))
        if self.with_metadata:
            present = [kind for kind in _NOT_FROM_LISTING if spec.units_of(kind)]
            self.result.metadata_missing = {kind: _NOT_FROM_LISTING[kind] for kind in present}
        return self.result

    def _series_title(self, directory: str) -> str:
        base = self.base.rstrip("/") if self.base is not None else None
        if base is not None and directory == base:
            relative = ""
        elif base is not None and directory.startswith(base + "/"):
            relative = directory[len(base) + 1 :]
        else:
            relative = directory.strip("/")
        title = relative or ROOT_SERIES_TITLE
        limit = self.limits.max_title_chars
        return title if len(title) <= limit else "…" + title[-(limit - 1) :]


def _prefix_key(storage: Storage, prefix_url: str) -> str | None:
    """The prefix as listed keys start with it (a resolved path for local directories)."""
    try:
        loc = storage.locate(prefix_url.rstrip("/") + "/x")
    except AccessioError:
        return None
    key = loc.key[:-2]
    return os.path.realpath(key or "/") if loc.provider is Provider.LOCAL else key


async def generate_spec(
    storage: Storage,
    prefix_url: str,
    *,
    unit_type: GenerateType = "auto",
    with_metadata: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> Generated:
    """List ``prefix_url`` through ``storage`` and build a spec of what it holds (see the module docstring).

    Raises the storage's errors (outside the integration, access denied, ...),
    :class:`ListingTooLarge` and :class:`NothingToList`.
    """
    if unit_type not in GENERATE_TYPES:
        raise ValueError(f"unit_type must be one of {', '.join(GENERATE_TYPES)}, not {unit_type!r}")
    wanted: model.UnitKind | None = None
    if unit_type != "auto":
        wanted = "dicom_series" if unit_type == "dicom" else unit_type
    listing = storage.list(prefix_url)
    collector = _Collector(wanted, with_metadata, _prefix_key(storage, prefix_url), limits)
    async for obj in listing:
        collector.add(obj)
    result = collector.finish()
    if not result.spec.unit_count():
        what = "objects" if wanted is None else f"{unit_type} objects"
        raise NothingToList(f"no {what} a spec can hold under {prefix_url} ({result.listed:,} objects listed)")
    return result


def generate(
    storage: Storage,
    prefix_url: str,
    *,
    unit_type: GenerateType = "auto",
    with_metadata: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> Generated:
    """:func:`generate_spec`, run to completion (not from inside a running event loop)."""
    return asyncio.run(
        generate_spec(storage, prefix_url, unit_type=unit_type, with_metadata=with_metadata, limits=limits)
    )


def write_csv(spec: model.UploadSpec) -> bytes:
    """The CSV form of a spec (SPEC section 3): one section per unit kind, in the usual kind order.

    CSV carries URLs and titles only, so a spec with flags, client or media metadata, or
    image groups without titles is refused with ``ValueError``.

    >>> write_csv(model.UploadSpec(images=[model.Image(object_url="s3://b/a.jpg")]))
    b'ObjectUrl,Image title\\ns3://b/a.jpg,\\n'
    """
    if spec.skip_duplicate_urls or spec.upsert_metadata:
        raise ValueError("CSV cannot carry skip_duplicate_urls or upsert_metadata; write JSON")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for kind in model.UNIT_KINDS:
        units = spec.units_of(kind)
        if not units:
            continue
        header = ["ObjectUrl", CSV_TITLE_HEADERS[kind]] + (["Create video"] if kind == "image_groups" else [])
        writer.writerow(header)
        for unit in units:
            if unit.client_metadata is not None or _has_media_metadata(unit):
                raise ValueError(f"CSV cannot carry metadata (a unit of {kind}); write JSON")
            if isinstance(unit, model.ImageGroup):
                if unit.title is None:
                    raise ValueError("an image group needs a title in CSV")
                create = "true" if unit.create_video else "false"
                writer.writerows([url, unit.title, create] for url in unit.urls)
            elif isinstance(unit, model.DicomSeries):
                writer.writerows([url, unit.title] for url in unit.urls)
            else:
                writer.writerow([unit.object_url, unit.title or ""])
    return out.getvalue().encode()


def _has_media_metadata(unit: model.Unit) -> bool:
    if isinstance(unit, model.ImageGroup | model.DicomSeries):
        return unit.member_metadata is not None and any(m is not None for m in unit.member_metadata)
    return any(getattr(unit, name, None) is not None for name in _MEDIA_FIELDS)


_MEDIA_FIELDS = ("video_metadata", "image_metadata", "audio_metadata", "text_metadata", "pdf_metadata")
