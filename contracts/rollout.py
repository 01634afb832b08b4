"""RolloutState: the one rollout state every tagger follows (compacted topic ``tagstream.rollout``)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from contracts.base import SCHEMA_VERSION, ContractModel


class RolloutStage(StrEnum):
    STABLE = "stable"  # no rollout in progress
    SHADOW = "shadow"
    PILOT = "pilot"
    CANARY = "canary"
    FULL = "full"
    ROLLED_BACK = "rolled_back"


class PilotCohort(ContractModel):
    merchants: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    hash_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0


class RolloutState(ContractModel):
    schema_version: Literal[1] = SCHEMA_VERSION
    revision: Annotated[int, Field(ge=0)]
    model: str
    stable_version: str
    candidate_version: str | None = None
    stage: RolloutStage
    traffic_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    pilot_cohort: PilotCohort = Field(default_factory=PilotCohort)
    reason: str = ""
    time: AwareDatetime
