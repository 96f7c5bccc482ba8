"""Option values coerced without pydantic when they need nothing of it: commands start faster.

Typer 0.29 coerces every parameter's value through a pydantic ``TypeAdapter``, built
when the command runs, even for a parameter left at ``None`` or a string that is
already a string: importing pydantic and building the adapters of one command cost
about 0.1 s of every start (``accessio items ls`` 0.6 s, of which this was a sixth).
Here the adapter is built only for a value that needs it. Taken as they are: ``None``
(Typer returns it before any coercion); a string for a ``str``; a bool for a ``bool``;
an ``int`` within its bounds, or the plain decimal digits of one; a member of an
``Enum`` for that ``Enum`` (a default); strings for a ``list[str]``. A ``Path`` given as a string becomes
``Path(value)`` and goes through Typer's own path checks. Anything else (``"yes"`` for a
flag from the environment, ``"007"``, ``"1e3"`` or an out-of-range number for an
``int``, a choice typed on the command line, lists, files) goes to Typer's adapter,
so every value and message a user can get is Typer's. Typer versions without this
coercion (those on Click) are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import typer.core

_build: Any = getattr(typer.core, "build_runtime_param", None)
_INT = re.compile(r"0|-?[1-9][0-9]{0,17}")  # what int() and pydantic read alike, within 64 bits
_NOT_TAKEN = object()


def _in_bounds(number: int, info: Any) -> bool:
    return (info.min is None or number >= info.min) and (info.max is None or number <= info.max)


def _as_is(annotation: Any, info: Any, value: Any) -> Any:
    """``value`` as Typer's adapter would return it, when that needs no adapter; else :data:`_NOT_TAKEN`."""
    if info.parser is not None or info.clamp:
        return _NOT_TAKEN
    if annotation is str:
        return value if type(value) is str else _NOT_TAKEN
    if annotation is bool:
        return value if type(value) is bool else _NOT_TAKEN
    if annotation is int:
        if type(value) is int:
            return value if _in_bounds(value, info) else _NOT_TAKEN
        if type(value) is str and _INT.fullmatch(value) and _in_bounds(int(value), info):
            return int(value)
        return _NOT_TAKEN
    if isinstance(annotation, type) and issubclass(annotation, Enum) and isinstance(value, annotation):
        return value
    if annotation == list[str] and type(value) in (list, tuple) and all(type(item) is str for item in value):
        return list(value)
    return _NOT_TAKEN


if _build is not None:
    from typer._coercion import RuntimeParam, TypeDescriptor  # only in the Typer that has them
    from typer._param_types import coerce_cli_path

    @dataclass(frozen=True)
    class _LazyRuntimeParam(RuntimeParam):
        descriptor: TypeDescriptor
        built: list[RuntimeParam] = field(default_factory=list)  # Typer's own, once a value needs it

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            descriptor, info = self.descriptor, self.parameter_info
            if descriptor.file_annotation is None:
                taken = _as_is(descriptor.annotation, info, value)
                if taken is not _NOT_TAKEN:
                    return taken
                if descriptor.annotation is Path and info.path_type is None and info.parser is None and (
                    type(value) is str and value and "\x00" not in value
                ):
                    return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
            if not self.built:
                self.built.append(_build(descriptor))
            return self.built[0]._coerce_value(value, param=param, ctx=ctx)

    def _runtime_param(descriptor: TypeDescriptor) -> RuntimeParam:
        return _LazyRuntimeParam(descriptor.parameter_info, descriptor.annotation, descriptor)

    typer.core.build_runtime_param = _runtime_param  # type: ignore[attr-defined]
