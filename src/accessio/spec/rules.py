"""Rules every unit obeys, whatever form its spec came in (SPEC sections 2 to 4)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from accessio.spec.issues import Code, Issue
from accessio.spec.limits import Limits
from accessio.spec.model import GROUP_KINDS, ClientMetadata, Unit, UnitKind


def url_problem(url: str, limits: Limits) -> tuple[Code, str] | None:
    """What is wrong with one object URL, if anything."""
    if url.isascii() and url.isprintable() and " " not in url and len(url) <= limits.max_url_bytes:
        return None if url else (Code.URL_EMPTY, "the object URL is empty")  # the usual case, at C speed
    if not url:
        return Code.URL_EMPTY, "the object URL is empty"
    if len(url) * 4 > limits.max_url_bytes or not url.isascii():
        size = len(url.encode("utf-8", errors="surrogatepass"))
        if size > limits.max_url_bytes:
            return Code.URL_TOO_LONG, f"the object URL is {size:,} bytes; the limit is {limits.max_url_bytes:,}"
    for position, char in enumerate(url):
        if char.isspace():
            return Code.URL_WHITESPACE, f"the object URL holds whitespace ({char!r} at character {position + 1})"
        if not char.isprintable():
            return Code.URL_CONTROL, f"the object URL holds a control character ({char!r} at character {position + 1})"
    return None


def title_problem(title: str | None, limits: Limits) -> tuple[Code, str] | None:
    """What is wrong with a given title, if anything (``None`` means the default title)."""
    if title is None:
        return None
    if not title.strip():
        return Code.TITLE_EMPTY, "the title is empty; leave it out to use the default title"
    if len(title) > limits.max_title_chars:
        return Code.TITLE_TOO_LONG, f"the title is {len(title):,} characters; the limit is {limits.max_title_chars}"
    return None


def client_metadata_problem(value: ClientMetadata | None, limits: Limits) -> tuple[Code, str] | None:
    """Client metadata larger than the limit once written as compact JSON."""
    if not value:
        return None
    size = len(msgspec.json.encode(value))
    if size > limits.max_client_metadata_bytes:
        return (
            Code.METADATA_TOO_LARGE,
            f"clientMetadata is {size:,} bytes as compact JSON; the limit is {limits.max_client_metadata_bytes:,}",
        )
    return None


def unit_issues(
    units: Iterable[tuple[UnitKind, int, Unit]],
    locate: Callable[..., str],
    limits: Limits,
    *,
    metadata_sizes: bool = True,
) -> Iterator[Issue]:
    """Every rule violation of the given units, located in the spec's own terms."""
    max_url, max_title = limits.max_url_bytes, limits.max_title_chars
    for kind, index, unit in units:
        urls = unit.urls
        for member, url in enumerate(urls):
            # the usual case, decided at C speed; anything else gets the exact rule
            if url and url.isascii() and url.isprintable() and " " not in url and len(url) <= max_url:
                continue
            problem = url_problem(url, limits)
            if problem:
                where = locate(kind, index, "objectUrl", member if kind in GROUP_KINDS else None)
                yield Issue(where, problem[0], problem[1])
        title = unit.title
        if title is not None and (len(title) > max_title or not title or title.isspace()):
            problem = title_problem(title, limits)
            if problem:
                yield Issue(locate(kind, index, "title"), problem[0], problem[1])
        if metadata_sizes:
            problem = client_metadata_problem(unit.client_metadata, limits)
            if problem:
                yield Issue(locate(kind, index, "clientMetadata"), problem[0], problem[1])


def flag_issues(skip_duplicate_urls: bool, upsert_metadata: bool, where: str) -> Iterator[Issue]:
    """``upsert_metadata`` only means something with ``skip_duplicate_urls``."""
    if upsert_metadata and not skip_duplicate_urls:
        yield Issue(
            where,
            Code.FLAGS,
            "upsert_metadata needs skip_duplicate_urls: true (metadata is only replaced on items that already exist)",
        )


def limit_issues(units: int, urls: int, limits: Limits) -> Iterator[Issue]:
    """The whole-spec limits: too many units or URLs rejects the spec before any work."""
    if urls > limits.max_urls:
        yield Issue(
            "$", Code.LIMIT_URLS, f"the spec holds {urls:,} object URLs; the limit is {limits.max_urls:,} per spec"
        )
    if units > limits.max_units:
        yield Issue(
            "$", Code.LIMIT_UNITS, f"the spec holds {units:,} units; the limit is {limits.max_units:,} per spec"
        )


def raw_item_issues(item: Any, prefix: str, limits: Limits) -> Iterator[Issue]:
    """URL and title rules on an item that could not become a unit, so that its
    other issues are reported with the rest."""
    if not isinstance(item, dict):
        return
    for key, value in item.items():
        if not isinstance(value, str):
            if key in ("images", "dicomFiles") and isinstance(value, list):
                for index, member in enumerate(value):
                    if isinstance(member, dict) and isinstance(member.get("url"), str):
                        problem = url_problem(member["url"], limits)
                        if problem:
                            yield Issue(f"{prefix}.{key}[{index}].url", problem[0], problem[1])
            continue
        if key == "objectUrl" or key.startswith("objectUrl_"):
            problem = url_problem(value, limits)
        elif key == "title":
            problem = title_problem(value, limits)
        else:
            continue
        if problem:
            yield Issue(f"{prefix}.{key}", problem[0], problem[1])
