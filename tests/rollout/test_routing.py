"""Routing: which version tags an event, on which arm, under each stage."""

from __future__ import annotations

import pytest

from contracts import RolloutArm, RolloutState
from rollout import state as machine
from rollout.routing import bucket, route
from tests.rollout.factories import at, in_stage

PRODUCTS = [f"p-{i}" for i in range(4000)]


def shares(state: RolloutState) -> float:
    return sum(route(state, product_id=p).publish.arm is RolloutArm.CANDIDATE for p in PRODUCTS) / len(PRODUCTS)


def test_the_hash_is_stable_and_spread_evenly() -> None:
    assert bucket("p-42") == bucket("p-42") != bucket("p-43")
    assert bucket("p-42") == pytest.approx(0.85912257, abs=1e-8)  # the same on every process, run and machine
    below = sum(bucket(p) < 0.25 for p in PRODUCTS) / len(PRODUCTS)
    assert below == pytest.approx(0.25, abs=0.03)


def test_without_a_rollout_stable_serves_everything() -> None:
    assert route(None, product_id="p-1", stable_version="1").publish.version == "1"
    rolled_back = machine.rollback(in_stage("canary-10"), at(1))
    r = route(rolled_back, product_id="p-1")
    assert (r.publish.version, r.publish.arm, r.shadow) == ("1", RolloutArm.STABLE, None)
    assert r.revision == rolled_back.status.revision


def test_shadow_publishes_stable_and_writes_the_candidate_to_the_shadow_topic_only() -> None:
    r = route(in_stage("shadow"), product_id="p-1")
    assert (r.publish.version, r.publish.arm, r.publish.published) == ("1", RolloutArm.STABLE, True)
    assert r.shadow is not None and (r.shadow.version, r.shadow.arm, r.shadow.published) == (
        "2", RolloutArm.SHADOW, False)


def test_the_pilot_serves_its_merchants_categories_and_hash_share() -> None:
    state = in_stage("pilot")  # merchants [m-1], hash share 0.05
    assert route(state, product_id="p-x", merchant_id="m-1").publish.arm is RolloutArm.CANDIDATE
    outside = next(p for p in PRODUCTS if bucket(p) >= 0.05)
    assert route(state, product_id=outside, merchant_id="m-2").publish.arm is RolloutArm.STABLE
    assert shares(state) == pytest.approx(0.05, abs=0.015)
    by_category = state.model_copy(update={"status": state.status.model_copy(update={
        "pilot_cohort": state.status.pilot_cohort.model_copy(update={"categories": ["blouse"]})})})
    assert route(by_category, product_id=outside, category="blouse").publish.arm is RolloutArm.CANDIDATE


def test_a_canary_serves_its_share_and_a_larger_share_keeps_the_smaller_ones_products() -> None:
    ten = in_stage("canary-10")
    half = ten.model_copy(update={"status": ten.status.model_copy(update={"traffic_share": 0.5})})
    assert shares(ten) == pytest.approx(0.1, abs=0.02) and shares(half) == pytest.approx(0.5, abs=0.03)
    for p in PRODUCTS:
        if route(ten, product_id=p).publish.arm is RolloutArm.CANDIDATE:
            assert route(half, product_id=p).publish.arm is RolloutArm.CANDIDATE


def test_canary_events_of_the_compare_share_are_tagged_by_stable_to_the_shadow_topic() -> None:
    state = in_stage("canary-10")  # compare share 0.5
    served = [route(state, product_id=p) for p in PRODUCTS if bucket(p) < 0.1]
    compared = [r for r in served if r.shadow is not None]
    assert len(compared) / len(served) == pytest.approx(0.5, abs=0.1)
    assert all(r.shadow is not None and (r.shadow.version, r.shadow.arm, r.shadow.published) == (
        "1", RolloutArm.STABLE, False) for r in compared)
    assert all(route(state, product_id=p).shadow is None for p in PRODUCTS if bucket(p) >= 0.1)


def test_full_serves_the_candidate_and_completion_makes_it_stable() -> None:
    full = in_stage("full")
    assert {route(full, product_id=p).publish.arm for p in PRODUCTS[:100]} == {RolloutArm.CANDIDATE}
    done = machine.advance(full, at(1))
    r = route(done, product_id="p-1")
    assert (r.publish.version, r.publish.arm) == ("2", RolloutArm.STABLE)
