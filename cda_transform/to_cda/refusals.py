"""Refusal helper: one line at the call site, a FHIRPath in every error."""

from __future__ import annotations

from typing import NoReturn

from ..errors import TransformError


def refuse(message: str, expression: str, code: str = "invalid") -> NoReturn:
    raise TransformError(message, code=code, expression=expression)
