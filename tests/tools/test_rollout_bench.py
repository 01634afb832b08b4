"""The rollout bench: its plan starts at canary with the quick plan's guardrails, and one trial on a real stack gives
both times the issue asks for."""

from __future__ import annotations

import json

import pytest

from rollout.errors import PlanError
from rollout.plan import load_plan, parse_plan, plan_from_step
from tools.bench.rollout import FIRST_STEP, run


def test_a_plan_from_a_later_step_keeps_the_guardrails_and_the_stages_from_there() -> None:
    quick = load_plan("quick")
    bench = parse_plan(plan_from_step("quick", FIRST_STEP), source="bench plan")
    names = [stage.name for stage in quick.stages]
    assert [stage.name for stage in bench.stages] == names[names.index(FIRST_STEP):]
    assert bench.stages[0].name == FIRST_STEP and len(bench.stages) < len(quick.stages)
    assert bench.guardrails == quick.guardrails and bench.analysis == quick.analysis
    assert bench.name == f"quick-from-{FIRST_STEP}"
    with pytest.raises(PlanError, match="no stage 'canary-99'"):
        plan_from_step("quick", "canary-99")


@pytest.mark.integration
def test_one_trial_times_a_breach_and_a_rollback_on_a_real_stack() -> None:
    figures = run(trials=1, rate=50.0, taggers=2, progress=False)
    data = json.loads(json.dumps(figures.as_dict()))
    assert data["taggers"] == 2 and data["failure_limit"] == figures.failure_limit
    # a rollback is decided after the first failed measurement, and the taggers switch after the decision
    assert 0 < data["breach_to_decision_s"] <= data["breach_to_stable_s"]
    assert data["rollback_to_stable_s"] > 0
    assert len(data["trials"]["breach_to_stable_s"]) == len(data["trials"]["rollback_to_stable_s"]) == 1
