"""TagPrediction: what the model says about one product, published on ``catalog.tags``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from contracts.base import SCHEMA_VERSION, ContractModel

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class RolloutArm(StrEnum):
    STABLE = "stable"
    CANDIDATE = "candidate"
    SHADOW = "shadow"


class ModelRef(ContractModel):
    name: str
    version: str


class RolloutRef(ContractModel):
    revision: Annotated[int, Field(ge=0)]
    arm: RolloutArm


class LabelScore(ContractModel):
    label: str
    score: Probability


class AttributeTag(ContractModel):
    label: str
    confidence: Probability
    top_k: list[LabelScore]


class Timings(ContractModel):
    """When the event was made and how long each step took."""

    event_time: AwareDatetime
    received_at: AwareDatetime
    tagged_at: AwareDatetime
    preprocess_ms: Annotated[float, Field(ge=0)]
    inference_ms: Annotated[float, Field(ge=0)]


class FeatureSummary(ContractModel):
    """A compact summary of the input image, for input-drift monitoring."""

    width: Annotated[int, Field(ge=1)]
    height: Annotated[int, Field(ge=1)]
    bytes: Annotated[int, Field(ge=1)]
    brightness: Probability
    contrast: Probability
    saturation: Probability
    sharpness: Annotated[float, Field(ge=0)]
    mean_r: Probability
    mean_g: Probability
    mean_b: Probability


class TagPrediction(ContractModel):
    """Tags for one product. Kafka key = ``product_id``; ``event_id`` names the event it answers."""

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str
    product_id: str
    merchant_id: str
    model: ModelRef
    rollout: RolloutRef
    attributes: dict[str, AttributeTag]
    needs_review: list[str] = Field(default_factory=list, description="attributes whose confidence is low")
    timings: Timings
    features: FeatureSummary

    @property
    def key(self) -> bytes:
        return self.product_id.encode()
