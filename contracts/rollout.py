"""RolloutState: the one rollout state every tagger follows (compacted topic ``tagstream.rollout``).

Kept the way Argo Rollouts keeps a rollout: a **spec**, what the release owner asked for (the model, the stable
and candidate versions, the plan), and a **status**, what the controller observed and decided (the revision,
the stage, the traffic share, the pilot cohort, a reason constant and when). Taggers route by the status; the
controller derives the next status from the spec, the current status and the guardrails' measurements.

Version 2 split the flat version 1 into ``spec`` and ``status``; a version 1 record still validates (see
``contracts.base``: it is migrated on read).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, Field

from contracts.base import ContractModel, Migration


class RolloutStage(StrEnum):
    STABLE = "stable"  # no rollout in progress: the stable version serves everything
    SHADOW = "shadow"  # the candidate tags a copy of the traffic; nothing of it is published
    PILOT = "pilot"  # the candidate serves a named cohort
    CANARY = "canary"  # the candidate serves a share of products, by a stable hash of product_id
    FULL = "full"  # the candidate serves everything; it becomes stable when the rollout completes
    ROLLED_BACK = "rolled_back"  # back to stable after a breach or an operator's rollback


class RolloutReason(StrEnum):
    """Why the status is what it is: a constant that dashboards, alerts and the audit trail key on.

    The figures behind a decision go to the audit trail; ``RolloutStatus.message`` says it in words.
    """

    NO_ROLLOUT = "NoRollout"
    STARTED = "RolloutStarted"
    BAKING = "StageBaking"
    ADVANCED = "StageAdvanced"
    AWAITING_APPROVAL = "AwaitingApproval"
    APPROVED = "Approved"
    PAUSED = "Paused"
    RESUMED = "Resumed"
    PROMOTED = "ManuallyPromoted"
    INCONCLUSIVE = "GuardrailInconclusive"
    INPUT_DRIFT = "InputDriftBlocksPromotion"
    GUARDRAIL_BREACHED = "GuardrailBreached"
    METRIC_SOURCE_FAILED = "MetricSourceFailed"
    ROLLED_BACK = "ManualRollback"
    COMPLETED = "RolloutCompleted"
    MIGRATED = "MigratedFromV1"  # a version 1 record, read before the split: its free-text reason is the message


class PilotCohort(ContractModel):
    """Who the candidate serves in a pilot: these merchants, these categories, and a hash share of the rest."""

    merchants: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    hash_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0


class RolloutSpec(ContractModel):
    """What the release owner asked for."""

    model: str
    stable_version: str
    candidate_version: str | None = None
    plan: str = Field("", description="the plan's name (its stages live with the controller)")


class RolloutStatus(ContractModel):
    """What the controller observed and decided. ``revision`` grows with every change taggers must follow."""

    revision: Annotated[int, Field(ge=0)]
    stage: RolloutStage
    step: str = Field("", description="the plan step in force, e.g. canary-10; empty outside a rollout")
    traffic_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    pilot_cohort: PilotCohort = Field(default_factory=PilotCohort)
    paused: bool = False
    reason: RolloutReason
    message: str = Field("", max_length=2000, description="the reason in words, with the figures when any")
    time: AwareDatetime


def _split_v1(record: dict[str, Any]) -> dict[str, Any]:
    """Version 1 (flat, free-text reason) to version 2 (spec and status)."""
    spec = {key: record.pop(key) for key in ("model", "stable_version", "candidate_version") if key in record}
    status = {key: record.pop(key) for key in ("revision", "stage", "traffic_share", "pilot_cohort", "time")
              if key in record}
    status["reason"] = RolloutReason.MIGRATED.value
    status["message"] = str(record.pop("reason", ""))
    return {**record, "schema_version": 2, "spec": spec, "status": status}


class RolloutState(ContractModel):
    """The whole rollout: Kafka key = the model name, so the compacted topic keeps one state per model."""

    VERSION: ClassVar[int] = 2
    MIGRATIONS: ClassVar[dict[int, Migration]] = {1: _split_v1}

    schema_version: Literal[2] = 2
    spec: RolloutSpec
    status: RolloutStatus

    @property
    def key(self) -> bytes:
        return self.spec.model.encode()
