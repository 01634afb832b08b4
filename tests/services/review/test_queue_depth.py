"""The queue-depth gauge counts items that arrive while the console's buffer is full and reading is paused."""

from __future__ import annotations

import pytest
from kafka import KafkaProducer

from contracts import ReviewItem, Topics
from runtime.settings import KafkaSettings
from tests.services.review.conftest import ConsoleFactory, sample, scrape, wait_until
from tools.traffic.reviewitems import review_items

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _depth(url: str) -> float:
    return sample(scrape(url), "tagstream_review_queue_depth")


def _publish_one_by_one(broker: KafkaSettings, items: list[ReviewItem]) -> None:
    """One record per batch: Tansu's end offset is the last batch's first offset plus one, exact for such batches."""
    producer = KafkaProducer(**broker.kafka_client_kwargs(), acks="all")
    for item in items:
        producer.send(Topics.REVIEW.name, key=item.key, value=item.to_bytes(), partition=0).get(timeout=10)
    producer.close()


def test_items_arriving_while_reading_is_paused_are_counted(broker: KafkaSettings,
                                                            console_factory: ConsoleFactory) -> None:
    items = review_items(40, seed=5)
    server = console_factory(max_buffered=5)
    _publish_one_by_one(broker, items[:10])
    wait_until(lambda: _depth(server.url) == 10, 30, "the first ten items counted")
    _publish_one_by_one(broker, items[10:])  # after the console paused: no fetch brings their high watermark
    wait_until(lambda: _depth(server.url) == 40, 30, "the thirty later items counted too")
