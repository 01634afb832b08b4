"""Plans and states for the rollout room's tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts import RolloutPlan, RolloutState
from rollout import state as machine

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)

PLAN_DATA: dict[str, Any] = {
    "name": "test",
    "analysis": {"interval": "1s", "failure_limit": 1, "inconclusive_limit": 1, "consecutive_error_limit": 2},
    "guardrails": {
        "error_rate": {"max": 0.05, "min_samples": 10},
        "disagreement": {"max": 0.3, "warn": 0.2, "min_samples": 10, "attributes": {"fabric": 0.5}},
        "input_drift": {"max": 0.5, "min_samples": 10},
    },
    "stages": [
        {"name": "shadow", "kind": "shadow", "bake": {"time": "10s", "events": 20}},
        {"name": "pilot", "kind": "pilot", "cohort": {"merchants": ["m-1"], "hash_share": 0.05}, "gate": "manual",
         "compare_share": 1.0, "bake": {"time": "10s"}},
        {"name": "canary-10", "kind": "canary", "share": 0.1, "compare_share": 0.5, "bake": {"time": "10s"}},
        {"name": "full", "kind": "full", "bake": {"time": "10s"}, "guardrails": {"disagreement": None}},
    ],
}


def plan(**changes: Any) -> RolloutPlan:
    return RolloutPlan.model_validate_json(json.dumps({**PLAN_DATA, **changes}))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def idle() -> RolloutState:
    return machine.initial("catalog_tagger", "1", T0)


def in_stage(step: str, *, now: datetime = T0) -> RolloutState:
    """A rollout of version 2 that has just entered ``step``."""
    state = machine.start(idle(), candidate="2", plan=plan(), now=now, actor="test")
    while state.status.step != step:
        state = machine.advance(state, now)
    return state
