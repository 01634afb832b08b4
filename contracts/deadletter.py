"""DeadLetter: an event the tagger could not process, kept whole with the reason."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from contracts.base import SCHEMA_VERSION, ContractModel


class ErrorCode(StrEnum):
    """Why an event was dead-lettered. Stable: dashboards and replays key on these."""

    NOT_JSON = "not_json"
    NESTED_TOO_DEEP = "nested_too_deep"
    EVENT_TOO_LARGE = "event_too_large"
    CONTRACT_VIOLATION = "contract_violation"
    BINARY_MODE_INVALID = "binary_mode_invalid"
    IMAGE_MISSING = "image_missing"
    IMAGE_TOO_LARGE = "image_too_large"
    IMAGE_UNDECODABLE = "image_undecodable"
    IMAGE_TOO_MANY_PIXELS = "image_too_many_pixels"
    IMAGE_URL_FORBIDDEN = "image_url_forbidden"
    IMAGE_URL_FAILED = "image_url_failed"


class SourcePosition(ContractModel):
    topic: str
    partition: Annotated[int, Field(ge=0)]
    offset: Annotated[int, Field(ge=0)]


class ErrorInfo(ContractModel):
    code: ErrorCode
    message: str
    field: str | None = None


class DeadLetter(ContractModel):
    """The original record (value and key as base64, headers kept) and what was wrong with it."""

    schema_version: Literal[1] = SCHEMA_VERSION
    original_value_b64: str
    original_truncated: bool = Field(False, description="true when the value was cut to the tagger's size "
                                     "limit; the whole record stays at `source` until retention")
    original_key_b64: str | None = None
    original_headers: list[tuple[str, str]] = Field(default_factory=list,
                                                   description="header name and base64 value")
    source: SourcePosition
    error: ErrorInfo
    consumer_group: str
    time: AwareDatetime
