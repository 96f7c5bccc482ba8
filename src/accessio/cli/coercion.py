"""Option values of plain types coerced without pydantic: the command starts faster.

Typer 0.29 coerces every option's value through a pydantic ``TypeAdapter`` built when
the command runs, even a string that is already a string: importing pydantic and
building the adapters of one command cost about 0.1 s of every start (measured:
``accessio items ls`` 0.6 s, of which this was a sixth). Here a ``str``, ``bool`` or
``int`` option whose value is already what pydantic would return (a string for a
``str``; a bool for a ``bool``; an ``int`` within its bounds, or the plain decimal
digits of one) is taken as it is; anything else (``"yes"`` for a flag from the
environment, ``"1e3"`` or an out-of-range number for an ``int``, every other type)
goes to Typer's own adapter, built then, so every message a user can get is Typer's.
Typer versions without this coercion (those on Click) are left alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import typer.core

_build: Any = getattr(typer.core, "build_runtime_param", None)
_INT = re.compile(r"0|-?[1-9][0-9]{0,17}")  # what int() and pydantic read alike, within 64 bits
_PLAIN = (str, bool, int)


def _in_bounds(number: int, info: Any) -> bool:
    return (info.min is None or number >= info.min) and (info.max is None or number <= info.max)


def _taken_as_is(annotation: type, info: Any, value: Any) -> tuple[bool, Any]:
    """Whether ``value`` needs no coercion (or only ``int()`` of plain digits), and the result."""
    if annotation is str:
        return type(value) is str, value
    if annotation is bool:
        return type(value) is bool, value
    if type(value) is int:
        return _in_bounds(value, info), value
    if type(value) is str and _INT.fullmatch(value):
        number = int(value)
        return _in_bounds(number, info), number
    return False, value


if _build is not None:
    from typer._coercion import RuntimeParam, TypeDescriptor  # only in the Typer that has them

    @dataclass(frozen=True)
    class _PlainRuntimeParam(RuntimeParam):
        descriptor: TypeDescriptor

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            plain, result = _taken_as_is(self.descriptor.annotation, self.parameter_info, value)
            if plain:
                return result
            return _build(self.descriptor)._coerce_value(value, param=param, ctx=ctx)

    def _runtime_param(descriptor: TypeDescriptor) -> RuntimeParam:
        info = descriptor.parameter_info
        plain = (
            descriptor.annotation in _PLAIN
            and descriptor.file_annotation is None
            and info.parser is None
            and not info.clamp
        )
        if not plain:
            return _build(descriptor)  # type: ignore[no-any-return]
        return _PlainRuntimeParam(info, descriptor.annotation, descriptor)

    typer.core.build_runtime_param = _runtime_param  # type: ignore[attr-defined]
