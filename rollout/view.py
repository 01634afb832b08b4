"""Where a rollout stands, for people: the stage, the share, time in stage, the bake so far, each guardrail's latest
figure against its limit with its counts, and what the next gate waits for. ``tagstream rollout status`` prints it;
``GET /v1/rollouts/{model}`` answers it as JSON.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from contracts import AnalysisPolicy, RolloutState
from contracts.rolloutplan import Gate
from rollout import state as machine
from rollout.analysis import tally
from rollout.guardrails import Measurement, MeasurementPhase, Round


class BakeView(BaseModel):
    model_config = ConfigDict(frozen=True)

    time_s: float
    needed_time_s: float
    events: int | None
    needed_events: int

    @property
    def done(self) -> bool:
        return self.time_s >= self.needed_time_s and (self.events or 0) >= self.needed_events


class GuardrailView(BaseModel):
    """One guardrail: its latest round (worst measurement first) and its counts since the analysis began."""

    model_config = ConfigDict(frozen=True)

    guardrail: str
    phase: MeasurementPhase | None
    failed: int
    inconclusive: int
    consecutive_errors: int
    measurements: list[Measurement]


class RolloutView(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    phase: machine.Phase
    state: RolloutState
    time_in_stage_s: float | None
    bake: BakeView | None
    analysis: AnalysisPolicy | None
    guardrails: list[GuardrailView]
    next_gate: str
    served_versions: list[str] | None
    waiting: str = ""


def _guardrails(rounds: list[Round]) -> list[GuardrailView]:
    views = []
    for kind, t in sorted(tally(rounds).items()):
        latest = t.latest
        measurements = sorted(latest.measurements, key=lambda m: -m.phase.severity) if latest else []
        views.append(GuardrailView(guardrail=kind.value, phase=latest.phase if latest else None, failed=t.failed,
                                   inconclusive=t.inconclusive, consecutive_errors=t.consecutive_errors,
                                   measurements=measurements))
    return views


def next_gate(state: RolloutState, bake: BakeView | None) -> str:
    """What the rollout waits for next, in words."""
    stage = machine.current_stage(state)
    if stage is None:
        return "no rollout is running"
    plan = machine.plan_of(state)
    index = plan.stages.index(stage)
    after = plan.stages[index + 1].name if index + 1 < len(plan.stages) else "completion (the candidate becomes stable)"
    phase = machine.phase(state.spec, state.status)
    if phase is machine.Phase.PAUSED:
        return f"paused: `tagstream rollout resume` continues to {after}, `promote` moves on, `rollback` ends it"
    if phase is machine.Phase.AWAITING_APPROVAL:
        return f"stage {stage.name} waits for approval (`tagstream rollout approve`), then {after}"
    left = ""
    if bake is not None and not bake.done:
        parts = []
        if bake.time_s < bake.needed_time_s:
            parts.append(f"{bake.needed_time_s - bake.time_s:.0f} s")
        if (bake.events or 0) < bake.needed_events:
            parts.append(f"{bake.needed_events - (bake.events or 0)} candidate events")
        left = f" after {' and '.join(parts)} more of bake"
    gate = "manual gate (approval)" if stage.gate is Gate.MANUAL and not state.status.approved else "automatic gate"
    return f"{gate}{left} with every guardrail passing, then {after}"


def view(state: RolloutState, *, now: datetime, rounds: list[Round], candidate_events: int | None,
         served: set[str] | None, waiting: str = "") -> RolloutView:
    stage = machine.current_stage(state)
    started = state.status.stage_started_at
    in_stage = (now - started).total_seconds() if stage is not None and started is not None else None
    bake = None
    if stage is not None and in_stage is not None:
        bake = BakeView(time_s=in_stage, needed_time_s=stage.bake.time, events=candidate_events,
                        needed_events=stage.bake.events)
    return RolloutView(model=state.spec.model, phase=machine.phase(state.spec, state.status), state=state,
                       time_in_stage_s=in_stage, bake=bake,
                       analysis=state.spec.strategy.analysis if stage is not None and state.spec.strategy else None,
                       guardrails=_guardrails(rounds) if stage is not None else [], next_gate=next_gate(state, bake),
                       served_versions=sorted(served, key=int) if served is not None else None, waiting=waiting)
