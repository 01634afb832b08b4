"""Errors of the model's interface: an input the model cannot take."""

from __future__ import annotations

from contracts import ErrorCode
from contracts.errors import TagstreamError


class InputError(TagstreamError):
    """The input itself is at fault: in serving it goes to the dead-letter topic with this code and field."""

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(message, code=code.value, field=field)
        self.error_code = code


class ArrayShapeError(TagstreamError, ValueError):
    """Arrays handed to a preprocessing function have the wrong type, shape or length (a caller's bug)."""

    code = "array_shape"
