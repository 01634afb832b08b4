"""LabelFeedback: delayed ground truth from reviewers, merchants or audits.

``merchant_id``, ``unusable``, ``who`` and ``model`` came after the first layout, with defaults, so labels
written before them still validate (``schema_version`` stays 1; see ``contracts/base.py``).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, ValidationInfo, field_validator

from contracts.base import SCHEMA_VERSION, ContractModel
from contracts.tags import ModelRef


class LabelSource(StrEnum):
    REVIEWER = "reviewer"  # a person decided a tag the model was unsure of
    MERCHANT = "merchant"
    AUDIT = "audit"  # a person decided a tag from the random audit sample: measures quality without review bias


class LabelFeedback(ContractModel):
    """Known labels for some attributes of one product. Kafka key = ``product_id``.

    A tag reviewed twice (a console restarted between a decision and its commit) gives two records with the
    same ``event_id`` and ``source``: readers keep the later one.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    product_id: Annotated[str, Field(min_length=1, max_length=128)]
    event_id: str | None = None
    merchant_id: Annotated[str, Field(max_length=128)] | None = Field(
        None, description="the merchant of the product, for quality per merchant")
    unusable: bool = Field(False, description="the image shows nothing an attribute can be read from (not the "
                                              "product, blank, broken): no labels, and the tag was not usable")
    labels: dict[str, str] = Field(description="attribute -> true label; empty only when the image is unusable")
    source: LabelSource
    who: Annotated[str, Field(max_length=128)] | None = Field(
        None, description="who decided: the reviewer's name, the merchant's id or the auditor")
    model: ModelRef | None = Field(None, description="the model version whose tag was reviewed")
    time: AwareDatetime

    @field_validator("labels")
    @classmethod
    def _labels_unless_unusable(cls, labels: dict[str, str], info: ValidationInfo) -> dict[str, str]:
        unusable = info.data.get("unusable", False)  # validated before labels: it comes first
        if unusable and labels:
            raise ValueError("an unusable image carries no labels: leave labels empty or unusable false")
        if not unusable and not labels:
            raise ValueError("name at least one attribute's label (or set unusable for an unusable image)")
        return labels

    @property
    def key(self) -> bytes:
        return self.product_id.encode()
