"""The controller's reconcile steps and commands, with the clock, topic, source and Triton stood in for."""

from __future__ import annotations

from pathlib import Path

import pytest

from contracts import GuardrailKind, RolloutReason, RolloutStage
from rollout.audit import AuditLog
from rollout.controller import Controller
from rollout.errors import Refused, RolloutError, StatePublishError
from rollout.guardrails import Figure
from rollout.state import Phase
from tests.rollout.factories import plan
from tests.rollout.fakes import Clock, Serving, Source, Topic


class Rig:
    def __init__(self, tmp_path: Path) -> None:
        self.clock, self.topic, self.source, self.serving = Clock(), Topic(), Source(), Serving()
        self.audit = AuditLog(tmp_path / "audit.sqlite")
        self.controller = self.make()

    def make(self, unload_grace_s: float = 0.0) -> Controller:
        return Controller(model="catalog_tagger", stable_version="1", publisher=self.topic, audit=self.audit,
                          source=self.source, serving=self.serving, clock=self.clock, unload_grace_s=unload_grace_s)

    def run(self, seconds: float, step: float = 1.0) -> None:
        """Reconcile once per ``step`` for ``seconds`` of the test clock."""
        for _ in range(int(seconds / step)):
            self.clock.tick(step)
            self.controller.reconcile()

    @property
    def step(self) -> str:
        return self.controller.state.status.step


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    r = Rig(tmp_path)
    r.controller.recover(None)
    return r


def test_without_a_rollout_revision_0_is_written_once_and_not_again(rig: Rig) -> None:
    rig.run(5)
    assert [s.status.revision for s in rig.topic.published] == [0]
    assert rig.controller.view().next_gate == "no rollout is running"


def test_a_good_candidate_goes_through_every_stage_and_becomes_stable(rig: Rig) -> None:
    rig.controller.start("2", plan(), actor="ana")
    assert rig.serving.ready == {"1", "2"} and rig.step == "shadow"
    rig.run(12)
    assert rig.step == "pilot"
    rig.run(12)
    assert rig.controller.view().phase is Phase.AWAITING_APPROVAL  # the pilot's gate is manual
    rig.controller.approve(actor="ana")
    rig.run(2)
    assert rig.step == "canary-10"
    rig.run(24)
    state = rig.controller.state
    assert (state.status.stage, state.spec.stable_version, state.spec.candidate_version) == (
        RolloutStage.STABLE, "2", None)
    assert rig.serving.ready == {"2"}  # the old version unloaded after full
    actions = [t.action for t in rig.controller.history()]
    assert actions[0] == "start" and actions[-1] == "complete" and "approve" in actions
    assert actions.count("advance") == 3


def test_a_bad_candidate_rolls_back_within_the_failure_limit_with_its_figures(rig: Rig) -> None:
    rig.controller.start("2", plan(), actor="ana")
    rig.run(12)
    rig.controller.promote(actor="ana")  # past the pilot's manual gate
    assert rig.step == "canary-10"
    rig.source.set(GuardrailKind.DISAGREEMENT, {"fabric": Figure(0.9, 500), "collar": Figure(0.0, 500)})
    rig.run(1)
    assert rig.controller.state.status.reason is RolloutReason.GUARDRAIL_FAILING  # 1 failure: within the limit
    rig.run(1)
    state = rig.controller.state
    assert state.status.stage is RolloutStage.ROLLED_BACK and state.status.reason is RolloutReason.GUARDRAIL_BREACHED
    assert "disagreement failed 2 times" in state.status.message
    last = rig.controller.history()[-1]
    assert last.action == "rollback" and last.actor == "controller"
    assert any(m.attribute == "fabric" and m.value == 0.9 for m in last.figures)
    rig.run(1)
    assert rig.serving.ready == {"1"}  # the candidate unloaded


@pytest.mark.parametrize("leave", ["rollback", "complete"])
def test_a_version_the_rollout_leaves_stays_served_for_the_grace_then_is_unloaded(rig: Rig, leave: str) -> None:
    rig.controller = rig.make(unload_grace_s=5.0)
    rig.controller.recover(None)
    rig.controller.start("2", plan(), actor="ana")
    rig.run(2)
    if leave == "rollback":
        rig.controller.rollback(actor="ana", reason="drill")
    else:
        while rig.controller.state.status.stage is not RolloutStage.STABLE:
            rig.controller.promote(actor="ana")
    leaving = {"rollback": "2", "complete": "1"}[leave]
    rig.run(4)
    assert rig.serving.ready == {"1", "2"}  # taggers may still have events routed to the version that left
    rig.run(2)
    assert rig.serving.ready == {"1", "2"} - {leaving}


def test_the_bake_holds_until_both_time_and_events_are_reached(rig: Rig) -> None:
    rig.source.events = 5  # the shadow needs 20
    rig.controller.start("2", plan(), actor="ana")
    rig.run(30)
    assert rig.step == "shadow" and rig.controller.state.status.reason is RolloutReason.BAKING
    assert "15 candidate events more of bake" in rig.controller.view().next_gate
    bake = rig.controller.view().bake
    assert bake is not None and bake.events == 5 and not bake.done
    rig.source.events = 25
    rig.run(1)
    assert rig.step == "pilot"  # that pass measured too (one a second): the gate opened on it


def test_the_first_stage_begins_once_triton_serves_the_candidate(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    serve = rig.serving.serve

    def slow_load(versions: set[str]) -> None:
        rig.clock.tick(4)  # loading a version takes seconds on Triton
        serve(versions)

    monkeypatch.setattr(rig.serving, "serve", slow_load)
    started = rig.controller.start("2", plan(), actor="ana")
    assert started.status.stage_started_at == rig.clock.now == started.spec.started_at


def test_the_gate_opens_only_on_a_measurement_taken_once_the_bake_is_done(rig: Rig) -> None:
    rig.source.events = 5
    rig.controller.start("2", plan(), actor="ana")
    rig.source.set(GuardrailKind.DISAGREEMENT, {"fabric": Figure(0.9, 3)})  # too few pairs: pending
    rig.run(12)
    assert rig.step == "shadow"
    rig.source.events = 25  # the bake is done, and by now the pairs show the candidate is bad
    rig.source.set(GuardrailKind.DISAGREEMENT, {"fabric": Figure(0.9, 500)})
    rig.run(0.5, step=0.5)  # within the analysis interval of the last (pending) measurement: no advance on it
    assert rig.step == "shadow" and "measuring every guardrail once more" in rig.controller.view().waiting
    rig.run(1)
    assert rig.step == "shadow" and rig.controller.state.status.reason is RolloutReason.GUARDRAIL_FAILING


def test_an_unchanged_status_is_not_published_again(rig: Rig) -> None:
    rig.source.events = 0
    rig.controller.start("2", plan(), actor="ana")
    rig.run(5)
    published = len(rig.topic.published)
    rig.run(5)
    assert len(rig.topic.published) == published  # baking, nothing changes: nothing written


def test_inconclusive_measurements_hold_then_pause_for_a_person(rig: Rig) -> None:
    rig.source.set(GuardrailKind.DISAGREEMENT, {"collar": Figure(0.25, 500)})  # above warn 0.2, below max 0.3
    rig.controller.start("2", plan(), actor="ana")
    rig.run(1)
    assert rig.controller.state.status.reason is RolloutReason.INCONCLUSIVE and not rig.controller.state.status.paused
    rig.run(1)
    assert rig.controller.view().phase is Phase.PAUSED
    rig.source.set(GuardrailKind.DISAGREEMENT, {"collar": Figure(0.0, 500)})
    rig.run(15)
    assert rig.step == "shadow"  # paused: no promotion, however good the figures
    rig.controller.resume(actor="ana")
    assert rig.controller.rounds == []  # a resume starts the analysis afresh
    rig.run(1)
    assert rig.step == "pilot"


def test_a_failing_metric_source_rolls_back_after_the_consecutive_error_limit(rig: Rig) -> None:
    rig.source.failing = {GuardrailKind.ERROR_RATE}
    rig.controller.start("2", plan(), actor="ana")
    rig.run(2)
    assert rig.controller.state.status.reason is RolloutReason.METRIC_SOURCE_FAILED
    assert rig.controller.state.status.stage is RolloutStage.SHADOW
    rig.run(1)
    assert rig.controller.state.status.stage is RolloutStage.ROLLED_BACK  # 3 errors in a row > limit 2


def test_input_drift_blocks_promotion_without_rolling_back(rig: Rig) -> None:
    rig.source.set(GuardrailKind.INPUT_DRIFT, {"": Figure(0.9, 500)})
    rig.controller.start("2", plan(), actor="ana")
    rig.run(20)
    assert rig.step == "shadow" and rig.controller.state.status.reason is RolloutReason.INPUT_DRIFT


def test_a_rollback_command_is_immediate_and_a_second_start_is_refused(rig: Rig) -> None:
    rig.controller.start("2", plan(), actor="ana")
    with pytest.raises(Refused, match="is running"):
        rig.controller.start("3", plan(), actor="bob")
    state = rig.controller.rollback(actor="bob", reason="tags look wrong")
    assert state.status.stage is RolloutStage.ROLLED_BACK and rig.topic.published[-1] is state
    assert "rolled back by bob: tags look wrong" in state.status.message
    with pytest.raises(Refused, match="no rollout is running"):
        rig.controller.approve(actor="bob")


def test_nothing_starts_when_triton_cannot_load_the_candidate(rig: Rig) -> None:
    rig.serving.fail = True
    with pytest.raises(RolloutError, match="Triton could not load version 2, so nothing started"):
        rig.controller.start("2", plan(), actor="ana")
    assert rig.controller.state.status.stage is RolloutStage.STABLE and len(rig.topic.published) == 1


def test_a_state_that_cannot_be_published_changes_nothing(rig: Rig) -> None:
    rig.controller.start("2", plan(), actor="ana")
    rig.topic.fail = True
    with pytest.raises(StatePublishError):
        rig.controller.pause(actor="ana")
    assert not rig.controller.state.status.paused
    assert [t.action for t in rig.controller.history()] == ["start"]


def test_a_restarted_controller_resumes_its_stage_and_its_failure_count(rig: Rig, tmp_path: Path) -> None:
    rig.controller.start("2", plan(), actor="ana")
    rig.run(12)
    rig.controller.promote(actor="ana")
    rig.source.set(GuardrailKind.DISAGREEMENT, {"fabric": Figure(0.9, 500)})
    rig.run(1)  # one failure in canary-10
    on_topic = rig.topic.published[-1]
    assert on_topic.status.step == "canary-10"

    before = rig.controller.rounds
    restarted = rig.make()  # a new process: the state from the topic, the rounds from the audit history
    restarted.recover(on_topic)
    assert restarted.state == on_topic and restarted.rounds == before and len(before) == 3  # one per guardrail
    rig.controller = restarted
    rig.run(1)
    assert restarted.state.status.stage is RolloutStage.ROLLED_BACK  # the second failure, not the first
