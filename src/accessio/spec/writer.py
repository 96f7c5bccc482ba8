"""Write an :class:`UploadSpec` back out as JSON: the canonical upload file form, or
the structured form of Encord's SDK.

The upload file form has no place for the titles of group members; the structured
form keeps them. Flags are written only when true.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from accessio.spec import model

_ENCODER = msgspec.json.Encoder()


def spec_to_object(spec: model.UploadSpec, form: Literal["json", "structured"] = "json") -> dict[str, Any]:
    """The spec as a JSON-ready object in the chosen form."""
    out: dict[str, Any] = {}
    for kind in model.UNIT_KINDS:
        units = spec.units_of(kind)
        if not units:
            continue
        if kind == "image_groups":
            key = "imageGroups" if form == "structured" else "image_groups"
            out[key] = [_group(g, form) for g in units]
        elif kind == "dicom_series":
            key = "dicomSeries" if form == "structured" else "dicom_series"
            out[key] = [_series(s, form) for s in units]
        else:
            out[kind] = msgspec.to_builtins(units)
    if spec.skip_duplicate_urls:
        out["skipDuplicateUrls" if form == "structured" else "skip_duplicate_urls"] = True
    if spec.upsert_metadata:
        out["upsertMetadata" if form == "structured" else "upsert_metadata"] = True
    return out


def write_json(spec: model.UploadSpec, form: Literal["json", "structured"] = "json", *, indent: int = 2) -> bytes:
    """Encode the spec as JSON text.

    >>> write_json(model.UploadSpec(images=[model.Image(object_url="s3://b/a.jpg")]), indent=0)
    b'{"images":[{"objectUrl":"s3://b/a.jpg"}]}'
    """
    encoded = _ENCODER.encode(spec_to_object(spec, form))
    return msgspec.json.format(encoded, indent=indent) if indent else encoded


def _common(unit: model.ImageGroup | model.DicomSeries) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if unit.title is not None:
        out["title"] = unit.title
    if unit.client_metadata is not None:
        out["clientMetadata"] = unit.client_metadata
    return out


def _group(group: model.ImageGroup, form: str) -> dict[str, Any]:
    out = _common(group)
    if group.create_video:
        out["createVideo"] = True
    return _with_members(out, group, form, "images", "imageMetadata")


def _series(series: model.DicomSeries, form: str) -> dict[str, Any]:
    return _with_members(_common(series), series, form, "dicomFiles", "dicomMetadata")


def _with_members(
    out: dict[str, Any], unit: model.ImageGroup | model.DicomSeries, form: str, list_key: str, meta_key: str
) -> dict[str, Any]:
    """Members as a list (structured form) or as numbered keys (upload file form)."""
    metas = unit.member_metadata or (None,) * len(unit.urls)
    if form == "structured":
        titles = unit.member_titles or (None,) * len(unit.urls)
        out[list_key] = [_member(u, t, meta_key, m) for u, t, m in zip(unit.urls, titles, metas, strict=True)]
        return out
    for position, (url, meta) in enumerate(zip(unit.urls, metas, strict=True)):
        out[f"objectUrl_{position}"] = url
        if meta is not None:
            out[f"{meta_key}_{position}"] = msgspec.to_builtins(meta)
    return out


def _member(url: str, title: str | None, meta_key: str, meta: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"url": url}
    if title is not None:
        out["title"] = title
    if meta is not None:
        out[meta_key] = msgspec.to_builtins(meta)
    return out
