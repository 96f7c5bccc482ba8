"""The public door: what ``import accessio`` offers is a contract."""

from __future__ import annotations

import accessio
import accessio.spec


def test_top_level_exports_are_pinned() -> None:
    assert sorted(accessio.__all__) == [
        "AccessioError",
        "Issue",
        "Limits",
        "SpecError",
        "SpecInvalid",
        "SpecUnreadable",
        "UploadSpec",
        "UrlNotUnderstood",
        "__version__",
        "load_spec",
        "parse_spec",
        "write_json",
    ]
    for name in accessio.__all__:
        assert hasattr(accessio, name)


def test_spec_exports_resolve() -> None:
    for name in accessio.spec.__all__:
        assert getattr(accessio.spec, name) is not None


def test_errors_carry_status_and_code() -> None:
    error = accessio.SpecInvalid("x.json", [accessio.Issue("videos[0]", "url.empty", "the object URL is empty")])
    assert (error.status, error.code) == (400, "spec.invalid")
    assert str(error) == "x.json is not a valid upload spec: videos[0]: the object URL is empty"
    assert issubclass(accessio.SpecUnreadable, accessio.SpecError)
    assert issubclass(accessio.SpecError, accessio.AccessioError)
