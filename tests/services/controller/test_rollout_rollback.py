"""Bad candidates are rolled back automatically by the guardrails, through real taggers; changes need the token.

- every head scrambled (``drill-candidate --version 4``): rolled back during canary, within the failure limit;
  afterwards every new event is tagged by stable;
- the fabric head only (``--attribute fabric``): caught by the fabric guardrail, and by no other attribute's;
- a candidate that loads and fails every call (``--failing``): no tagger stalls; stable tags its events, which
  count as its failures, and the error-rate guardrail rolls it back;
- mutating API calls without the token: 401, and nothing changes.

Every valid event of the traffic is on catalog.tags once when deduplicated by event id, none missing.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from contracts import RolloutArm
from rollout.guardrails import MeasurementPhase
from tests.services.controller.rollouts import (
    EVERY_HEAD_DRILL,
    FABRIC_DRILL,
    FAILING,
    HONEST,
    TagReader,
    Traffic,
    arms,
    assert_each_tagged_once,
    cli,
    history,
    plan_file,
    rollout_stack,
    rounds,
    served,
    view,
    wait_for,
    wait_taggers_route_by,
)
from tools.stack import LocalStack
from tools.stack.secrets import ROLLOUT_API_TOKEN, secret

pytestmark = pytest.mark.integration

QUICK_FAILURE_LIMIT = 1  # rollout/plans/quick.yaml: a second failed measurement of a guardrail rolls back


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with rollout_stack(tmp_path_factory.mktemp("rollback")) as running:
        yield running


@pytest.fixture
def idle(stack: LocalStack) -> LocalStack:
    """The stack with no rollout running (each test leaves it so)."""
    assert view()["state"]["status"]["stage"] in ("stable", "rolled_back"), "a rollout was left running"
    return stack


def test_a_bad_candidate_is_rolled_back_during_canary_and_then_stable_tags_every_new_event(
        idle: LocalStack, tmp_path: Path, record_property: pytest.RecordProperty) -> None:
    plan = plan_file(tmp_path, from_step="canary-10")  # the quick plan's guardrails, straight into canary
    reader = TagReader(idle)
    with Traffic(idle) as traffic:
        time.sleep(1)
        assert cli("start", "--candidate", EVERY_HEAD_DRILL, "--plan", str(plan)).exit_code == 0
        done = wait_for(lambda v: v["state"]["status"]["stage"] == "rolled_back", timeout_s=60)
        revision = done["state"]["status"]["revision"]
        switched = max(r.since for r in wait_taggers_route_by(idle, revision))
        traffic.wait_sent_after(switched, events=50)  # new events, after every tagger routes by the rollback
    status = done["state"]["status"]
    assert status["reason"] == "GuardrailBreached", status
    rollback = history()[-1]
    assert (rollback["action"], rollback["actor"], rollback["from_step"]) == ("rollback", "controller", "canary-10")

    # within the failure limit: rolled back on the guardrail's (limit + 1)-th failed measurement, not later
    measured = rounds(idle, EVERY_HEAD_DRILL, "canary-10")
    culprits = {f["guardrail"] for f in rollback["figures"] if f["phase"] == "failed"}
    assert "disagreement" in culprits
    for guardrail in culprits:
        failed = [r for r in measured if r.guardrail.value == guardrail and r.phase is MeasurementPhase.FAILED]
        assert len(failed) == QUICK_FAILURE_LIMIT + 1, guardrail
    record_property("rolled_back_after_s", round(
        max(r.time for r in measured).timestamp() - min(r.time for r in measured).timestamp(), 2))

    published = reader.until_tagged(set(traffic.sent))
    assert_each_tagged_once(published, set(traffic.sent))
    tags = published.of(set(traffic.sent))
    assert arms(tags)[(EVERY_HEAD_DRILL, RolloutArm.CANDIDATE)] > 0  # the canary did serve its share
    after = [t for t in tags if traffic.sent[t.event_id] > switched]
    assert len(after) >= 50
    assert arms(after) == {("1", RolloutArm.STABLE): len(after)}  # every new event tagged by stable
    assert all(t.model.version == "1" for t in tags if t.rollout.revision >= revision)
    deadline = time.monotonic() + 30
    while served(idle) != {"1"}:  # the candidate is unloaded after its grace
        assert time.monotonic() < deadline, f"Triton still serves {served(idle)}"
        time.sleep(0.5)


def test_a_candidate_worse_on_one_attribute_only_is_caught_by_that_attributes_guardrail(idle: LocalStack) -> None:
    reader = TagReader(idle)
    with Traffic(idle) as traffic:
        assert cli("start", "--candidate", FABRIC_DRILL, "--plan", "quick").exit_code == 0
        done = wait_for(lambda v: v["state"]["status"]["stage"] == "rolled_back", timeout_s=60)
        wait_taggers_route_by(idle, done["state"]["status"]["revision"])
    assert done["state"]["status"]["reason"] == "GuardrailBreached"
    rollback = history()[-1]
    failed = [f for f in rollback["figures"] if f["phase"] == "failed"]
    assert failed and {f["attribute"] for f in failed} == {"fabric"}, failed
    assert any(f["guardrail"] == "disagreement" for f in failed)
    passed = [f for f in rollback["figures"] if f["guardrail"] == "disagreement" and f["attribute"] != "fabric"]
    assert all(f["phase"] == "passed" for f in passed)  # the other heads agree with stable
    published = reader.until_tagged(set(traffic.sent))
    assert_each_tagged_once(published, set(traffic.sent))


def test_a_candidate_failing_every_call_is_rolled_back_by_the_error_rate_and_stable_tags_its_events(
        idle: LocalStack, tmp_path: Path) -> None:
    reader = TagReader(idle)
    with Traffic(idle) as traffic:
        time.sleep(1)
        assert cli("start", "--candidate", FAILING, "--plan", str(plan_file(tmp_path, from_step="canary-10"))
                   ).exit_code == 0
        done = wait_for(lambda v: v["state"]["status"]["stage"] == "rolled_back", timeout_s=60)
        wait_taggers_route_by(idle, done["state"]["status"]["revision"])
    assert done["state"]["status"]["reason"] == "GuardrailBreached"
    failed = [f for f in history()[-1]["figures"] if f["phase"] == "failed"]
    assert {f["guardrail"] for f in failed} == {"error_rate"}, failed
    assert all(f["candidate"] == 1.0 for f in failed)  # every event routed to it failed
    published = reader.until_tagged(set(traffic.sent))
    assert_each_tagged_once(published, set(traffic.sent))
    assert {t.model.version for t in published.of(set(traffic.sent))} == {"1"}  # stable tagged them all


def test_changes_without_the_token_are_refused_with_401_and_change_nothing(idle: LocalStack) -> None:
    refused = cli("approve")
    assert refused.exit_code == 1 and "no rollout is running" in refused.output
    assert cli("start", "--candidate", HONEST, "--plan", "quick").exit_code == 0  # no traffic: it bakes
    base = f"http://127.0.0.1:{idle.settings.controller_port}/v1/rollouts/catalog_tagger"
    before = wait_for(lambda v: v["state"]["status"]["reason"] == "StageBaking")["state"]  # then nothing moves
    entries = history()
    calls = [("start", {"candidate": "2", "plan_name": "quick", "actor": "mallory"}),
             ("rollback", {"actor": "mallory", "reason": "x"}), ("pause", {"actor": "mallory"}),
             ("promote", {"actor": "mallory"}), ("approve", {"actor": "mallory"}), ("resume", {"actor": "mallory"})]
    for path, body in calls:
        for headers in ({}, {"Authorization": "Bearer not-the-token"}):
            request = urllib.request.Request(f"{base}/{path}", data=json.dumps(body).encode(), method="POST",
                                             headers={"Content-Type": "application/json", **headers})
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=10)
            assert caught.value.code == 401, path
    after = view()["state"]
    assert (after["spec"], after["status"]["revision"], after["status"]["paused"]) == (
        before["spec"], before["status"]["revision"], before["status"]["paused"])
    assert history() == entries
    assert cli("rollback", "--reason", "end of the test").exit_code == 0
    log = (idle.settings.logs_dir / "controller.log").read_text()
    assert secret(idle.settings.secrets_dir, ROLLOUT_API_TOKEN) not in log
