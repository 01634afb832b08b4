"""The built-in source reads the tag, shadow, dead-letter and label topics of a real broker since a rollout began."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from contracts import ARM_HEADER, Guardrail, GuardrailKind, RolloutArm, Topics
from rollout.guardrails import WHOLE
from rollout.sources.topics import TopicSource
from runtime import kafka
from tests.conftest import StackFactory
from tests.rollout import messages

pytestmark = pytest.mark.integration
ANY = Guardrail(max=1.0)


def eventually(check: Callable[[], bool], timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        time.sleep(0.1)


def test_the_source_sees_the_rollout_since_it_began_and_keeps_up(stack_factory: StackFactory) -> None:
    stack = stack_factory(["broker"])
    settings = stack.kafka_settings()
    producer = kafka.producer(settings, client_id="test")
    since = datetime.now(UTC)
    before = since - timedelta(minutes=5)
    for i in range(5):  # tagged before the rollout: not in its window
        producer.send(Topics.TAGS_SHADOW.name, messages.tag(f"old{i}", "2", RolloutArm.SHADOW, before).to_bytes())
    for i in range(30):
        now = since + timedelta(seconds=1)
        fabric = "silk" if i < 6 else "cotton"
        producer.send(Topics.TAGS.name, messages.tag(f"e{i}", "1", RolloutArm.STABLE, now).to_bytes())
        producer.send(Topics.TAGS_SHADOW.name, messages.tag(f"e{i}", "2", RolloutArm.SHADOW, now,
                                                            labels={"fabric": fabric, "collar": "round"}).to_bytes())
    producer.send(Topics.DEAD_LETTERS.name, messages.dead_letter(since).to_bytes(),
                  headers=[(ARM_HEADER, b"shadow")])
    producer.send(Topics.DEAD_LETTERS.name, b"not a dead letter")  # skipped, not fatal
    producer.flush()

    source = TopicSource(settings, "catalog_tagger")
    source.start()
    try:
        source.follow("1", "2", since)
        eventually(lambda: source.caught_up)
        assert source.candidate_events(since) == 30
        assert source.reading(GuardrailKind.DISAGREEMENT, ANY, since)["fabric"].value == pytest.approx(0.2)
        assert source.reading(GuardrailKind.ERROR_RATE, ANY, since)[WHOLE].candidate == pytest.approx(1 / 31)

        later = since + timedelta(seconds=2)
        for i in range(10):
            producer.send(Topics.TAGS.name, messages.tag(f"c{i}", "2", RolloutArm.CANDIDATE, later).to_bytes())
        producer.flush()
        eventually(lambda: source.candidate_events(since) == 40)
        assert source.candidate_events(later) == 10  # a later stage's window starts later

        source.follow("1", "3", since)  # another rollout: read again, nothing of version 2 counts
        eventually(lambda: source.caught_up)
        assert source.candidate_events(since) == 0
    finally:
        source.stop()
        producer.close()
