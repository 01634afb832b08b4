"""Tagger errors besides bad input (``modelspec.errors.InputError``, dead-lettered): outages, to pause and retry."""

from __future__ import annotations

from contracts.errors import TagstreamError


class InferenceUnavailable(TagstreamError):
    """Triton cannot answer right now. Not the event's fault: pause, back off, retry."""

    code = "inference_unavailable"

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message, hint="check `tagstream status` and the Triton log")
        self.retry_after_s = retry_after_s
