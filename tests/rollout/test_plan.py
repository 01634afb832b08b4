"""Plans: the shipped ones validate; a broken plan's error names the line and the field."""

from __future__ import annotations

import textwrap

import pytest

from contracts import GuardrailKind, RolloutPlan, StageKind
from rollout.errors import PlanError
from rollout.plan import load_plan, parse_plan, shipped_plans

GOOD = textwrap.dedent("""\
    name: test
    analysis: {interval: 2s, failure_limit: 0}
    guardrails:
      disagreement:
        max: 0.2
        attributes: {fabric: 0.4, texture: {max: 0.5, warn: 0.3}}
      latency_p99_ratio: {max: 2}
    stages:
      - {name: shadow, kind: shadow, bake: {time: 1m, events: 10}}
      - {name: pilot, kind: pilot, cohort: {merchants: [m-1]}, gate: manual}
      - {name: canary-10, kind: canary, share: 0.1, guardrails: {latency_p99_ratio: {max: 3}}}
      - {name: full, kind: full, guardrails: {disagreement: null}}
    """)


def test_the_shipped_plans_validate_with_shadow_first_and_full_last() -> None:
    assert {"default", "quick"} <= set(shipped_plans())
    for name in shipped_plans():
        plan = load_plan(name)
        assert plan.stages[0].kind is StageKind.SHADOW and plan.stages[-1].kind is StageKind.FULL
    assert load_plan("quick").analysis.interval <= 1.0 < load_plan("default").analysis.interval


def test_a_plan_reads_durations_per_attribute_limits_and_stage_overrides() -> None:
    plan = parse_plan(GOOD)
    assert plan.analysis.interval == 2.0 and plan.stages[0].bake.time == 60.0
    disagreement = plan.guardrails[GuardrailKind.DISAGREEMENT]
    assert disagreement.limit("fabric").max == 0.4 and disagreement.limit("texture").warn == 0.3
    assert disagreement.limit("collar").max == 0.2
    canary = plan.stage("canary-10")
    assert plan.guardrails_for(canary)[GuardrailKind.LATENCY_P99_RATIO].max == 3.0
    assert GuardrailKind.DISAGREEMENT not in plan.guardrails_for(plan.stage("full"))
    assert canary.traffic_share == 0.1 and plan.stage("full").traffic_share == 1.0


def test_a_plan_survives_the_json_round_trip_the_spec_makes() -> None:
    plan = parse_plan(GOOD)
    assert RolloutPlan.model_validate_json(plan.model_dump_json()) == plan


@pytest.mark.parametrize(("old", "new", "line", "field"), [
    ("bake: {time: 1m, events: 10}", "bake: {time: 1 minute, events: 10}", 9, "stages[0].bake.time"),
    ("share: 0.1", "share: 1.5", 11, "stages[2]"),
    ("cohort: {merchants: [m-1]}", "cohort: {}", 10, "stages[1]"),
    ("latency_p99_ratio: {max: 2}", "latency_p99_ratio: {max: two}", 7, "guardrails.latency_p99_ratio.max"),
    ("latency_p99_ratio: {max: 2}", "latency: {max: 2}", 7, "guardrails.latency"),
    ("{name: pilot, kind: pilot", "{name: pilot, kind: pilots", 10, "stages[1].kind"),
    ("gate: manual", "gate: manual, colour: red", 10, "stages[1].colour"),
    ("{max: 0.5, warn: 0.3}", "{max: 0.5, warn: 0.7}", 6, "guardrails.disagreement.attributes.texture"),
])
def test_a_broken_plan_names_the_line_and_the_field(old: str, new: str, line: int, field: str) -> None:
    assert old in GOOD
    with pytest.raises(PlanError) as caught:
        parse_plan(GOOD.replace(old, new, 1), source="my-plan.yaml")
    assert any(p.startswith(f"my-plan.yaml:{line}: {field}") for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(("text", "says"), [
    ("name: x\nstages:\n  - {name: full, kind: full}\n  - {name: shadow, kind: shadow}\n", "shadow, pilot, canary"),
    ("name: x\nstages:\n  - {name: shadow, kind: shadow}\n", "last stage"),
    ("name: x\nstages:\n  - {name: a, kind: canary, share: 0.5}\n  - {name: b, kind: canary, share: 0.2}\n"
     "  - {name: full, kind: full}\n", "must grow"),
    ("name: x\nstages:\n  - {name: a, kind: shadow}\n  - {name: a, kind: full}\n", "repeated: a"),
    ("name: x\nguardrails: {error_rate: {max: 1, attributes: {fabric: 2}}}\nstages:\n  - {name: f, kind: full}\n",
     "one figure"),
])
def test_a_plan_that_breaks_the_stage_rules_says_which_rule(text: str, says: str) -> None:
    with pytest.raises(PlanError) as caught:
        parse_plan(text)
    assert says in str(caught.value)


def test_yaml_errors_and_repeated_keys_name_the_line() -> None:
    with pytest.raises(PlanError, match=r"plan:3: not valid YAML: key 'name' is given twice"):
        parse_plan("name: a\nstages: []\nname: b\n")
    with pytest.raises(PlanError, match=r"plan:3: not valid YAML"):
        parse_plan("name: a\nstages: [\n")
    with pytest.raises(PlanError, match="a plan is a mapping"):
        parse_plan("- 1\n- 2\n")


def test_a_missing_plan_file_names_the_shipped_plans() -> None:
    with pytest.raises(PlanError) as caught:
        load_plan("no-such-plan.yaml")
    assert caught.value.hint is not None and "quick" in caught.value.hint
