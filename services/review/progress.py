"""The console group's progress above its committed offsets, kept on ``tagstream.review.progress``.

See ``contracts/reviewprogress.py`` for why. ``ProgressLog.write`` publishes a partition's decided-above
offsets when they changed since the last record; ``read_progress`` reads the compacted topic to its end when
partitions are assigned, so the console can skip what was decided before it took them over.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError
from pydantic import ValidationError

from contracts import ReviewProgress, Topics
from runtime.kafka import consumer
from runtime.settings import KafkaSettings

log = logging.getLogger(__name__)
TOPIC = Topics.REVIEW_PROGRESS.name


class ProgressLog:
    def __init__(self, producer: Any, group: str) -> None:
        self._producer = producer
        self._group = group
        self._written: dict[int, tuple[int, ...]] = {}

    def write(self, partition: int, committed: int, decided: list[int]) -> None:
        """Record the partition's decided-above offsets, if they changed. Not awaited: a lost record only
        means those items are shown again after a takeover."""
        value = tuple(decided)
        if self._written.get(partition, ()) == value:
            return
        record = ReviewProgress(group=self._group, partition=partition, committed=committed, decided=list(value),
                                time=datetime.now(UTC))
        self._producer.send(TOPIC, key=record.key, value=record.to_bytes()).add_errback(
            lambda e: log.warning("progress of partition %d not written: %s", partition, e))
        self._written[partition] = value

    def forget(self, partitions: list[int]) -> None:
        for partition in partitions:
            self._written.pop(partition, None)


def read_progress(settings: KafkaSettings, group: str, *, timeout_s: float = 10.0) -> dict[int, ReviewProgress]:
    """The latest record per partition of ``group``; empty (everything shown again) if the topic cannot be read."""
    latest: dict[int, ReviewProgress] = {}
    try:
        client = consumer(settings, group_id=None, client_id="review-progress")
    except KafkaError as e:
        log.warning("cannot read %s (%s): decided items may be shown again", TOPIC, e)
        return latest
    try:
        partitions = [TopicPartition(TOPIC, p) for p in sorted(client.partitions_for_topic(TOPIC) or [])]
        client.assign(partitions)
        client.seek_to_beginning()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for batch in client.poll(timeout_ms=100, max_records=5000).values():
                for record in batch:
                    try:
                        progress = ReviewProgress.model_validate_json(record.value or b"")
                    except ValidationError:
                        continue
                    if progress.group == group:
                        latest[progress.partition] = progress
            if all((high := client.highwater(tp)) is not None and client.position(tp) >= high for tp in partitions):
                return latest
        log.warning("could not read %s to its end in %.0f s: decided items may be shown again", TOPIC, timeout_s)
        return latest
    finally:
        client.close()
