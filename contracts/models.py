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

from pydantic import AwareDatetime, Field

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


class ReviewThresholds(ContractModel):
    """Risk-controlled review thresholds of one model version (Learn-then-Test, precision as the risk)."""

    method: str = Field("learn_then_test", description="how the thresholds were chosen")
    confidence: Probability = Field(description="the probability with which every accepted threshold meets its "
                                                "target precision (1 - delta)")
    calibration_size: Annotated[int, Field(ge=1, description="labelled images the thresholds were chosen on")]
    attributes: Annotated[dict[str, AttributeThreshold], Field(min_length=1)]


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
