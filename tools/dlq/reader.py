"""Read a whole topic without joining a group: the dead letters, and the record of what was replayed.

Nothing is committed and no consumer group moves. The end of each partition is the high watermark that
fetch responses report (Tansu answers ListOffsets "latest" wrongly; see the README's known quirks).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError
from pydantic import ValidationError

from contracts import DeadLetter, DeadLetterReplay, Topics
from runtime.kafka import BrokerUnavailable, consumer
from runtime.settings import KafkaSettings
from tools.dlq.errors import DlqError

BROKER_HINT = "set TAGSTREAM_KAFKA_BOOTSTRAP, or start a local broker with `tagstream up`"


@dataclass(frozen=True)
class Letter:
    partition: int
    offset: int
    dead: DeadLetter | None  # None: the record on the dead-letter topic is itself not a DeadLetter
    problem: str = ""

    @property
    def position(self) -> str:
        return f"{self.partition}:{self.offset}"


def read_topic(settings: KafkaSettings, topic: str, *, timeout_s: float = 30.0) -> Iterator[Any]:
    """Every record of ``topic``, partition by partition from the beginning up to its current end."""
    try:
        client = consumer(settings, group_id=None, client_id="dlq", consumer_timeout_ms=1000,
                          request_timeout_ms=10_000)
    except KafkaError as e:
        raise BrokerUnavailable(f"no Kafka broker answers at {settings.kafka_bootstrap}", hint=BROKER_HINT) from e
    try:
        numbers = client.partitions_for_topic(topic)
        if not numbers:
            raise DlqError(f"topic {topic} does not exist on {settings.kafka_bootstrap}",
                           hint="start the stack with `tagstream up`, which creates every topic")
        partitions = [TopicPartition(topic, p) for p in sorted(numbers)]
        client.assign(partitions)
        client.seek_to_beginning()
        deadline = time.monotonic() + timeout_s
        while True:
            for batch in client.poll(timeout_ms=200, max_records=2000).values():
                yield from batch
            if all(_at_end(client, tp) for tp in partitions):
                return
            if time.monotonic() > deadline:
                raise DlqError(f"could not read {topic} to its end within {timeout_s:.0f} s",
                               hint="is the broker overloaded? try again")
    finally:
        client.close()


def _at_end(client: Any, tp: TopicPartition) -> bool:
    high = client.highwater(tp)
    return high is not None and client.position(tp) >= high


def dead_letters(settings: KafkaSettings) -> list[Letter]:
    letters = []
    for record in read_topic(settings, Topics.DEAD_LETTERS.name):
        try:
            letters.append(Letter(record.partition, record.offset, DeadLetter.model_validate_json(record.value or b"")))
        except ValidationError as e:
            letters.append(Letter(record.partition, record.offset, None, f"not a DeadLetter: {e.error_count()} "
                                                                         "errors"))
    return letters


def replays(settings: KafkaSettings) -> dict[tuple[int, int], DeadLetterReplay]:
    """The latest replay record per dead letter, by (partition, offset) of the dead letter."""
    done: dict[tuple[int, int], DeadLetterReplay] = {}
    for record in read_topic(settings, Topics.DLQ_REPLAYS.name):
        try:
            replay = DeadLetterReplay.model_validate_json(record.value or b"")
        except ValidationError:
            continue  # a foreign record on our topic: it records nothing
        done[(replay.dead_letter.partition, replay.dead_letter.offset)] = replay
    return done
