"""The thorough path: a decoded JSON document checked item by item, every issue kept.

Used when the fast path meets anything it does not judge, and directly for specs that
arrive already decoded (a dict handed to the Python API or posted to the REST API).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from accessio.errors import SpecInvalid
from accessio.spec import convert, model, wire
from accessio.spec.check import Problem
from accessio.spec.issues import Code, Issue, IssueList, did_you_mean
from accessio.spec.limits import DEFAULT_LIMITS, Limits
from accessio.spec.rules import flag_issues, limit_issues, raw_item_issues, unit_issues

_TOP_KEYS = [f.encode_name for f in __import__("msgspec").structs.fields(wire.DocumentWire)]
_SPELLINGS = (
    ("pdf", "pdfs"),
    ("image_groups", "imageGroups"),
    ("dicom_series", "dicomSeries"),
    ("skip_duplicate_urls", "skipDuplicateUrls"),
    ("upsert_metadata", "upsertMetadata"),
)
_FLAGS = ("skip_duplicate_urls", "skipDuplicateUrls", "upsert_metadata", "upsertMetadata")
_STRUCTURED_GROUPS = frozenset({"imageGroups", "dicomSeries"})
_Check = Callable[[Any, str, list[Problem]], model.Unit | None]


def parse_object(
    obj: Any,
    *,
    name: str = "<spec>",
    limits: Limits = DEFAULT_LIMITS,
    duplicates: Iterable[tuple[int, str]] = (),
    duplicate_count: int = 0,
    metadata_sizes: bool = True,
    depth_checked: bool = False,
) -> model.UploadSpec:
    """Validate a decoded JSON spec (either form) and build its model.

    Raises :class:`~accessio.errors.SpecInvalid` with the issues in file order (the
    first ``limits.max_issues``, and the count of all). ``duplicates`` are the first
    repeated keys the scanner found, ``duplicate_count`` all of them; ``depth_checked``
    says the nesting was already measured on the JSON text.
    """
    if not depth_checked:
        too_deep = _too_deep_at(obj, limits.max_depth)
        if too_deep is not None:
            raise SpecInvalid(
                name, [Issue(too_deep, Code.JSON_TOO_DEEP, f"the JSON nests deeper than {limits.max_depth} levels")]
            )
    if not isinstance(obj, dict):
        raise SpecInvalid(name, [Issue("$", Code.SHAPE, _shape_message(obj))])
    top = IssueList(limits.max_issues)
    _top_level_issues(obj, top)
    # An unknown key (a typo of "images") is reported with the issues of the rest of the
    # file, which is still checked; other top-level issues stop here.
    unknown = [issue for issue in top.first() if issue.code == Code.UNKNOWN_KEY]
    structural = IssueList(limits.max_issues)
    structural.extend(issue for issue in top.first() if issue.code != Code.UNKNOWN_KEY)
    if not structural:
        unit_total = sum(len(obj[k] or ()) for k in obj if k in wire.LIST_KEYS)
        structural.extend(limit_issues(unit_total, 0, limits))
    if structural:
        structural.extend(unknown)
        raise SpecInvalid(name, structural.first(), structural.total)

    issues = IssueList(limits.max_issues, order_of(obj))
    issues.extend(unknown)
    reported = [duplicate_issue(path) for _, path in duplicates]
    issues.extend(reported)
    issues.count_more(duplicate_count - len(reported))
    form: model.SpecForm = "structured" if any(k in obj for k in wire.STRUCTURED_KEYS) else "json"
    keys: dict[str, str] = {}
    found: list[tuple[model.UnitKind, int, model.Unit]] = []
    built: dict[str, list[model.Unit]] = {}
    failed_urls = 0
    for key, items in obj.items():
        kind = wire.LIST_KEYS.get(key)
        if kind is None or items is None:
            continue
        keys[kind] = key
        check = _checker(key, kind)
        units = built.setdefault(kind, [])
        problems: list[Problem] = []
        for index, item in enumerate(items):
            unit = check(item, kind, problems)
            if unit is not None:
                units.append(unit)
                found.append((kind, index, unit))  # type: ignore[arg-type]
                continue
            prefix = f"{key}[{index}]"
            issues.extend(Issue(f"{prefix}.{p.path}" if p.path else prefix, p.code, p.message) for p in problems)
            decoded = convert.as_plain(item)
            issues.extend(raw_item_issues(decoded, prefix, limits))
            failed_urls += _url_count(decoded)
            problems.clear()

    url_total = failed_urls + sum(len(unit.urls) for _, _, unit in found)
    too_many = list(limit_issues(0, url_total, limits))
    if too_many:
        raise SpecInvalid(name, too_many)
    source = model.SpecSource(name=name, form=form, keys=keys)
    issues.extend(unit_issues(found, source.locate, limits, metadata_sizes=metadata_sizes))
    skip = bool(obj.get("skip_duplicate_urls") or obj.get("skipDuplicateUrls"))
    upsert = bool(obj.get("upsert_metadata") or obj.get("upsertMetadata"))
    issues.extend(flag_issues(skip, upsert, "upsertMetadata" if "upsertMetadata" in obj else "upsert_metadata"))
    if not any(obj.get(k) for k in wire.LIST_KEYS) and not unknown:
        issues.append(empty_issue())
    if issues:
        raise SpecInvalid(name, issues.first(), issues.total)
    spec = model.UploadSpec(skip_duplicate_urls=skip, upsert_metadata=upsert, source=source)
    for kind, kind_units in built.items():
        spec.units_of(kind).extend(kind_units)  # type: ignore[arg-type]
    return spec


def _checker(key: str, kind: str) -> _Check:
    if kind in convert.SINGLE:
        return convert.check_single
    return convert.check_structured if key in _STRUCTURED_GROUPS else convert.check_upload_group


def _shape_message(obj: Any) -> str:
    got = "an array" if isinstance(obj, list) else type(obj).__name__ if obj is not None else "null"
    return f'a spec is a JSON object with keys such as "videos" and "images"; this one is {got}'


def _top_level_issues(obj: dict[str, Any], issues: IssueList) -> None:
    for key, value in obj.items():
        if key not in _TOP_KEYS:
            issues.append(Issue(key, Code.UNKNOWN_KEY, f"unknown key {key!r}{did_you_mean(key, _TOP_KEYS)}"))
        elif key == "imageGroupsFromItems":
            issues.append(
                Issue(
                    key,
                    Code.UNSUPPORTED,
                    "imageGroupsFromItems groups registered items, not object URLs; a spec cannot use it",
                )
            )
        elif key in _FLAGS:
            if value is not None and not isinstance(value, bool):
                issues.append(Issue(key, Code.TYPE, f"{key} must be true or false"))
        elif value is not None and not isinstance(value, list):
            issues.append(Issue(key, Code.SHAPE, f"{key} must be an array of items"))
        elif value:
            issues.extend(
                Issue(f"{key}[{i}]", Code.SHAPE, "each item must be a JSON object")
                for i, item in enumerate(value)
                if not convert.is_object(item)
            )
    for first, second in _SPELLINGS:
        if first in obj and second in obj:
            issues.append(Issue(second, Code.CONFLICT, f"{first!r} and {second!r} name the same thing; use one"))
    upload = [k for k in obj if k in wire.UPLOAD_KEYS and k != "pdfs"]
    structured = [k for k in obj if k in wire.STRUCTURED_KEYS]
    if upload and structured and all(issue.code == Code.UNKNOWN_KEY for issue in issues.first()):
        issues.append(
            Issue(
                structured[0],
                Code.CONFLICT,
                f"the spec mixes the upload file form ({upload[0]!r}) and the structured form "
                f"({structured[0]!r}); use one",
            )
        )


def _too_deep_at(obj: Any, limit: int) -> str | None:
    """The location of the first value nested deeper than ``limit``, if any."""
    stack: list[tuple[Any, int, str]] = [(obj, 1, "$")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict | list) and depth > limit:
            return path[2:] if path.startswith("$.") else path
        if isinstance(node, dict):
            stack.extend(
                (value, depth + 1, f"{path}.{key}") for key, value in node.items() if isinstance(value, dict | list)
            )
        elif isinstance(node, list):
            stack.extend(
                (value, depth + 1, f"{path}[{i}]") for i, value in enumerate(node) if isinstance(value, dict | list)
            )
    return None


def _url_count(item: Any) -> int:
    """Object URLs of an item that could not become a unit (for the URL limit)."""
    if not isinstance(item, dict):
        return 0
    members = item.get("images", item.get("dicomFiles"))
    if isinstance(members, list):
        return len(members)
    return sum(1 for k in item if k == "objectUrl" or k.startswith("objectUrl_"))


def duplicate_issue(path: str) -> Issue:
    """An issue for a repeated key, from the scanner's ``$.a[1].b`` path."""
    location = path[2:] if path.startswith("$.") else path
    key = location.rsplit(".", 1)[-1]
    return Issue(location, Code.JSON_DUPLICATE_KEY, f"the key {key!r} appears more than once in this object")


def empty_issue() -> Issue:
    return Issue("$", Code.EMPTY, "the spec holds no units: add videos, images, image_groups, ... to it")


_INDEXED = re.compile(r"^([^.\[]+)(?:\[(\d+)\])?")


def order_of(keys: Iterable[str]) -> Callable[[Issue], tuple[int, int]]:
    """The sort key of issues in file order: whole-spec ones first, then by list key (in
    the order of ``keys``) and item index."""
    position = {key: i for i, key in enumerate(keys)}

    def order(issue: Issue) -> tuple[int, int]:
        match = _INDEXED.match(issue.location)
        if issue.location == "$" or match is None:
            return (-1, -1)
        key, index = match.group(1), match.group(2)
        return (position.get(key, len(position)), int(index) if index else -1)

    return order
