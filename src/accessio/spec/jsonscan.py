"""Structural facts about JSON text that msgspec's decoder does not report.

msgspec keeps the last of two equal keys and nests as deep as memory allows; the
spec forbids both. :func:`scan` finds repeated keys (with their paths), the nesting
depth, the largest container per depth (an upper bound on any item's client
metadata) and the URL and title strings that need an exact check. It runs in C,
without the GIL, beside the decoder; a slower pure-Python scan stands in where the
C part could not be built, and reports ``None`` for what it does not measure.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

try:
    from accessio.spec import _jsonscan
except ImportError:  # pragma: no cover - only without a C compiler
    _jsonscan = None  # type: ignore[assignment]

ACCELERATED = _jsonscan is not None


@dataclass(frozen=True)
class ScanResult:
    """What one scan found. ``None`` means "not measured: check everything"."""

    complete: bool
    max_depth: int
    too_deep_at: int | None  # byte offset where nesting passed the limit
    duplicates: list[tuple[int, str]]  # the first ones: (byte offset or -1, "$.path.key")
    spans: tuple[int, ...] | None  # largest container in bytes, per depth
    suspects: int | None  # URL and title strings that need an exact check
    duplicate_count: int = 0  # every repeated key, listed in ``duplicates`` or not


KEY_SHOWN_MAX, KEY_SHOWN_HEAD = 64, 40  # as in _jsonscan.c


def shown_key(key: str) -> str:
    """A key as a path shows it: past 64 characters, its first 40 and an ellipsis."""
    return key if len(key) <= KEY_SHOWN_MAX else key[:KEY_SHOWN_HEAD] + "…"


def scan(
    data: bytes, depth_limit: int = 64, url_max: int = 16384, title_max: int = 300, max_reported: int = 1_000_000
) -> ScanResult:
    """Scan JSON text; never raises on malformed input (``complete`` is then False).

    Duplicate keys past the first ``max_reported`` are counted, not listed.
    """
    if _jsonscan is not None:
        complete, depth, deep_at, dups, spans, suspects, total = _jsonscan.scan(
            data, depth_limit, url_max, title_max, max_reported
        )
        return ScanResult(complete, depth, deep_at if deep_at >= 0 else None, dups, spans, suspects, total)
    return _scan_python(data, depth_limit, max_reported)


class ScanThread:
    """Run :func:`scan` on another core while this thread decodes the same bytes."""

    def __init__(self, data: bytes, depth_limit: int, url_max: int, title_max: int, max_reported: int) -> None:
        self._result: ScanResult | None = None
        self._error: BaseException | None = None
        args = (data, depth_limit, url_max, title_max, max_reported)
        self._thread = threading.Thread(target=self._run, args=args, daemon=True)
        self._thread.start()

    def _run(self, data: bytes, depth_limit: int, url_max: int, title_max: int, max_reported: int) -> None:
        try:
            self._result = scan(data, depth_limit, url_max, title_max, max_reported)
        except BaseException as exc:
            self._error = exc

    def result(self) -> ScanResult:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result


class _Pairs(dict[str, Any]):
    duplicates: list[str]
    shadowed: list[tuple[str, Any]]  # values a later equal key replaced


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = _Pairs(pairs)
    if len(obj) != len(pairs):
        last = {key: index for index, (key, _) in enumerate(pairs)}
        seen: set[str] = set()
        obj.duplicates = []
        obj.shadowed = []
        for index, (key, value) in enumerate(pairs):
            if key in seen:
                obj.duplicates.append(key)
            seen.add(key)
            if last[key] != index:
                obj.shadowed.append((key, value))
    return obj


def _scan_python(data: bytes, depth_limit: int, max_reported: int = 1_000_000) -> ScanResult:
    depth, deep_at = _depth(data, depth_limit)
    if deep_at is not None:
        return ScanResult(False, depth, deep_at, [], None, None)
    try:
        tree = json.loads(data, object_pairs_hook=_pairs_hook)
    except (ValueError, RecursionError):
        return ScanResult(False, depth, None, [], None, None)
    dups: list[tuple[int, str]] = []
    total = 0
    stack: list[tuple[Any, str]] = [(tree, "$")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            repeated = getattr(node, "duplicates", ())
            total += len(repeated)
            room = max(0, max_reported - len(dups))
            dups.extend((-1, f"{path}.{shown_key(key)}") for key in repeated[:room])
            # containers only: a path is built per nested object or array, never per leaf
            members = [*reversed(node.items()), *getattr(node, "shadowed", ())]
            stack.extend((v, f"{path}.{shown_key(k)}") for k, v in members if isinstance(v, dict | list))
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in reversed(list(enumerate(node))) if isinstance(v, dict | list))
    return ScanResult(True, depth, None, dups, None, None, total)


def _depth(data: bytes, limit: int) -> tuple[int, int | None]:
    depth = deepest = 0
    in_string = escaped = False
    for offset, byte in enumerate(data):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):
            depth += 1
            deepest = max(deepest, depth)
            if depth > limit:
                return deepest, offset
        elif byte in (0x7D, 0x5D):
            depth -= 1
    return deepest, None
