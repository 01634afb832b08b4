"""A manual gate waits until approve; a controller restarted mid-rollout resumes from the topic state and the
audit history. Real taggers route the traffic throughout (see ``rollouts.py``), and every valid event is on
catalog.tags once when deduplicated by event id.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts import RolloutArm
from tests.services.controller.rollouts import (
    HONEST,
    TagReader,
    Traffic,
    assert_each_tagged_once,
    cli,
    history,
    rollout_stack,
    step,
    view,
    wait_for,
    wait_taggers_route_by,
)
from tools.stack import LocalStack

pytestmark = pytest.mark.integration

MANUAL_PILOT = """\
name: gated
analysis: {interval: 1s, failure_limit: 1}
guardrails:
  disagreement: {max: 0.5, min_samples: 20}
stages:
  - {name: shadow, kind: shadow, bake: {time: 2s, events: 20}}
  - {name: pilot, kind: pilot, cohort: {hash_share: 0.3}, compare_share: 1.0, gate: manual, bake: {time: 2s}}
  - {name: canary-50, kind: canary, share: 0.5, compare_share: 1.0, bake: {time: 2s, events: 20}}
  - {name: full, kind: full, bake: {time: 2s, events: 20}, guardrails: {disagreement: null}}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with rollout_stack(tmp_path_factory.mktemp("gate")) as running:
        yield running


def test_a_manual_gate_waits_for_approval_and_a_restarted_controller_resumes_from_topic_and_history(
        stack: LocalStack, tmp_path: Path) -> None:
    plan = tmp_path / "gated.yaml"
    plan.write_text(MANUAL_PILOT)
    candidate = HONEST
    reader = TagReader(stack)
    with Traffic(stack) as traffic:
        assert cli("start", "--candidate", candidate, "--plan", str(plan)).exit_code == 0
        waiting = wait_for(lambda v: v["phase"] == "AwaitingApproval")
        assert step(waiting) == "pilot"
        refused = cli("resume")
        assert refused.exit_code == 1 and "stage pilot waits for approval" in refused.output
        time.sleep(3)
        assert step(view()) == "pilot"  # it waits, however long, with the pilot's products on the candidate

        revision = waiting["state"]["status"]["revision"]
        before, in_stage = history(), view()["time_in_stage_s"]
        stack.restart("controller")
        resumed = view()
        assert (resumed["phase"], resumed["state"]["status"]["revision"]) == ("AwaitingApproval", revision)
        assert resumed["time_in_stage_s"] > in_stage  # the stage began when the topic says, not at the restart
        assert history()[:len(before)] == before

        assert cli("approve").exit_code == 0
        wait_for(lambda v: step(v) == "canary-50")
        rolled = cli("rollback", "--reason", "end of the test")
        assert rolled.exit_code == 0
        wait_taggers_route_by(stack, view()["state"]["status"]["revision"])
    published = reader.until_tagged(set(traffic.sent))
    assert_each_tagged_once(published, set(traffic.sent))
    pilot = [t for t in published.of(set(traffic.sent)) if t.rollout.arm is RolloutArm.CANDIDATE]
    assert pilot and {t.model.version for t in pilot} == {candidate}
