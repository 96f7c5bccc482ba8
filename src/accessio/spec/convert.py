"""Wire items (decoded and type-checked) into model units.

What the types alone cannot say is checked here: both spellings of one metadata
field, metadata with fields missing, ``createVideo`` where it cannot be true, group
positions, DICOM titles. Every function raises :class:`Rejected` with all the
problems of the item, or returns the unit.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Any

import msgspec
from msgspec import UNSET

from accessio.spec import model, wire
from accessio.spec.check import Problem, Rejected, check_value
from accessio.spec.issues import Code, did_you_mean

_MetaSpec = tuple[type[msgspec.Struct], int, tuple[tuple[int, int], ...]]


def _meta_spec(wire_type: type[msgspec.Struct], model_type: type[msgspec.Struct]) -> _MetaSpec:
    """How a wire metadata type folds into its model: the model's fields come first
    in the wire type, each other spelling maps to one of them."""
    names = [f.encode_name for f in msgspec.structs.fields(wire_type)]
    canon = [f.name for f in msgspec.structs.fields(model_type)]
    size = len(canon)
    if [_snake(n) for n in names[:size]] != canon:
        raise TypeError(f"{wire_type.__name__} must list {canon} first")
    alias = {"duration_seconds": "duration", "durationSeconds": "duration"}
    pairs = tuple((i, canon.index(alias.get(name, _snake(name)))) for i, name in enumerate(names) if i >= size)
    return model_type, size, pairs


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


_META: dict[type[msgspec.Struct], _MetaSpec] = {
    wire.VideoMetadataWire: _meta_spec(wire.VideoMetadataWire, model.VideoMetadata),
    wire.ImageMetadataWire: _meta_spec(wire.ImageMetadataWire, model.ImageMetadata),
    wire.AudioMetadataWire: _meta_spec(wire.AudioMetadataWire, model.AudioMetadata),
    wire.PdfMetadataWire: _meta_spec(wire.PdfMetadataWire, model.PdfMetadata),
    wire.TextMetadataWire: _meta_spec(wire.TextMetadataWire, model.TextMetadata),
}


def metadata(value: msgspec.Struct | None, path: str) -> Any:
    """Fold a wire metadata object into its model type (``None`` stays ``None``)."""
    if value is None:
        return None
    model_type, size, pairs = _META[type(value)]
    values = msgspec.structs.astuple(value)
    head = values[:size]
    if UNSET not in head and values.count(UNSET) == len(values) - size:
        return model_type(*head)  # the usual case: one spelling, complete
    merged = list(head)
    names = [f.encode_name for f in msgspec.structs.fields(type(value))]
    problems: list[Problem] = []
    for index, target in pairs:
        if values[index] is UNSET:
            continue
        if merged[target] is not UNSET:
            problems.append(
                Problem(
                    f"{path}.{names[index]}",
                    Code.CONFLICT,
                    f"{names[index]!r} repeats {names[target]!r}; give one spelling",
                )
            )
        merged[target] = values[index]
    for target, current in enumerate(merged):
        if current is UNSET:
            problems.append(Problem(f"{path}.{names[target]}", Code.MISSING, f"missing required key {names[target]!r}"))
    if problems:
        raise Rejected(problems)
    return model_type(*merged)


def dicom_metadata(value: wire.DicomMetadataWire | None, path: str) -> model.DicomMetadata | None:
    """DICOM tags of one file; the tags Encord requires must all be present."""
    if value is None:
        return None
    tags = {
        k.upper(): (None if a is None else model.DicomAttribute(vr=a.vr, value=a.value)) for k, a in value.tags.items()
    }
    missing = [f"{tag} ({name})" for tag, name in REQUIRED_DICOM_TAGS.items() if tag not in tags]
    if missing:
        raise Rejected([Problem(f"{path}.tags", Code.MISSING, "missing DICOM tags: " + ", ".join(missing))])
    return model.DicomMetadata(tags=tags)


REQUIRED_DICOM_TAGS: dict[str, str] = {
    "00080018": "SOPInstanceUID",
    "00100020": "PatientID",
    "00180050": "SliceThickness",
    "00181114": "EstimatedRadiographicMagnificationFactor",
    "00181164": "ImagerPixelSpacing",
    "0020000D": "StudyInstanceUID",
    "0020000E": "SeriesInstanceUID",
    "00200013": "InstanceNumber",
    "00200032": "ImagePositionPatient",
    "00200037": "ImageOrientationPatient",
    "00209113": "PlanePositionSequence",
    "00209116": "PlaneOrientationSequence",
    "00280004": "PhotometricInterpretation",
    "00280008": "NumberOfFrames",
    "00280010": "Rows",
    "00280011": "Columns",
    "00280030": "PixelSpacing",
    "00281050": "WindowCenter",
    "00281051": "WindowWidth",
    "00289110": "PixelMeasuresSequence",
    "52009229": "SharedFunctionalGroupsSequence",
    "52009230": "PerFrameFunctionalGroupsSequence",
}
"""The tags a DICOM file's supplied metadata must carry (values may be null)."""


def _no_create_video(item: wire.VideoWire | wire.ImageWire) -> None:
    if item.create_video:
        raise Rejected([Problem("createVideo", Code.CREATE_VIDEO, "createVideo can only be true on image groups")])


def video(item: wire.VideoWire) -> model.Video:
    _no_create_video(item)
    return model.Video(
        object_url=item.object_url,
        title=item.title,
        client_metadata=item.client_metadata,
        video_metadata=metadata(item.video_metadata, "videoMetadata"),
    )


def image(item: wire.ImageWire) -> model.Image:
    _no_create_video(item)
    return model.Image(
        object_url=item.object_url,
        title=item.title,
        client_metadata=item.client_metadata,
        image_metadata=metadata(item.image_metadata, "imageMetadata"),
    )


def audio(item: wire.AudioWire) -> model.Audio:
    return model.Audio(
        object_url=item.object_url,
        title=item.title,
        client_metadata=item.client_metadata,
        audio_metadata=metadata(item.audio_metadata, "audioMetadata"),
    )


def text(item: wire.TextWire) -> model.PlainText:
    return model.PlainText(
        object_url=item.object_url,
        title=item.title,
        client_metadata=item.client_metadata,
        text_metadata=metadata(item.text_metadata, "textMetadata"),
    )


def pdf(item: wire.PdfWire) -> model.Pdf:
    return model.Pdf(
        object_url=item.object_url,
        title=item.title,
        client_metadata=item.client_metadata,
        pdf_metadata=metadata(item.pdf_metadata, "pdfMetadata"),
    )


def nifti(item: wire.NiftiWire) -> model.Nifti:
    return model.Nifti(object_url=item.object_url, title=item.title, client_metadata=item.client_metadata)


SINGLE: dict[str, tuple[type[msgspec.Struct], Callable[[Any], model.Unit]]] = {
    "videos": (wire.VideoWire, video),
    "images": (wire.ImageWire, image),
    "audio": (wire.AudioWire, audio),
    "text": (wire.TextWire, text),
    "pdf": (wire.PdfWire, pdf),
    "nifti": (wire.NiftiWire, nifti),
}


def _optional(values: list[Any]) -> tuple[Any, ...] | None:
    return tuple(values) if any(v is not None for v in values) else None


def structured_group(item: wire.ImageGroupWire) -> model.ImageGroup:
    if not item.images:
        raise Rejected([Problem("images", Code.POSITIONS, "an image group needs at least one image")])
    problems: list[Problem] = []
    metas: list[model.ImageMetadata | None] = []
    for index, member in enumerate(item.images):
        try:
            metas.append(metadata(member.image_metadata, f"images[{index}].imageMetadata"))
        except Rejected as exc:
            problems.extend(exc.problems)
    if problems:
        raise Rejected(problems)
    return model.ImageGroup(
        urls=tuple(m.url for m in item.images),
        title=item.title,
        client_metadata=item.client_metadata,
        create_video=item.create_video,
        member_titles=_optional([m.title for m in item.images]),
        member_metadata=_optional(metas),
    )


def structured_series(item: wire.DicomSeriesWire) -> model.DicomSeries:
    problems: list[Problem] = []
    if not item.dicom_files:
        problems.append(Problem("dicomFiles", Code.POSITIONS, "a DICOM series needs at least one file"))
    if item.title is None:
        problems.append(Problem("title", Code.TITLE_MISSING, "a DICOM series needs a title"))
    metas: list[model.DicomMetadata | None] = []
    for index, member in enumerate(item.dicom_files):
        try:
            metas.append(dicom_metadata(member.dicom_metadata, f"dicomFiles[{index}].dicomMetadata"))
        except Rejected as exc:
            problems.extend(exc.problems)
    if problems or item.title is None:
        raise Rejected(problems)
    return model.DicomSeries(
        urls=tuple(m.url for m in item.dicom_files),
        title=item.title,
        client_metadata=item.client_metadata,
        member_titles=_optional([m.title for m in item.dicom_files]),
        member_metadata=_optional(metas),
    )


_URL_GETTERS: list[Callable[[dict[str, Any]], Any]] = [
    operator.itemgetter(*[f"objectUrl_{k}" for k in range(n)]) if n else (lambda d: ()) for n in range(65)
]
_NUMBERED = re.compile(r"^(objectUrl|imageMetadata|dicomMetadata)_(0|[1-9][0-9]{0,8})$")


def _all_strings(values: tuple[Any, ...]) -> bool:
    try:
        "".join(values)  # a type check of every member at C speed
    except TypeError:
        return False
    return True


def upload_group(
    item: dict[str, Any], kind: str, urls_are_strings: bool = False
) -> model.ImageGroup | model.DicomSeries:
    """An upload-form group (``objectUrl_0``, ``objectUrl_1``, ...) into its unit.

    The decoded object is consumed: its keys are popped as they are read.
    ``urls_are_strings`` skips the URL type check when a scan has proven it.
    """
    title = item.pop("title", None)
    client_metadata = item.pop("clientMetadata", None)
    create_video = item.pop("createVideo", False)
    count = len(item)
    urls: tuple[Any, ...] | None = None
    if 0 < count < len(_URL_GETTERS):
        try:
            got = _URL_GETTERS[count](item)
            urls = got if count > 1 else (got,)
        except KeyError:
            urls = None
    if (
        urls is None
        or not (urls_are_strings or _all_strings(urls))
        or not (title is None or type(title) is str)
        or not (client_metadata is None or type(client_metadata) is dict)
        or type(create_video) is not bool
        or (kind == "dicom_series" and title is None)
    ):
        item.update({"title": title, "clientMetadata": client_metadata, "createVideo": create_video})
        return _upload_group_checked(item, kind)
    if kind == "dicom_series":
        assert title is not None
        return model.DicomSeries(urls=urls, title=title, client_metadata=client_metadata)
    return model.ImageGroup(urls=urls, title=title, client_metadata=client_metadata, create_video=create_video)


def _upload_group_checked(item: dict[str, Any], kind: str) -> model.ImageGroup | model.DicomSeries:
    """The thorough path for an upload-form group: every key checked, every problem kept."""
    problems: list[Problem] = []
    members = wire.UPLOAD_GROUP_MEMBER_FIELDS[kind]
    urls: dict[int, str] = {}
    metas: dict[int, Any] = {}
    for key, value in item.items():
        if key in wire.UPLOAD_GROUP_FIELDS:
            check_value(value, wire.UPLOAD_GROUP_FIELDS[key], key, problems)
            continue
        match = _NUMBERED.match(key)
        if match is None or match.group(1) not in members:
            hint = did_you_mean(key, [*wire.UPLOAD_GROUP_FIELDS, *(f"{m}_0" for m in members)])
            if key.startswith(("objectUrl_", "imageMetadata_", "dicomMetadata_")):
                message = f"{key!r} is not a member key: positions are numbers from 0, without leading zeros"
                problems.append(Problem(key, Code.POSITIONS, message))
            else:
                problems.append(Problem(key, Code.UNKNOWN_KEY, f"unknown key {key!r}{hint}"))
            continue
        position = int(match.group(2))
        before = len(problems)
        check_value(value, members[match.group(1)], key, problems)
        if len(problems) > before:
            continue
        if match.group(1) == "objectUrl":
            urls[position] = value
        else:
            metas[position] = msgspec.convert(value, members[match.group(1)])
    if not urls and not any(p.path.startswith("objectUrl_") for p in problems):
        problems.append(Problem("objectUrl_0", Code.MISSING, "a group needs at least objectUrl_0"))
    elif urls:
        gaps = [n for n in range(max(urls)) if n not in urls]
        if gaps:
            shown = ", ".join(f"objectUrl_{n}" for n in gaps[:5]) + (" ..." if len(gaps) > 5 else "")
            problems.append(
                Problem(f"objectUrl_{gaps[0]}", Code.POSITIONS, f"positions must be contiguous from 0; missing {shown}")
            )
    for position in sorted(metas):
        if position not in urls:
            problems.append(
                Problem(
                    f"{_meta_key(kind)}_{position}",
                    Code.POSITIONS,
                    f"there is no objectUrl_{position} for this metadata",
                )
            )
    title = item.get("title")
    if kind == "dicom_series" and title is None:
        problems.append(Problem("title", Code.TITLE_MISSING, "a DICOM series needs a title"))
    folded: list[Any] = []
    for position in sorted(urls):
        try:
            if kind == "dicom_series":
                folded.append(dicom_metadata(metas.get(position), f"dicomMetadata_{position}"))
            else:
                folded.append(metadata(metas.get(position), f"imageMetadata_{position}"))
        except Rejected as exc:
            problems.extend(exc.problems)
    if problems:
        raise Rejected(problems)
    ordered = tuple(urls[n] for n in sorted(urls))
    client_metadata = item.get("clientMetadata")
    if kind == "dicom_series":
        assert isinstance(title, str)  # a missing title is a problem above
        return model.DicomSeries(
            urls=ordered, title=title, client_metadata=client_metadata, member_metadata=_optional(folded)
        )
    return model.ImageGroup(
        urls=ordered,
        title=title,
        client_metadata=client_metadata,
        create_video=bool(item.get("createVideo", False)),
        member_metadata=_optional(folded),
    )


def _meta_key(kind: str) -> str:
    return "dicomMetadata" if kind == "dicom_series" else "imageMetadata"


_MODEL_TYPES: dict[str, Any] = model.SINGLE_UNIT_TYPES
_MODEL_DECODERS = {kind: msgspec.json.Decoder(t) for kind, t in _MODEL_TYPES.items()}
_STRUCTURED_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    "image_groups": msgspec.json.Decoder(wire.ImageGroupWire),
    "dicom_series": msgspec.json.Decoder(wire.DicomSeriesWire),
}


def is_object(item: Any) -> bool:
    """Whether an item (decoded, or raw JSON text) is a JSON object."""
    if isinstance(item, msgspec.Raw):
        return bytes(memoryview(item)[:1]) == b"{"
    return isinstance(item, dict)


def as_plain(item: Any) -> Any:
    """An item as plain Python values, decoding it if it is still raw JSON text."""
    return msgspec.json.decode(item) if isinstance(item, msgspec.Raw) else item


def check_single(value: Any, kind: str, problems: list[Problem]) -> model.Unit | None:
    """Check one single-file item and convert it when sound.

    ``value`` is decoded JSON or raw JSON text (:class:`msgspec.Raw`).
    """
    wire_type, build = SINGLE[kind]
    try:  # most items are sound even in a spec that is not: one C call settles them
        if isinstance(value, msgspec.Raw):
            unit: model.Unit = _MODEL_DECODERS[kind].decode(value)
        else:
            unit = msgspec.convert(value, _MODEL_TYPES[kind])
        return unit
    except msgspec.ValidationError:
        value = as_plain(value)
    before = len(problems)
    check_value(value, wire_type, "", problems)
    if len(problems) > before:
        return None
    try:
        return build(msgspec.convert(value, wire_type))
    except Rejected as exc:
        problems.extend(exc.problems)
        return None


def check_structured(value: Any, kind: str, problems: list[Problem]) -> model.Unit | None:
    """Check one structured-form group or series and convert it when sound."""
    wire_type: type[msgspec.Struct] = wire.ImageGroupWire if kind == "image_groups" else wire.DicomSeriesWire
    try:
        if isinstance(value, msgspec.Raw):
            quick = _STRUCTURED_DECODERS[kind].decode(value)
        else:
            quick = msgspec.convert(value, wire_type)
        if isinstance(quick, wire.ImageGroupWire):
            return structured_group(quick)
        assert isinstance(quick, wire.DicomSeriesWire)
        return structured_series(quick)
    except (msgspec.ValidationError, Rejected):
        value = as_plain(value)
    before = len(problems)
    check_value(value, wire_type, "", problems)
    if len(problems) > before:
        return None
    try:
        decoded = msgspec.convert(value, wire_type)
        if isinstance(decoded, wire.ImageGroupWire):
            return structured_group(decoded)
        assert isinstance(decoded, wire.DicomSeriesWire)
        return structured_series(decoded)
    except Rejected as exc:
        problems.extend(exc.problems)
        return None


def check_upload_group(value: Any, kind: str, problems: list[Problem]) -> model.Unit | None:
    """Check one upload-form group or series and convert it when sound."""
    if isinstance(value, msgspec.Raw):
        value = msgspec.json.decode(value)
        if isinstance(value, dict):
            try:
                return upload_group(value, kind)  # freshly decoded: ours to consume
            except Rejected as exc:
                problems.extend(exc.problems)
                return None
    if not isinstance(value, dict):
        problems.append(Problem("", Code.TYPE, "expected an object"))
        return None
    try:
        return upload_group(dict(value), kind)
    except Rejected as exc:
        problems.extend(exc.problems)
        return None
