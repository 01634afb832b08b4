"""The rollout state on the compacted topic: written once acknowledged, followed by every reader."""

from __future__ import annotations

import time

import pytest

from contracts import Topics
from rollout import state as machine
from rollout.statetopic import RolloutFollower, StateWriter
from runtime import kafka
from tests.conftest import StackFactory
from tests.rollout.factories import at, idle, in_stage

pytestmark = pytest.mark.integration


def test_followers_see_the_latest_state_and_every_change(stack_factory: StackFactory) -> None:
    stack = stack_factory(["broker"])
    settings = stack.kafka_settings()
    writer = StateWriter(settings)
    writer.publish(idle())
    writer.publish(in_stage("shadow"))
    raw = kafka.producer(settings, client_id="test")
    raw.send(Topics.ROLLOUT.name, key=b"catalog_tagger", value=b"{not a state").get(timeout=10)  # skipped
    follower = RolloutFollower(settings)
    seen: list[int] = []
    follower.on_change(lambda s: seen.append(s.status.revision))
    follower.start()
    try:
        assert follower.wait_caught_up(20)
        latest = follower.latest("catalog_tagger")
        assert latest is not None and latest.status.step == "shadow"
        changed = machine.advance(in_stage("shadow"), at(10))
        writer.publish(changed)  # how fast it arrives is measured by `tagstream bench rollout`, not here
        deadline = time.monotonic() + 20
        while (current := follower.latest("catalog_tagger")) is None or current.status.step != "pilot":
            assert time.monotonic() < deadline, "the state change never reached the follower"
            time.sleep(0.01)
        assert seen == [0, 1, changed.status.revision]
        assert follower.latest("other-model") is None
    finally:
        follower.stop()
        writer.close()
        raw.close()
