"""A good candidate goes from shadow to full through real taggers, automatically, with the quick plan.

The stack is real (see ``rollouts.py``): the taggers follow ``tagstream.rollout`` and route every event themselves,
the controller judges the tags they publish and drives the Triton host. Across every switch, every valid event is on
catalog.tags once when deduplicated by event id, none missing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from contracts import RolloutArm
from tests.services.controller.rollouts import (
    HONEST,
    TagReader,
    Traffic,
    arms,
    assert_each_tagged_once,
    cli,
    history,
    rollout_stack,
    served,
    step,
    this_rollout,
    wait_for,
    wait_taggers_route_by,
)
from tools.stack import LocalStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with rollout_stack(tmp_path_factory.mktemp("to-full")) as running:
        yield running


def test_a_good_candidate_goes_from_shadow_to_full_through_the_taggers_and_every_event_is_tagged_once(
        stack: LocalStack, record_property: pytest.RecordProperty) -> None:
    stable, candidate = "1", HONEST
    reader = TagReader(stack)
    seen: list[str] = []
    with Traffic(stack) as traffic:
        time.sleep(1)
        started = cli("start", "--candidate", candidate, "--plan", "quick")
        assert started.exit_code == 0, started.output
        done = wait_for(lambda v: seen.append(step(v)) or v["state"]["status"]["stage"] == "stable", timeout_s=120)
        final = wait_taggers_route_by(stack, done["state"]["status"]["revision"])
        time.sleep(1)  # events after the switch
    assert done["state"]["spec"]["stable_version"] == candidate
    stages = [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]
    assert stages[0] == "shadow" and [s for s in ("pilot", "canary-10", "canary-50", "full") if s in stages] == [
        "pilot", "canary-10", "canary-50", "full"]
    transitions = this_rollout(history())
    assert [t["action"] for t in transitions if t["action"] in ("start", "advance", "complete")] == [
        "start", "advance", "advance", "advance", "advance", "complete"]
    assert all(r.stage == "stable" for r in final)

    published = reader.until_tagged(set(traffic.sent))
    counts = assert_each_tagged_once(published, set(traffic.sent))
    record_property("tags_written_twice", sum(n > 1 for n in counts.values()))
    tags = published.of(set(traffic.sent))
    by_arm = arms(tags)
    record_property("published_by_version_and_arm", {f"{v}/{a.value}": n for (v, a), n in by_arm.items()})
    # stable published throughout, the candidate from the pilot on (and alone from full on); nothing else
    assert by_arm[(stable, RolloutArm.STABLE)] > 0 and by_arm[(candidate, RolloutArm.CANDIDATE)] > 0
    assert set(by_arm) <= {(stable, RolloutArm.STABLE), (candidate, RolloutArm.CANDIDATE),
                           (candidate, RolloutArm.STABLE)}
    shadow = arms([t for t in published.shadow if t.event_id in traffic.sent])
    assert shadow[(candidate, RolloutArm.SHADOW)] > 0 and shadow[(stable, RolloutArm.STABLE)] > 0  # shadow, compares
    completed = done["state"]["status"]["revision"]
    after = [t for t in tags if t.rollout.revision >= completed]
    assert after and all((t.model.version, t.rollout.arm) == (candidate, RolloutArm.STABLE) for t in after)
    deadline = time.monotonic() + 30
    while served(stack) != {candidate}:  # the old version is unloaded after its grace
        assert time.monotonic() < deadline, f"Triton still serves {served(stack)}"
        time.sleep(0.5)
