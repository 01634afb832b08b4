"""Guardrail checks and how their rounds add up, with Argo's analysis semantics."""

from __future__ import annotations

import pytest

from contracts import AnalysisPolicy, Guardrail, GuardrailKind, RolloutReason
from rollout.analysis import Action, assess, tally
from rollout.errors import MetricSourceError
from rollout.guardrails import WHOLE, Figure, MeasurementPhase, Reading, Round, failed_round, judge, measure
from tests.rollout.factories import at

P = MeasurementPhase
DISAGREEMENT = Guardrail.model_validate_json(
    '{"max": 0.3, "warn": 0.2, "min_samples": 10, "attributes": {"fabric": {"max": 0.5, "warn": 0.4}}}')
POLICY = AnalysisPolicy(failure_limit=1, inconclusive_limit=1, consecutive_error_limit=2)


@pytest.mark.parametrize(("attribute", "figure", "phase"), [
    ("collar", Figure(0.1, samples=50), P.PASSED),
    ("collar", Figure(0.25, samples=50), P.INCONCLUSIVE),
    ("collar", Figure(0.31, samples=50), P.FAILED),
    ("fabric", Figure(0.31, samples=50), P.PASSED),  # fabric has its own limits
    ("fabric", Figure(0.45, samples=50), P.INCONCLUSIVE),
    ("fabric", Figure(0.6, samples=50), P.FAILED),
    ("collar", Figure(0.9, samples=9), P.PENDING),  # too few pairs to judge
    ("collar", Figure(None, samples=0), P.PENDING),
    ("collar", Figure(float("nan"), samples=50), P.PENDING),
    ("collar", Figure(0.9, samples=None), P.FAILED),  # a source that cannot count is judged on the value
])
def test_a_figure_is_judged_against_its_attributes_limits(attribute: str, figure: Figure, phase: P) -> None:
    r = judge(GuardrailKind.DISAGREEMENT, DISAGREEMENT, {attribute: figure}, at(0))
    assert r.phase is phase and r.measurements[0].attribute == attribute
    assert r.measurements[0].max == (0.5 if attribute == "fabric" else 0.3)


def test_a_round_takes_the_worst_phase_and_names_the_attribute_behind_it() -> None:
    reading: Reading = {"collar": Figure(0.1, 50), "fabric": Figure(0.7, 50), "fit": Figure(0.25, 50),
                        "texture": Figure(0.9, 3)}
    r = judge(GuardrailKind.DISAGREEMENT, DISAGREEMENT, reading, at(0))
    assert r.phase is P.FAILED and r.worst.attribute == "fabric" and "0.7 > max 0.5" in r.worst.message
    assert [m.phase for m in r.measurements] == [P.PASSED, P.FAILED, P.INCONCLUSIVE, P.PENDING]


def test_an_empty_reading_is_pending() -> None:
    assert judge(GuardrailKind.ERROR_RATE, Guardrail(max=0.1), {}, at(0)).phase is P.PENDING


def test_a_failing_source_is_an_error_round_not_an_exception() -> None:
    def probe(kind: GuardrailKind, guardrail: Guardrail) -> Reading:
        if kind is GuardrailKind.ERROR_RATE:
            raise MetricSourceError("prometheus at 127.0.0.1:1 refused the connection")
        return {WHOLE: Figure(0.0, 100)}

    rounds = measure({GuardrailKind.ERROR_RATE: Guardrail(max=0.1), GuardrailKind.INPUT_DRIFT: Guardrail(max=0.5)},
                     probe, at(0))
    assert [r.phase for r in rounds] == [P.ERROR, P.PASSED]
    assert "refused the connection" in rounds[0].measurements[0].message


_FIGURES = {P.PASSED: Figure(0.0, 100), P.INCONCLUSIVE: Figure(0.25, 100), P.FAILED: Figure(0.9, 100),
            P.PENDING: Figure(0.9, 1)}


def rnd(phase: P, kind: GuardrailKind = GuardrailKind.DISAGREEMENT) -> Round:
    """A round of ``kind`` in ``phase``, from the figures a source would give."""
    if phase is P.ERROR:
        return failed_round(kind, DISAGREEMENT, MetricSourceError("down"), at(0))
    return judge(kind, DISAGREEMENT, {"collar": _FIGURES[phase]}, at(0))


@pytest.mark.parametrize(("phases", "action", "ready", "reason"), [
    ([], Action.CONTINUE, True, RolloutReason.BAKING),
    ([P.PASSED, P.PASSED], Action.CONTINUE, True, RolloutReason.BAKING),
    ([P.PENDING, P.PENDING], Action.CONTINUE, True, RolloutReason.BAKING),
    ([P.FAILED], Action.CONTINUE, False, RolloutReason.GUARDRAIL_FAILING),  # within the failure limit: hold
    ([P.FAILED, P.PASSED], Action.CONTINUE, True, RolloutReason.BAKING),
    ([P.FAILED, P.PASSED, P.FAILED], Action.ROLLBACK, False, RolloutReason.GUARDRAIL_BREACHED),  # 2 > limit 1
    ([P.FAILED, P.PENDING, P.FAILED], Action.ROLLBACK, False, RolloutReason.GUARDRAIL_BREACHED),
    ([P.INCONCLUSIVE], Action.CONTINUE, False, RolloutReason.INCONCLUSIVE),  # holds the stage
    ([P.INCONCLUSIVE, P.INCONCLUSIVE], Action.PAUSE, False, RolloutReason.INCONCLUSIVE),  # 2 > limit 1
    ([P.ERROR, P.ERROR], Action.CONTINUE, False, RolloutReason.METRIC_SOURCE_FAILED),
    ([P.ERROR, P.ERROR, P.ERROR], Action.ROLLBACK, False, RolloutReason.METRIC_SOURCE_FAILED),  # 3 > limit 2
    ([P.ERROR, P.ERROR, P.PASSED, P.ERROR, P.ERROR], Action.CONTINUE, False, RolloutReason.METRIC_SOURCE_FAILED),
    ([P.ERROR, P.ERROR, P.PENDING, P.ERROR], Action.ROLLBACK, False, RolloutReason.METRIC_SOURCE_FAILED),
    ([P.INCONCLUSIVE, P.FAILED, P.FAILED], Action.ROLLBACK, False, RolloutReason.GUARDRAIL_BREACHED),
])
def test_rounds_add_up_as_argo_counts_them(phases: list[P], action: Action, ready: bool,
                                           reason: RolloutReason) -> None:
    verdict = assess([rnd(p) for p in phases], POLICY)
    assert (verdict.action, verdict.ready, verdict.reason) == (action, ready, reason)


def test_a_breach_names_the_guardrail_the_count_and_the_figures() -> None:
    verdict = assess([rnd(P.FAILED), rnd(P.FAILED)], POLICY)
    assert verdict.message.startswith("disagreement failed 2 times (failure limit 1): disagreement[collar] 0.9 > max")
    assert verdict.culprits and verdict.culprits[0].phase is P.FAILED


def test_input_drift_holds_the_stage_but_never_rolls_back() -> None:
    drift = [rnd(P.FAILED, GuardrailKind.INPUT_DRIFT) for _ in range(5)]
    verdict = assess(drift, POLICY)
    assert (verdict.action, verdict.ready, verdict.reason) == (Action.CONTINUE, False, RolloutReason.INPUT_DRIFT)
    assert assess([*drift, rnd(P.PASSED, GuardrailKind.INPUT_DRIFT)], POLICY).ready


def test_guardrails_are_counted_apart() -> None:
    rounds = [rnd(P.FAILED, GuardrailKind.DISAGREEMENT), rnd(P.FAILED, GuardrailKind.ERROR_RATE)]
    counts = tally(rounds)
    assert counts[GuardrailKind.DISAGREEMENT].failed == counts[GuardrailKind.ERROR_RATE].failed == 1
    assert assess(rounds, POLICY).action is Action.CONTINUE
