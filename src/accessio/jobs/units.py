"""What one unit of a job becomes: item rows (a group's children included), or an error.

Units travel as JSON in the job's unit rows, so a job can resume without its spec.
Item ids derive from the job and the unit's position (``uuid5``): a chunk that is
retried after a crash writes the same rows again, and they are already there.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from accessio.catalog.bulk import ITEM_COLUMNS, db_timestamp
from accessio.catalog.items import group_key, url_key
from accessio.spec import model


class StoredUnits(msgspec.Struct, omit_defaults=True):
    """A job's units, kind by kind in spec order: a unit's position in :func:`decode_units`
    is its ``unit_index``."""

    videos: list[model.Video] = []
    images: list[model.Image] = []
    image_groups: list[model.ImageGroup] = []
    dicom_series: list[model.DicomSeries] = []
    audio: list[model.Audio] = []
    text: list[model.PlainText] = []
    pdf: list[model.Pdf] = []
    nifti: list[model.Nifti] = []


_STORED = msgspec.json.Decoder(StoredUnits)
_ENCODER = msgspec.json.Encoder()


def encode_units(spec: model.UploadSpec) -> bytes:
    """A spec's units for a job to keep: compact JSON, compressed (quickly)."""
    stored = StoredUnits(**{kind: spec.units_of(kind) for kind in model.UNIT_KINDS})
    return zlib.compress(_ENCODER.encode(stored), 1)


KIND_OF: dict[type, model.UnitKind] = {
    model.Video: "videos",
    model.Image: "images",
    model.ImageGroup: "image_groups",
    model.DicomSeries: "dicom_series",
    model.Audio: "audio",
    model.PlainText: "text",
    model.Pdf: "pdf",
    model.Nifti: "nifti",
}


def ordered_units(spec: model.UploadSpec) -> list[model.Unit]:
    """A spec's units in the order :func:`decode_units` gives them back (their positions)."""
    return [unit for kind in model.UNIT_KINDS for unit in spec.units_of(kind)]


def decode_units(blob: bytes) -> list[model.Unit]:
    """The units of :func:`encode_units`, in the order their positions count."""
    stored = _STORED.decode(zlib.decompress(blob))
    return [unit for kind in model.UNIT_KINDS for unit in getattr(stored, kind)]


def item_id(job_id: str, unit_index: int, member: int | None = None) -> str:
    """The id of the item a unit (or one member of it) becomes in this job.

    The job's random UUID with its last 48 bits replaced by the unit's position and
    the member's: unique, in UUID form, and the same every time the chunk is retried.
    """
    return f"{job_id[:24]}{unit_index:06x}{0 if member is None else member + 1:06x}"


def dedup_key(unit: model.Unit) -> int:
    """What makes a unit a duplicate in its folder: its URL, or a group's URL list."""
    if isinstance(unit, model.ImageGroup | model.DicomSeries):
        return group_key(unit.urls)
    return url_key(unit.object_url)


def dedup_keys(units: list[tuple[int, model.Unit]]) -> dict[int, int]:
    """:func:`dedup_key` of many units, by index: the same keys, at half the cost per
    unit (a rerun of a big spec spends a good part of its time here)."""
    sha256, from_bytes = hashlib.sha256, int.from_bytes
    keys: dict[int, int] = {}
    for index, unit in units:
        if isinstance(unit, model.ImageGroup | model.DicomSeries):
            keys[index] = group_key(unit.urls)
        else:
            digest = sha256(unit.object_url.encode("utf-8", "surrogatepass")).digest()
            keys[index] = from_bytes(digest[:8], "big", signed=True)
    return keys


@dataclass
class ObjectFacts:
    """Item columns learned by reading an object (probed media metadata, size, ETag)."""

    columns: dict[str, Any]


@dataclass
class UnitContext:
    job_id: str
    folder_id: str
    integration_id: str
    now: datetime
    dialect: str = "sqlite"
    facts: dict[str, ObjectFacts] = field(default_factory=dict)  # by URL, for objects that were read
    videos: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)  # sequences': URL, columns by unit
    template: tuple[Any, ...] = ()
    name_of: Callable[[str], str] = model.default_title  # an untitled object's item name (``jobs.names``)

    def __post_init__(self) -> None:
        moment = db_timestamp(self.dialect, self.now)
        row: list[Any] = [None] * len(ITEM_COLUMNS)
        for column, value in (
            ("folder_id", self.folder_id),
            ("integration_id", self.integration_id),
            ("job_id", self.job_id),
            ("is_tombstone", False),
            ("created_at", moment),
            ("updated_at", moment),
        ):
            row[_INDEX[column]] = value
        self.template = tuple(row)


def _json(value: Any) -> str | None:
    return None if value is None else _ENCODER.encode(value).decode()


def _columns(meta: Any) -> dict[str, Any]:
    """Item columns from supplied media metadata."""
    match meta:
        case model.DicomMetadata():
            return {
                "dicom_study_uid": _tag(meta, "0020000D"),
                "dicom_series_uid": _tag(meta, "0020000E"),
                "dicom_instance_uid": _tag(meta, "00080018"),
                "width": _tag(meta, "00280011"),
                "height": _tag(meta, "00280010"),
                "frame_count": _tag(meta, "00280008"),
            }
    return {ITEM_COLUMNS[column]: getattr(meta, attribute) for column, attribute in _SUPPLIED_COLUMNS[type(meta)]}


def _tag(meta: model.DicomMetadata, tag: str) -> Any:
    attribute = meta.tags.get(tag)
    if attribute is None or not attribute.value:
        return None
    value = attribute.value[0]
    if tag in ("00280011", "00280010", "00280008"):
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    return str(value)


_SUPPLIED: dict[type, str] = {
    model.Video: "video_metadata",
    model.Image: "image_metadata",
    model.Audio: "audio_metadata",
    model.PlainText: "text_metadata",
    model.Pdf: "pdf_metadata",
}


def supplied_metadata(unit: model.Unit) -> Any:
    """The media metadata a single-object unit brought (``None`` for groups, series, NIfTI)."""
    name = _SUPPLIED.get(type(unit))
    return None if name is None else getattr(unit, name)


def member_metadata(unit: model.ImageGroup | model.DicomSeries) -> tuple[Any, ...]:
    return unit.member_metadata or (None,) * len(unit.urls)


_INDEX = {column: i for i, column in enumerate(ITEM_COLUMNS)}
_ID, _ITEM_TYPE, _NAME, _URL, _URL_KEY = (_INDEX[c] for c in ("id", "item_type", "name", "url", "url_key"))
_CLIENT_METADATA = _INDEX["client_metadata"]

# Item columns of supplied media metadata, by metadata type: (column index, attribute).
_SUPPLIED_COLUMNS: dict[type, tuple[tuple[int, str], ...]] = {
    meta_type: tuple((_INDEX[column], column) for column in columns)
    for meta_type, columns in (
        (model.VideoMetadata, ("fps", "duration", "width", "height", "file_size", "mime_type")),
        (model.ImageMetadata, ("mime_type", "file_size", "width", "height")),
        (
            model.AudioMetadata,
            ("duration", "file_size", "mime_type", "sample_rate", "bit_depth", "codec", "num_channels"),
        ),
        (model.PdfMetadata, ("file_size", "num_pages")),
        (model.TextMetadata, ("file_size", "mime_type")),
    )
}


def _row(ctx: UnitContext, values: dict[str, Any]) -> tuple[Any, ...]:
    row = list(ctx.template)
    for column, value in values.items():
        row[_INDEX[column]] = value
    return tuple(row)


def _object_columns(ctx: UnitContext, url: str, meta: Any) -> dict[str, Any]:
    if meta is not None and not isinstance(meta, model.DicomMetadata):
        return _columns(meta)  # supplied metadata is stored as given
    columns = _columns(meta) if meta is not None else {}
    facts = ctx.facts.get(url)
    if facts is not None:
        columns.update(facts.columns)
    return columns


def series_mismatch(ctx: UnitContext, unit: model.DicomSeries) -> str | None:
    """Why the files of a DICOM series unit are not one series (their Series or Study Instance UIDs differ), or None.

    A series item takes its UIDs from its files: registering files of two series under
    one would file some of them under the wrong series, silently.
    """
    first: tuple[int, str, Any, Any] | None = None
    for position, (url, meta) in enumerate(zip(unit.urls, member_metadata(unit), strict=True)):
        columns = _object_columns(ctx, url, meta)
        series, study = columns.get("dicom_series_uid"), columns.get("dicom_study_uid")
        if series is None and study is None:
            continue
        if first is None:
            first = (position, url, series, study)
            continue
        for name, value, expected in (("SeriesInstanceUID", series, first[2]), ("StudyInstanceUID", study, first[3])):
            if value != expected:
                return (
                    f"dicomSeries {unit.display_title!r}: file {position} ({url}) has {name} {value}, but file "
                    f"{first[0]} ({first[1]}) has {expected}: the files of a series must share one series"
                )
    return None


_GIVEN: Any = object()


def item_rows(
    ctx: UnitContext, unit_index: int, unit: model.Unit, key: int | None = None, client_metadata: Any = _GIVEN
) -> list[tuple[Any, ...]]:
    """The rows a unit becomes (in ``ITEM_COLUMNS`` order): one item, plus its
    children for a group or series. ``key`` is the unit's dedup key when known;
    ``client_metadata``, when given, is stored instead of the unit's (its embeddings
    taken out)."""
    top_id = item_id(ctx.job_id, unit_index)
    if client_metadata is _GIVEN:
        client_metadata = unit.client_metadata
    if isinstance(unit, model.ImageGroup | model.DicomSeries):
        child_type = model.ItemType.DICOM_FILE if isinstance(unit, model.DicomSeries) else model.ItemType.IMAGE
        titles = unit.member_titles or (None,) * len(unit.urls)
        children = []
        for position, (url, meta, title) in enumerate(zip(unit.urls, member_metadata(unit), titles, strict=True)):
            values = {
                "id": item_id(ctx.job_id, unit_index, position),
                "parent_item_id": top_id,
                "position": position,
                "item_type": child_type.value,
                "name": title or ctx.name_of(url),
                "url": url,
                "url_key": url_key(url),
                **_object_columns(ctx, url, meta),
            }
            children.append(values)
        top: dict[str, Any] = {
            "id": top_id,
            "item_type": unit.item_type.value,
            "name": unit.title if unit.title is not None else ctx.name_of(unit.urls[0]),
            "url_key": group_key(unit.urls) if key is None else key,
            "client_metadata": _json(client_metadata),
        }
        video = ctx.videos.get(unit_index)
        if video is not None:  # an image sequence: the item is its video (its frames the children)
            top.update(video[1])
            top["url"] = video[0]
        if isinstance(unit, model.DicomSeries) and children:
            for name in ("dicom_study_uid", "dicom_series_uid", "modality"):
                top[name] = children[0].get(name)
        return [_row(ctx, top), *(_row(ctx, child) for child in children)]
    row = list(ctx.template)
    url = unit.object_url
    row[_ID] = top_id
    row[_ITEM_TYPE] = unit.item_type.value
    row[_NAME] = unit.title if unit.title is not None else ctx.name_of(url)
    row[_URL] = url
    row[_URL_KEY] = url_key(url) if key is None else key
    if client_metadata is not None:
        row[_CLIENT_METADATA] = _ENCODER.encode(client_metadata).decode()
    meta = supplied_metadata(unit)
    if meta is not None:  # stored as given
        for column, attribute in _SUPPLIED_COLUMNS[type(meta)]:
            row[column] = getattr(meta, attribute)
    else:
        facts = ctx.facts.get(url)
        if facts is not None:
            for name, value in facts.columns.items():
                row[_INDEX[name]] = value
    return [tuple(row)]
