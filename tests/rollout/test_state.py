"""The state machine, edge by edge: each transition from each state it applies to, and each refusal."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from contracts import RolloutReason, RolloutStage, RolloutState
from rollout import state as machine
from rollout.errors import Refused
from rollout.state import Phase
from tests.rollout.factories import at, idle, in_stage, plan

STEPS = ["shadow", "pilot", "canary-10", "full"]
Transition = Callable[[RolloutState], RolloutState]


def test_before_any_rollout_stable_serves_everything() -> None:
    state = idle()
    assert machine.phase(state.spec, state.status) is Phase.HEALTHY
    assert (state.status.stage, state.status.traffic_share, state.status.revision) == (RolloutStage.STABLE, 0.0, 0)


def test_start_enters_the_first_stage_with_the_plan_in_the_spec() -> None:
    state = machine.start(idle(), candidate="2", plan=plan(), now=at(5), actor="ana")
    assert (state.spec.candidate_version, state.spec.plan, state.spec.started_by) == ("2", "test", "ana")
    assert state.spec.strategy == plan()
    assert (state.status.stage, state.status.step, state.status.reason) == (
        RolloutStage.SHADOW, "shadow", RolloutReason.STARTED)
    assert state.status.stage_started_at == state.status.analysis_since == at(5)
    assert state.status.revision == 1 and machine.phase(state.spec, state.status) is Phase.PROGRESSING


@pytest.mark.parametrize(("step", "following", "stage", "share", "compare"), [
    ("shadow", "pilot", RolloutStage.PILOT, 0.05, 1.0),
    ("pilot", "canary-10", RolloutStage.CANARY, 0.1, 0.5),
    ("canary-10", "full", RolloutStage.FULL, 1.0, 0.0),
])
def test_advance_enters_the_next_stage_and_bumps_the_revision(step: str, following: str, stage: RolloutStage,
                                                              share: float, compare: float) -> None:
    before = in_stage(step)
    after = machine.advance(before, at(30))
    assert (after.status.step, after.status.stage, after.status.traffic_share, after.status.compare_share) == (
        following, stage, share, compare)
    assert after.status.revision == before.status.revision + 1 and after.status.stage_started_at == at(30)
    assert (after.status.pilot_cohort.merchants == ["m-1"]) == (stage is RolloutStage.PILOT)


def test_advancing_from_full_completes_and_the_candidate_becomes_stable() -> None:
    done = machine.advance(in_stage("full"), at(40))
    assert (done.spec.stable_version, done.spec.candidate_version) == ("2", None)
    assert (done.status.stage, done.status.reason, done.status.traffic_share) == (
        RolloutStage.STABLE, RolloutReason.COMPLETED, 0.0)
    assert machine.phase(done.spec, done.status) is Phase.HEALTHY
    again = machine.start(done, candidate="3", plan=plan(), now=at(50))
    assert (again.spec.stable_version, again.spec.candidate_version) == ("2", "3")


@pytest.mark.parametrize("step", STEPS)
def test_rollback_from_each_stage_sends_everything_to_stable(step: str) -> None:
    before = in_stage(step)
    after = machine.rollback(before, at(9), reason=RolloutReason.GUARDRAIL_BREACHED, message="disagreement 0.9")
    assert (after.status.stage, after.status.traffic_share, after.status.compare_share) == (
        RolloutStage.ROLLED_BACK, 0.0, 0.0)
    assert after.status.pilot_cohort.merchants == [] and after.status.revision == before.status.revision + 1
    assert (after.status.reason, after.status.message) == (RolloutReason.GUARDRAIL_BREACHED, "disagreement 0.9")
    assert after.spec.candidate_version == "2" and after.spec.stable_version == "1"
    assert machine.phase(after.spec, after.status) is Phase.DEGRADED
    restarted = machine.start(after, candidate="2", plan=plan(), now=at(20))  # a fixed candidate may start again
    assert restarted.status.step == "shadow"


@pytest.mark.parametrize("step", STEPS)
def test_a_second_start_while_one_runs_is_refused_and_changes_nothing(step: str) -> None:
    with pytest.raises(Refused) as caught:
        machine.start(in_stage(step), candidate="3", plan=plan(), now=at(1))
    assert caught.value.code == "rollout_running" and f"(step {step})" in str(caught.value)


def test_a_start_of_the_stable_version_is_refused() -> None:
    with pytest.raises(Refused, match="is the stable version"):
        machine.start(idle(), candidate="1", plan=plan(), now=at(1))


def test_hold_changes_the_reason_only_and_an_unchanged_hold_returns_the_same_state() -> None:
    state = in_stage("canary-10")
    held = machine.hold(state, at(3), RolloutReason.INCONCLUSIVE, "latency inconclusive")
    assert (held.status.reason, held.status.revision, held.status.time) == (
        RolloutReason.INCONCLUSIVE, state.status.revision, at(3))
    assert machine.hold(held, at(4), RolloutReason.INCONCLUSIVE, "latency inconclusive") is held


def test_a_manual_gate_waits_for_approval_and_an_approval_opens_it() -> None:
    waiting = machine.await_approval(in_stage("pilot"), at(11))
    assert machine.phase(waiting.spec, waiting.status) is Phase.AWAITING_APPROVAL
    assert "waits for approval" in waiting.status.message
    approved = machine.approve(waiting, at(12), actor="ana")
    assert approved.status.approved and approved.status.reason is RolloutReason.APPROVED
    assert machine.phase(approved.spec, approved.status) is Phase.PROGRESSING
    assert machine.approve(approved, at(13)) is approved
    assert not machine.advance(approved, at(14)).status.approved  # each stage's gate is approved on its own


def test_approving_an_automatic_gate_is_refused() -> None:
    with pytest.raises(Refused, match="stage canary-10 has an automatic gate") as caught:
        machine.approve(in_stage("canary-10"), at(1))
    assert caught.value.code == "no_manual_gate"


def test_pause_and_resume_keep_routing_and_resume_restarts_the_analysis() -> None:
    state = in_stage("canary-10")
    paused = machine.pause(state, at(2), actor="ana")
    assert paused.status.paused and machine.phase(paused.spec, paused.status) is Phase.PAUSED
    assert paused.status.revision == state.status.revision and paused.status.traffic_share == 0.1
    assert machine.pause(paused, at(3)) is paused
    resumed = machine.resume(paused, at(5), actor="ana")
    assert not resumed.status.paused and resumed.status.reason is RolloutReason.RESUMED
    assert resumed.status.analysis_since == at(5) and resumed.status.stage_started_at == state.status.stage_started_at


def test_resuming_a_stage_that_waits_for_approval_is_refused_with_the_way_out() -> None:
    waiting = machine.await_approval(in_stage("pilot"), at(11))
    with pytest.raises(Refused, match="stage pilot waits for approval") as caught:
        machine.resume(waiting, at(12))
    assert caught.value.code == "awaiting_approval" and "approve" in str(caught.value.hint)
    with pytest.raises(Refused, match="not paused"):
        machine.resume(in_stage("canary-10"), at(12))


@pytest.mark.parametrize("step", STEPS[:-1])
def test_manual_promote_skips_bake_and_gate(step: str) -> None:
    promoted = machine.promote(in_stage(step), at(1), actor="ana")
    assert promoted.status.step == STEPS[STEPS.index(step) + 1]
    assert promoted.status.reason is RolloutReason.PROMOTED and "promoted by ana" in promoted.status.message


def test_promoting_a_paused_stage_moves_on_unpaused() -> None:
    promoted = machine.promote(machine.pause(in_stage("shadow"), at(1)), at(2))
    assert promoted.status.step == "pilot" and not promoted.status.paused


@pytest.mark.parametrize("transition", [
    lambda s: machine.approve(s, at(1)),
    lambda s: machine.pause(s, at(1)),
    lambda s: machine.resume(s, at(1)),
    lambda s: machine.promote(s, at(1)),
    lambda s: machine.rollback(s, at(1)),
    lambda s: machine.advance(s, at(1)),
    lambda s: machine.hold(s, at(1), RolloutReason.BAKING, "x"),
], ids=["approve", "pause", "resume", "promote", "rollback", "advance", "hold"])
@pytest.mark.parametrize("make", [idle, lambda: machine.rollback(in_stage("pilot"), at(1)),
                                  lambda: machine.advance(in_stage("full"), at(1))],
                         ids=["never-started", "rolled-back", "completed"])
def test_every_command_without_a_running_rollout_is_refused(transition: Transition,
                                                            make: Callable[[], RolloutState]) -> None:
    with pytest.raises(Refused, match="no rollout is running") as caught:
        transition(make())
    assert caught.value.code == "no_rollout"
