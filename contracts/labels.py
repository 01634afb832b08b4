"""LabelFeedback: delayed ground truth from reviewers, merchants or audits."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from contracts.base import SCHEMA_VERSION, ContractModel


class LabelSource(StrEnum):
    REVIEWER = "reviewer"
    MERCHANT = "merchant"
    AUDIT = "audit"


class LabelFeedback(ContractModel):
    """Known labels for some attributes of one product. Kafka key = ``product_id``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    product_id: Annotated[str, Field(min_length=1, max_length=128)]
    event_id: str | None = None
    labels: Annotated[dict[str, str], Field(min_length=1)]
    source: LabelSource
    time: AwareDatetime
