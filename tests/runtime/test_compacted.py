"""Following a compacted topic on the real broker: from the beginning, every change, tombstones, bad records."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from contracts import ModelCard, ModelRef, Topics, card_key
from runtime import kafka
from runtime.compacted import CompactedFollower
from tests.conftest import StackFactory

pytestmark = pytest.mark.integration

V1, V2 = ModelRef(name="catalog_tagger", version="1"), ModelRef(name="catalog_tagger", version="2")


def _until(check: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


def test_a_follower_holds_the_latest_value_of_every_key_and_hears_each_change(stack_factory: StackFactory) -> None:
    stack = stack_factory(["broker"])  # the stack registers the committed model's card when its broker starts
    settings = stack.kafka_settings()
    producer = kafka.producer(settings, client_id="test")
    topic = Topics.MODELS.name
    follower = CompactedFollower(settings, topic, ModelCard.model_validate_json, client_id="test-follower")
    heard: list[tuple[str, str | None]] = []
    follower.on_change(lambda key, card: heard.append((key, None if card is None else card.model.version)))
    with follower:
        assert follower.wait_caught_up(20)
        first = follower.latest(card_key(V1))
        assert first is not None and first.review is not None  # the committed card, read from the beginning
        assert follower.latest(card_key(V2)) is None

        second = first.model_copy(update={"model": V2, "review": None, "registered_at": datetime.now(UTC)})
        for key, value in [(b"catalog_tagger:2", b"{not a card"),  # skipped: not a ModelCard
                           (None, second.to_bytes()),  # skipped: no key
                           (second.key, second.to_bytes())]:
            producer.send(topic, key=key, value=value).get(timeout=10)
        _until(lambda: follower.latest(card_key(V2)) is not None, "the new card arrives")
        found = follower.latest(card_key(V2))
        assert found is not None and found.review is None and found.model == V2
        assert set(follower.items()) == {card_key(V1), card_key(V2)}

        producer.send(topic, key=second.key, value=None).get(timeout=10)  # a tombstone deletes the key
        _until(lambda: follower.latest(card_key(V2)) is None, "the tombstone removes the card")
    producer.close()
    assert heard == [(card_key(V1), "1"), (card_key(V2), "2"), (card_key(V2), None)]

