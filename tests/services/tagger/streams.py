"""Helpers for the tagger's integration tests: read topics whole, look at committed offsets."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition

from contracts import DeadLetter, ReviewItem, TagPrediction, Topics
from runtime.settings import KafkaSettings
from tests.readers import track


@dataclass
class Seen:
    """Everything read so far from the output topics."""

    tags: list[TagPrediction] = field(default_factory=list)
    review: list[ReviewItem] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    #: catalog.tags in the order each partition holds it: (key, event id, or None for a tombstone)
    log: list[tuple[int, bytes | None, str | None]] = field(default_factory=list)

    @property
    def tagged_ids(self) -> set[str]:
        return {t.event_id for t in self.tags}


class OutputReader:
    """Reads catalog.tags, catalog.review (unless ``review=False``) and the dead-letter topic from the beginning,
    without a group."""

    def __init__(self, settings: KafkaSettings, *, review: bool = True) -> None:
        self.consumer = track(KafkaConsumer(**settings.kafka_client_kwargs(), group_id=None, enable_auto_commit=False,
                                            auto_offset_reset="earliest", consumer_timeout_ms=200))
        partitions = []
        topics = (Topics.TAGS.name, Topics.REVIEW.name, Topics.DEAD_LETTERS.name)
        for topic in topics if review else (Topics.TAGS.name, Topics.DEAD_LETTERS.name):
            for p in self.consumer.partitions_for_topic(topic) or []:
                partitions.append(TopicPartition(topic, p))
        self.consumer.assign(partitions)
        self.consumer.seek_to_beginning()
        self.seen = Seen()

    def poll(self) -> Seen:
        for batch in self.consumer.poll(timeout_ms=200, max_records=5000).values():
            for record in batch:
                if record.topic == Topics.TAGS.name:
                    tag = TagPrediction.model_validate_json(record.value) if record.value is not None else None
                    if tag is not None:
                        self.seen.tags.append(tag)
                    self.seen.log.append((record.partition, record.key, tag.event_id if tag else None))
                elif record.topic == Topics.REVIEW.name:
                    self.seen.review.append(ReviewItem.model_validate_json(record.value))
                else:
                    self.seen.dead.append(DeadLetter.model_validate_json(record.value))
        return self.seen

    def until(self, done: Callable[[Seen], bool], timeout_s: float, *, every: Callable[[Seen], None] | None = None,
              ) -> Seen:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            seen = self.poll()
            if every is not None:
                every(seen)
            if done(seen):
                return seen
        raise AssertionError(f"timed out after {timeout_s} s: {len(self.seen.tagged_ids)} distinct tagged, "
                             f"{len(self.seen.dead)} dead letters")

    def close(self) -> None:
        self.consumer.close()


def event_positions(settings: KafkaSettings) -> dict[str, tuple[int, int]]:
    """event id -> (partition, offset) for every event in catalog.events."""
    consumer = KafkaConsumer(**settings.kafka_client_kwargs(), group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest", consumer_timeout_ms=2000)
    partitions = [TopicPartition(Topics.EVENTS.name, p) for p in consumer.partitions_for_topic(Topics.EVENTS.name)]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    positions = {}
    for record in consumer:
        try:
            positions[json.loads(record.value)["id"]] = (record.partition, record.offset)
        except (ValueError, KeyError, TypeError):
            continue
    consumer.close()
    return positions


def committed_offsets(settings: KafkaSettings, group: str = "tagstream-tagger") -> dict[int, int]:
    consumer = KafkaConsumer(**settings.kafka_client_kwargs(), group_id=group, enable_auto_commit=False)
    try:  # committed() asks the group coordinator without joining the group
        partitions = consumer.partitions_for_topic(Topics.EVENTS.name) or set()
        offsets = {p: consumer.committed(TopicPartition(Topics.EVENTS.name, p)) for p in partitions}
    finally:
        consumer.close(autocommit=False)
    return {p: o for p, o in offsets.items() if o is not None}


class TagCounter:
    """Counts the records on catalog.tags without parsing them: an upper bound on the events tagged so far that
    keeps up with a tagger (a reader that parses and keeps every tag falls seconds behind under load)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self.consumer = KafkaConsumer(**settings.kafka_client_kwargs(), group_id=None, enable_auto_commit=False,
                                      auto_offset_reset="earliest", fetch_max_wait_ms=20)
        partitions = self.consumer.partitions_for_topic(Topics.TAGS.name) or set()
        self.consumer.assign([TopicPartition(Topics.TAGS.name, p) for p in partitions])
        self.consumer.seek_to_beginning()
        self.records = 0

    def count(self) -> int:
        """Every record written so far (polls until a poll comes back empty)."""
        while batches := self.consumer.poll(timeout_ms=100, max_records=20000):
            self.records += sum(len(records) for records in batches.values())
        return self.records

    def until(self, at_least: int, timeout_s: float) -> int:
        deadline = time.monotonic() + timeout_s
        while (n := self.count()) < at_least:
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s with {n} tags written, waiting for {at_least}")
        return n

    def close(self) -> None:
        self.consumer.close()
