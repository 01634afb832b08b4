"""The rollout state machine: the phase is a pure function of spec and status, every transition a pure function.

A transition takes the current ``RolloutState`` and the time, and returns the next state, or raises ``Refused``
(nothing changes) when it does not apply: approving with no rollout running, starting a second rollout while one
runs, resuming a stage that waits for approval. Nothing here reads a clock, a topic or a database: the controller
decides *when* (bake done, guardrails passed, gate open) and persists *what* these functions return.

``status.revision`` grows with every change a tagger must follow (stage, step, shares, cohort, versions); a
change that leaves routing alone (a hold, a pause, an approval) keeps it. A transition that changes nothing
returns the very same object, so the controller can tell that there is nothing to write.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from contracts import (
    PilotCohort,
    RolloutPlan,
    RolloutReason,
    RolloutSpec,
    RolloutStage,
    RolloutState,
    RolloutStatus,
    StageKind,
    StagePlan,
)
from contracts.rolloutplan import Gate
from rollout.errors import Refused


class Phase(StrEnum):
    """What a release owner needs to know at a glance (Argo's rollout phases, plus the approval wait)."""

    HEALTHY = "Healthy"  # no rollout in progress: stable serves everything
    PROGRESSING = "Progressing"  # a stage bakes, its guardrails are measured, it advances when its gate opens
    AWAITING_APPROVAL = "AwaitingApproval"  # the stage baked and passed; its manual gate waits for a person
    PAUSED = "Paused"  # an operator paused it, or inconclusive measurements did: a person resumes or rolls back
    DEGRADED = "Degraded"  # rolled back: stable serves everything, the candidate is out


RUNNING = frozenset({RolloutStage.SHADOW, RolloutStage.PILOT, RolloutStage.CANARY, RolloutStage.FULL})
_STAGE_OF_KIND = {StageKind.SHADOW: RolloutStage.SHADOW, StageKind.PILOT: RolloutStage.PILOT,
                  StageKind.CANARY: RolloutStage.CANARY, StageKind.FULL: RolloutStage.FULL}


def phase(spec: RolloutSpec, status: RolloutStatus) -> Phase:
    del spec  # the status alone decides today; kept in the signature as Argo's phase reads both
    if status.stage is RolloutStage.ROLLED_BACK:
        return Phase.DEGRADED
    if status.stage not in RUNNING:
        return Phase.HEALTHY
    if status.paused:
        return Phase.PAUSED
    if status.reason is RolloutReason.AWAITING_APPROVAL and not status.approved:
        return Phase.AWAITING_APPROVAL
    return Phase.PROGRESSING


def is_running(state: RolloutState | None) -> bool:
    return state is not None and state.status.stage in RUNNING


def initial(model: str, stable_version: str, now: datetime) -> RolloutState:
    """The state before any rollout: stable serves everything."""
    return RolloutState(spec=RolloutSpec(model=model, stable_version=stable_version),
                        status=RolloutStatus(revision=0, stage=RolloutStage.STABLE, reason=RolloutReason.NO_ROLLOUT,
                                             message=f"version {stable_version} serves everything", time=now))


def plan_of(state: RolloutState) -> RolloutPlan:
    if state.spec.strategy is None:
        raise Refused(f"the rollout of {state.spec.model} carries no plan (written before plans travelled with it)",
                      code="no_plan", hint="roll it back and start it again")
    return state.spec.strategy


def current_stage(state: RolloutState) -> StagePlan | None:
    """The plan stage in force, None outside a rollout."""
    if not is_running(state):
        return None
    return plan_of(state).stage(state.status.step)


def _describe(state: RolloutState) -> str:
    return f"the rollout of {state.spec.model} version {state.spec.candidate_version} (step {state.status.step})"


def _running(state: RolloutState) -> StagePlan:
    stage = current_stage(state)
    if stage is None:
        raise Refused("no rollout is running", code="no_rollout",
                      hint="start one with `tagstream rollout start --candidate N`")
    return stage


def _with_status(state: RolloutState, now: datetime, *, bump: bool = False, **changes: Any) -> RolloutState:
    """``state`` with ``changes`` to its status; the same object when they change nothing."""
    if all(getattr(state.status, k) == v for k, v in changes.items()) and not bump:
        return state
    revision = state.status.revision + (1 if bump else 0)
    status = state.status.model_copy(update={**changes, "revision": revision, "time": now})
    return state.model_copy(update={"status": status})


def start(state: RolloutState, *, candidate: str, plan: RolloutPlan, now: datetime, actor: str = "",
          plan_name: str | None = None) -> RolloutState:
    """Begin a rollout of ``candidate`` under ``plan``: its first stage, with nothing baked."""
    if is_running(state):
        raise Refused(f"{_describe(state)} is running; roll it back or let it finish before starting another",
                      code="rollout_running", hint="`tagstream rollout status` shows where it stands")
    if candidate == state.spec.stable_version:
        raise Refused(f"version {candidate} is the stable version already", code="candidate_is_stable",
                      field="candidate", hint="give the version you want to roll out")
    spec = RolloutSpec(model=state.spec.model, stable_version=state.spec.stable_version, candidate_version=candidate,
                       plan=plan_name or plan.name, strategy=plan, started_at=now, started_by=actor)
    begun = state.model_copy(update={"spec": spec})
    return _enter(begun, plan.stages[0], now, RolloutReason.STARTED,
                  f"rollout of version {candidate} started by {actor or 'an operator'} with plan {spec.plan}")


def _enter(state: RolloutState, stage: StagePlan, now: datetime, reason: RolloutReason, message: str) -> RolloutState:
    return _with_status(state, now, bump=True, stage=_STAGE_OF_KIND[stage.kind], step=stage.name,
                        traffic_share=stage.traffic_share, pilot_cohort=stage.cohort or PilotCohort(),
                        compare_share=stage.compare_share, paused=False, approved=False, reason=reason,
                        message=message, stage_started_at=now, analysis_since=now)


def advance(state: RolloutState, now: datetime, *, reason: RolloutReason = RolloutReason.ADVANCED,
            message: str = "") -> RolloutState:
    """The next stage, or the end of the rollout after the last one (the candidate becomes stable)."""
    stage = _running(state)
    plan = plan_of(state)
    index = plan.stages.index(stage)
    if index + 1 == len(plan.stages):
        return complete(state, now, message=message)
    following = plan.stages[index + 1]
    return _enter(state, following, now, reason, message or f"{stage.name} passed; {following.name} begins")


def complete(state: RolloutState, now: datetime, *, message: str = "") -> RolloutState:
    """The candidate is the stable version; no rollout runs."""
    stage = _running(state)
    candidate = state.spec.candidate_version or state.spec.stable_version
    spec = state.spec.model_copy(update={"stable_version": candidate, "candidate_version": None})
    done = state.model_copy(update={"spec": spec})
    return _with_status(done, now, bump=True, stage=RolloutStage.STABLE, step="", traffic_share=0.0,
                        pilot_cohort=PilotCohort(), compare_share=0.0, paused=False, approved=False,
                        reason=RolloutReason.COMPLETED,
                        message=message or f"{stage.name} passed; version {candidate} is stable",
                        stage_started_at=None, analysis_since=None)


def promote(state: RolloutState, now: datetime, *, actor: str = "") -> RolloutState:
    """Skip what is left of the current stage's bake and gate: on to the next stage now."""
    stage = _running(state)
    return advance(state, now, reason=RolloutReason.PROMOTED,
                   message=f"{stage.name} promoted by {actor or 'an operator'} before its gate")


def hold(state: RolloutState, now: datetime, reason: RolloutReason, message: str) -> RolloutState:
    """Stay in the stage, saying why (baking, an inconclusive guardrail, input drift); routing is unchanged."""
    _running(state)
    return _with_status(state, now, reason=reason, message=message)


def await_approval(state: RolloutState, now: datetime) -> RolloutState:
    stage = _running(state)
    return hold(state, now, RolloutReason.AWAITING_APPROVAL,
                f"stage {stage.name} baked and passed; it waits for approval (`tagstream rollout approve`)")


def approve(state: RolloutState, now: datetime, *, actor: str = "") -> RolloutState:
    """Open the current stage's manual gate; the stage advances once its bake is done and its guardrails pass."""
    stage = _running(state)
    if stage.gate is not Gate.MANUAL:
        raise Refused(f"stage {stage.name} has an automatic gate: there is nothing to approve", code="no_manual_gate",
                      hint="`tagstream rollout promote` skips what is left of its bake")
    if state.status.approved:
        return state
    return _with_status(state, now, approved=True, reason=RolloutReason.APPROVED,
                        message=f"stage {stage.name} approved by {actor or 'an operator'}")


def pause(state: RolloutState, now: datetime, *, actor: str = "", reason: RolloutReason = RolloutReason.PAUSED,
          message: str = "") -> RolloutState:
    """Stop advancing; routing stays as it is, and guardrails still roll back on a breach."""
    stage = _running(state)
    if state.status.paused:
        return state
    return _with_status(state, now, paused=True, reason=reason,
                        message=message or f"stage {stage.name} paused by {actor or 'an operator'}")


def resume(state: RolloutState, now: datetime, *, actor: str = "") -> RolloutState:
    """Advance again; measurements before the resume no longer count (as a fresh analysis run in Argo)."""
    stage = _running(state)
    if not state.status.paused:
        if phase(state.spec, state.status) is Phase.AWAITING_APPROVAL:
            raise Refused(f"stage {stage.name} waits for approval", code="awaiting_approval",
                          hint="approve it with `tagstream rollout approve`")
        raise Refused(f"the rollout is not paused (stage {stage.name})", code="not_paused")
    return _with_status(state, now, paused=False, reason=RolloutReason.RESUMED, analysis_since=now,
                        message=f"stage {stage.name} resumed by {actor or 'an operator'}")


def rollback(state: RolloutState, now: datetime, *, reason: RolloutReason = RolloutReason.ROLLED_BACK,
             message: str = "") -> RolloutState:
    """Back to stable at once: the candidate serves nothing; the record keeps which version was rolled back."""
    stage = _running(state)
    return _with_status(state, now, bump=True, stage=RolloutStage.ROLLED_BACK, traffic_share=0.0,
                        pilot_cohort=PilotCohort(), compare_share=0.0, paused=False, approved=False, reason=reason,
                        message=message or f"rolled back from {stage.name}", stage_started_at=None,
                        analysis_since=None)
