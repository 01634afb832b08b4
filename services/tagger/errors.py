"""Tagger errors. ``InputError`` is bad input (dead-letter it); the others are outages (pause, retry)."""

from __future__ import annotations

from contracts import ErrorCode
from contracts.errors import TagstreamError


class InputError(TagstreamError):
    """The event itself is at fault: it goes to the dead-letter topic with this code and field."""

    def __init__(self, code: ErrorCode, message: str, *, field: str | None = None) -> None:
        super().__init__(message, code=code.value, field=field)
        self.error_code = code


class InferenceUnavailable(TagstreamError):
    """Triton cannot answer right now. Not the event's fault: pause, back off, retry."""

    code = "inference_unavailable"

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message, hint="check `tagstream status` and the Triton log")
        self.retry_after_s = retry_after_s
