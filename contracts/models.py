"""ModelCard: what every process needs to know about one model version, on the compacted ``tagstream.models``.

A tagger, the monitor and the rollout controller run apart from the model repository (production Triton reads it
from object storage), so what they need of a version travels as a message, keyed ``<name>:<version>``:

- the ``ReferenceProfile`` the monitor compares live windows against;
- the review thresholds the tagger applies to the tags of that version (``ReviewThresholds``): per attribute, the
  lowest calibrated confidence at which accepted labels reach a target precision at a stated confidence.

``tagstream model register`` publishes the card of an exported version (the local stack registers the committed
repository when it starts).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, model_validator

from contracts.base import SCHEMA_VERSION, ContractModel
from contracts.profile import ReferenceProfile
from contracts.tags import ModelRef

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class AttributeThreshold(ContractModel):
    """One head's review threshold, chosen on the calibration split."""

    threshold: Probability | None = Field(
        None, description="accept a label at or above this calibrated confidence; None: no threshold reaches the "
                          "target, so this attribute always goes to review")
    target_precision: Probability
    expected_precision: Probability | None = Field(None, description="precision of the accepted labels on the "
                                                                     "calibration split; None when none is accepted")
    review_share: Probability = Field(description="share of the calibration split sent to review at this threshold")

    @model_validator(mode="after")
    def _consistent(self) -> AttributeThreshold:
        if self.threshold is None and (self.review_share != 1.0 or self.expected_precision is not None):
            raise ValueError("an attribute without a threshold sends everything to review: review_share must be 1 "
                             "and expected_precision None")
        if self.threshold is not None and self.expected_precision is None:
            raise ValueError("a threshold accepts labels on the calibration split: give their expected_precision")
        return self


class ReviewThresholds(ContractModel):
    """Risk-controlled review thresholds of one model version (Learn-then-Test, precision as the risk).

    For each attribute, with probability at least ``confidence`` over the draw of the calibration split, the
    labels accepted at its threshold reach its ``target_precision`` (a guarantee per attribute, not jointly).
    """

    method: str = Field("learn_then_test", description="how the thresholds were chosen")
    confidence: Probability = Field(description="the probability with which an attribute's threshold meets its "
                                                "target precision (1 - delta), per attribute")
    calibration_size: Annotated[int, Field(ge=1, description="labelled images the thresholds were chosen on")]
    calibration_description: str = Field("", description="which labelled set the thresholds were chosen on (never "
                                                          "the set they are judged on)")
    attributes: Annotated[dict[str, AttributeThreshold], Field(min_length=1)]

    def accepts(self, attribute: str, confidence: float) -> bool:
        """Whether a label of ``attribute`` with this calibrated confidence skips review: at or above the
        attribute's threshold; never for an attribute without a threshold or not listed here."""
        entry = self.attributes.get(attribute)
        return entry is not None and entry.threshold is not None and confidence >= entry.threshold


class ModelCard(ContractModel):
    """One registered model version. Kafka key = ``<name>:<version>`` (see ``key``)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    model: ModelRef
    profile: ReferenceProfile
    review: ReviewThresholds | None = Field(None, description="None for a version exported before thresholds existed:"
                                                              " taggers then use their configured threshold")
    registered_at: AwareDatetime

    @property
    def key(self) -> bytes:
        return card_key(self.model).encode()


def card_key(model: ModelRef) -> str:
    return f"{model.name}:{model.version}"
