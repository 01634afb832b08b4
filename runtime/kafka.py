"""Kafka client factories with the delivery settings tagstream relies on, and topic creation."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from contracts import Topic, Topics
from runtime.errors import BrokerUnavailable
from runtime.settings import KafkaSettings

__all__ = ["BrokerUnavailable", "admin", "consumer", "ensure_topics", "producer", "until_connected"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def producer(settings: KafkaSettings, *, client_id: str, **overrides: Any) -> KafkaProducer:
    """An idempotent producer with acks=all: a retried send is never written twice."""
    kwargs: dict[str, Any] = {
        **settings.kafka_client_kwargs(),
        "client_id": f"{settings.kafka_client_id}-{client_id}",
        "acks": "all",
        "enable_idempotence": settings.kafka_idempotence,
        "linger_ms": 5,
        "max_request_size": 16 * 1024 * 1024,
        "retries": 2**31 - 1,
        "delivery_timeout_ms": 120_000,
    }
    kwargs.update(overrides)
    return KafkaProducer(**kwargs)


def consumer(settings: KafkaSettings, *, group_id: str | None, client_id: str, **overrides: Any) -> KafkaConsumer:
    """A consumer with auto-commit off: offsets are committed by hand, after their output is acknowledged."""
    kwargs: dict[str, Any] = {
        **settings.kafka_client_kwargs(),
        "client_id": f"{settings.kafka_client_id}-{client_id}",
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": 10_000,
        "heartbeat_interval_ms": 3_000,
        "fetch_max_bytes": 32 * 1024 * 1024,
        # the broker holds an empty fetch this long; Tansu answers at the deadline rather than on new data,
        # so kafka-python's 500 ms default became the floor of event-to-tag latency
        "fetch_max_wait_ms": 50,
        "max_partition_fetch_bytes": 16 * 1024 * 1024,
    }
    kwargs.update(overrides)
    return KafkaConsumer(**kwargs)


def until_connected(connect: Callable[[], T], stop: threading.Event, *, bootstrap: str) -> T | None:
    """``connect()`` (which makes Kafka clients) until it stops raising ``KafkaError``, or ``None`` once ``stop`` is
    set. Waits 0.5 s after the first failure, twice as long after each next one up to 5 s; logs at most every 10 s."""
    delay, logged = 0.5, None
    while not stop.is_set():
        try:
            return connect()
        except KafkaError as e:  # KafkaTimeoutError when no broker answers in time
            if logged is None or time.monotonic() - logged > 10:
                log.warning("Kafka at %s not reachable (%s); retrying", bootstrap, e)
                logged = time.monotonic()
            stop.wait(delay)
            delay = min(delay * 2, 5.0)
    return None


def admin(settings: KafkaSettings, *, timeout_s: float = 10.0) -> KafkaAdminClient:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return KafkaAdminClient(**settings.kafka_client_kwargs(), client_id=f"{settings.kafka_client_id}-admin",
                                    bootstrap_timeout_ms=int(max(timeout_s, 1) * 1000))
        except KafkaError as e:  # kafka-python 3 raises KafkaTimeoutError when no broker answers
            if time.monotonic() > deadline:
                raise BrokerUnavailable(f"no Kafka broker answers at {settings.kafka_bootstrap}",
                                        hint="start one with `tagstream up` or set TAGSTREAM_KAFKA_BOOTSTRAP") from e
            time.sleep(0.2)


def ensure_topics(settings: KafkaSettings, *, partitions: int, replication: int = 1,
                  topics: list[Topic] | None = None) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    wanted = topics or Topics.all()
    client = admin(settings)
    try:
        existing = set(client.list_topics())
        created = []
        for topic in wanted:
            if topic.name in existing:
                continue
            config = {"cleanup.policy": "compact"} if topic.compacted else {}
            parts = 1 if topic.compacted else partitions
            try:
                client.create_topics([NewTopic(topic.name, parts, replication, topic_configs=config)])
                created.append(topic.name)
            except TopicAlreadyExistsError:
                pass
            except KafkaError as e:
                raise BrokerUnavailable(f"could not create topic {topic.name}: {e}") from e
        return created
    finally:
        client.close()
