"""TagPrediction: what the model says about one product, published on ``catalog.tags``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, model_validator

from contracts.base import SCHEMA_VERSION, ContractModel

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class ReviewReason(StrEnum):
    """Why a tag needs a person. Stable: consumers, dashboards and metrics key on these values.

    ``low_confidence`` concerns the attributes under their threshold; every other reason concerns the
    whole image, so nothing in the tag can be trusted and every attribute needs review.
    """

    LOW_CONFIDENCE = "low_confidence"
    OUT_OF_DISTRIBUTION = "out_of_distribution"  # unlike anything the model was trained on
    IMAGE_BLANK = "image_blank"  # blank or near-uniform: nothing to see
    IMAGE_BLURRED = "image_blurred"  # no sharp edge anywhere
    IMAGE_TINY = "image_tiny"  # too few pixels on a side

    @property
    def whole_image(self) -> bool:
        """True when the reason makes the whole tag doubtful, not only some attributes."""
        return self is not ReviewReason.LOW_CONFIDENCE


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
    """Tags for one product. Kafka key = ``product_id``; ``event_id`` names the event it answers.

    A tag with ``needs_review`` is still a tag: it is published on ``catalog.tags`` like any other and
    also sent to ``catalog.review``. Consumers that must not show doubtful tags hold back those with a
    non-empty ``needs_review``; ``review_reasons`` says why.

    ``review_reasons`` and ``ood_score`` came after the first layout with defaults, so tags made before
    them still validate (``schema_version`` stays 1). Readers are closed (unknown fields are errors):
    upgrade them to this package before the tagger that writes the new fields.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: str
    product_id: str
    merchant_id: str
    model: ModelRef
    rollout: RolloutRef
    attributes: dict[str, AttributeTag]
    needs_review: list[str] = Field(default_factory=list,
                                    description="attributes a person should check: those under their confidence "
                                                "threshold, or all of them when a reason concerns the whole image")
    review_reasons: list[ReviewReason] = Field(default_factory=list,
                                               description="why the tag needs review; empty when it does not "
                                                           "(and in tags made before reasons existed)")
    ood_score: Annotated[float, Field(ge=0)] | None = Field(
        None, description="the model's out-of-distribution score, normalised so that above 1.0 the image is "
                          "unlike the training set; absent when the model gave no valid score")
    timings: Timings
    features: FeatureSummary

    @model_validator(mode="after")
    def _reasons_agree_with_review(self) -> TagPrediction:
        if self.review_reasons and not self.needs_review:
            raise ValueError(f"review_reasons {[str(r) for r in self.review_reasons]} given with an empty "
                             "needs_review; list the attributes to review")
        whole = [str(r) for r in self.review_reasons if r.whole_image]
        if whole and set(self.needs_review) != set(self.attributes):
            raise ValueError(f"review_reasons {whole} concern the whole image: needs_review must list every "
                             "attribute")
        return self

    @property
    def key(self) -> bytes:
        return self.product_id.encode()
