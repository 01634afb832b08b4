"""RolloutState: the one rollout state every tagger follows (compacted topic ``tagstream.rollout``).

Kept the way Argo Rollouts keeps a rollout: a **spec**, what the release owner asked for (the model, the stable
and candidate versions, the plan), and a **status**, what the controller observed and decided (the revision,
the stage, the traffic share, the pilot cohort, a reason constant and when). Taggers route by the status; the
controller derives the next status from the spec, the current status and the guardrails' measurements.

Version 2 split the flat version 1 into ``spec`` and ``status``; a version 1 record still validates (see
``contracts.base``: it is migrated on read). Fields added since with defaults (the plan in ``spec.strategy``,
``status.stage_started_at`` and the others below) keep version 2: a record without them still validates.

**Addressing a version on Triton.** Production Triton serves one model name with several versions (explicit
model control, ``version_policy`` listing stable and candidate); a tagger calls ``(catalog_tagger, "2")``. The
local PyTriton host cannot bind two versions of one name in one process, so it serves each version under its own
name, ``catalog_tagger_v2`` (version 2). ``triton_target`` turns a version into the pair to call, by the
tagger's ``TritonAddressing``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, Field

from contracts.base import ContractModel, Migration
from contracts.rolloutplan import PilotCohort, RolloutPlan


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
    GUARDRAIL_FAILING = "GuardrailFailing"  # failed within the failure limit: held, not (yet) rolled back
    INPUT_DRIFT = "InputDriftBlocksPromotion"
    GUARDRAIL_BREACHED = "GuardrailBreached"
    METRIC_SOURCE_FAILED = "MetricSourceFailed"
    ROLLED_BACK = "ManualRollback"
    COMPLETED = "RolloutCompleted"
    MIGRATED = "MigratedFromV1"  # a version 1 record, read before the split: its free-text reason is the message


#: Kafka header a tagger sets on a dead letter of an event it had already routed: the arm (``RolloutArm`` value)
#: whose version failed it. Dead letters without it failed before routing (bad input), on no arm in particular.
ARM_HEADER = "tagstream-rollout-arm"
#: Kafka header on a published tag that stable made because the candidate it was routed to kept failing while stable
#: answered: the candidate's version. The rollout counts the event as one the candidate failed.
FAILED_VERSION_HEADER = "tagstream-rollout-failed-version"


class TritonAddressing(StrEnum):
    """How a tagger names one version of the model on Triton."""

    VERSION = "version"  # one model name, the version number picks the version (production Triton)
    NAME = "name"  # one model name per version, <model>_v<N> (the local PyTriton host)


def triton_target(model: str, version: str, addressing: TritonAddressing) -> tuple[str, str]:
    """The (model name, version) a tagger calls for ``version`` of ``model``."""
    if addressing is TritonAddressing.NAME:
        return f"{model}_v{version}", version
    return model, version


class RolloutSpec(ContractModel):
    """What the release owner asked for."""

    model: str
    stable_version: str
    candidate_version: str | None = None
    plan: str = Field("", description="the plan's name")
    strategy: RolloutPlan | None = Field(None, description="the plan as validated when the rollout started: its "
                                                           "stages, bakes, gates and guardrails")
    started_at: AwareDatetime | None = Field(None, description="when the rollout of this candidate started")
    started_by: str = Field("", max_length=200, description="who started it (as the operator declared)")


class RolloutStatus(ContractModel):
    """What the controller observed and decided. ``revision`` grows with every change taggers must follow."""

    revision: Annotated[int, Field(ge=0)]
    stage: RolloutStage
    step: str = Field("", description="the plan step in force, e.g. canary-10; empty outside a rollout")
    traffic_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    pilot_cohort: PilotCohort = Field(default_factory=PilotCohort)
    compare_share: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.0, description="share of the candidate's events that stable tags too, written to catalog.tags.shadow")
    paused: bool = False
    approved: bool = Field(False, description="the manual gate of the step in force was approved")
    reason: RolloutReason
    message: str = Field("", max_length=2000, description="the reason in words, with the figures when any")
    time: AwareDatetime = Field(description="when the status last changed")
    stage_started_at: AwareDatetime | None = Field(None, description="when the step in force began: the start of "
                                                                     "its bake and of the guardrails' window")
    analysis_since: AwareDatetime | None = Field(None, description="measurements before this do not count (the "
                                                                   "step's start, or the last resume)")


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
