"""Errors of the Triton host."""

from __future__ import annotations

from contracts.errors import TagstreamError


class ModelLoadError(TagstreamError):
    """The model file is missing, unreadable, or does not match the serving contract."""

    code = "model_load_failed"
