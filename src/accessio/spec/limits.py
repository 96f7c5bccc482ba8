"""The limits of one spec file (SPEC section 4), as one value object."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Per-spec limits; the defaults are the documented ones.

    >>> Limits().max_units
    500000
    """

    max_urls: int = 1_000_000
    max_units: int = 500_000
    max_url_bytes: int = 16_384
    max_client_metadata_bytes: int = 10 * 1024 * 1024
    max_title_chars: int = 300
    max_depth: int = 64
    max_spec_bytes: int = 1 << 30
    max_issues: int = 1000  # issues kept and shown of an invalid spec; all are counted


DEFAULT_LIMITS = Limits()
