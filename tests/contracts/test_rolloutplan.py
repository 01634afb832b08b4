"""The rollout's spec carries its plan; records written before the plan travelled still validate."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts import (
    RolloutPlan,
    RolloutReason,
    RolloutSpec,
    RolloutStage,
    RolloutState,
    RolloutStatus,
    TritonAddressing,
    triton_target,
)

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
PLAN = {"name": "p", "analysis": {"interval": "2s"},
        "guardrails": {"disagreement": {"max": 0.3, "attributes": {"fabric": 0.5}}},
        "stages": [{"name": "shadow", "kind": "shadow", "bake": {"time": "1m"}},
                   {"name": "canary-10", "kind": "canary", "share": 0.1, "compare_share": 1.0},
                   {"name": "full", "kind": "full"}]}


def test_a_state_with_its_plan_round_trips_through_its_bytes() -> None:
    plan = RolloutPlan.model_validate_json(json.dumps(PLAN))
    state = RolloutState(
        spec=RolloutSpec(model="catalog_tagger", stable_version="1", candidate_version="2", plan="p", strategy=plan,
                         started_at=NOW, started_by="ops"),
        status=RolloutStatus(revision=2, stage=RolloutStage.CANARY, step="canary-10", traffic_share=0.1,
                             compare_share=1.0, reason=RolloutReason.ADVANCED, time=NOW, stage_started_at=NOW,
                             analysis_since=NOW))
    again = RolloutState.model_validate_json(state.to_bytes())
    assert again == state and again.spec.strategy is not None
    assert again.spec.strategy.analysis.interval == 2.0 and again.spec.strategy.stages[0].bake.time == 60.0


def test_a_version_2_record_without_the_plan_and_new_status_fields_still_validates() -> None:
    old = {"schema_version": 2, "spec": {"model": "catalog_tagger", "stable_version": "1", "plan": "quick"},
           "status": {"revision": 0, "stage": "stable", "reason": "NoRollout", "time": NOW.isoformat()}}
    state = RolloutState.model_validate_json(json.dumps(old))
    assert state.spec.strategy is None and state.status.stage_started_at is None and not state.status.approved


def test_a_plan_with_a_bad_duration_names_the_field() -> None:
    broken = {**PLAN, "analysis": {"interval": "soon"}}
    with pytest.raises(ValidationError) as caught:
        RolloutPlan.model_validate_json(json.dumps(broken))
    assert caught.value.errors()[0]["loc"] == ("analysis", "interval")


@pytest.mark.parametrize(("addressing", "expected"), [
    (TritonAddressing.VERSION, ("catalog_tagger", "2")),
    (TritonAddressing.NAME, ("catalog_tagger_v2", "2")),
])
def test_a_version_is_addressed_by_number_on_triton_and_by_name_on_the_local_host(
        addressing: TritonAddressing, expected: tuple[str, str]) -> None:
    assert triton_target("catalog_tagger", "2", addressing) == expected
