"""LocalStack against the real Tansu broker (memory and durable on moto S3) and the stack record."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

from contracts.topics import Topics
from tools.stack import LocalStack, StackRunningError

pytestmark = pytest.mark.integration

#: Group join takes about half the session timeout against Tansu (environment.md).
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 2000}


def _producer(stack: LocalStack) -> KafkaProducer:
    return KafkaProducer(**stack.kafka_settings().kafka_client_kwargs(), acks="all")


def _consumer(stack: LocalStack, group: str, topic: str, **extra: Any) -> KafkaConsumer:
    return KafkaConsumer(topic, **stack.kafka_settings().kafka_client_kwargs(), group_id=group,
                         enable_auto_commit=False, auto_offset_reset="earliest", **FAST_GROUP, **extra)


def _read(consumer: KafkaConsumer, count: int, timeout_s: float = 30.0) -> list[Any]:
    records: list[Any] = []
    deadline = time.monotonic() + timeout_s
    while len(records) < count and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
    return records


def test_broker_starts_with_every_contract_topic(stack_factory) -> None:
    stack = stack_factory(["broker"])
    admin = KafkaAdminClient(**stack.kafka_settings().kafka_client_kwargs())
    try:
        topics = set(admin.list_topics())
    finally:
        admin.close()
    assert {t.name for t in Topics.all()} <= topics
    assert [s.name for s in stack.status() if s.ready] == ["broker"]


def test_keyed_record_makes_a_round_trip_through_the_broker(stack_factory) -> None:
    stack = stack_factory(["broker"])
    producer = _producer(stack)
    producer.send(Topics.EVENTS.name, key=b"product-1", value=b'{"hello": "tansu"}').get(timeout=10)
    producer.close()
    consumer = _consumer(stack, "round-trip", Topics.EVENTS.name)
    try:
        records = _read(consumer, 1)
    finally:
        consumer.close()
    assert [(r.key, r.value) for r in records] == [(b"product-1", b'{"hello": "tansu"}')]


def test_durable_broker_keeps_records_and_committed_offset_across_a_broker_crash(stack_factory) -> None:
    stack = stack_factory(["s3", "broker"], broker_storage="s3")
    topic, group = Topics.EVENTS.name, f"durable-{uuid.uuid4().hex[:6]}"
    partition = TopicPartition(topic, 0)
    producer = _producer(stack)
    for i in range(10):
        producer.send(topic, key=f"p{i}".encode(), value=f"v{i}".encode(), partition=0)
    producer.flush(timeout=10)
    producer.close()
    consumer = _consumer(stack, group, topic)
    assert len(_read(consumer, 10)) == 10
    consumer.commit({partition: OffsetAndMetadata(6, "", -1)})
    consumer.close(autocommit=False)

    stack.kill("broker")
    assert not stack.process("broker").alive()
    stack.start_component("broker")

    resumed = _consumer(stack, group, topic)
    try:
        assert resumed.committed(partition) == 6
        assert [r.value for r in _read(resumed, 4)] == [b"v6", b"v7", b"v8", b"v9"]
    finally:
        resumed.close(autocommit=False)
    fresh = _consumer(stack, f"fresh-{group}", topic)
    try:
        assert [r.offset for r in _read(fresh, 10)] == list(range(10))
    finally:
        fresh.close(autocommit=False)


def test_second_stack_in_the_same_state_dir_is_refused_while_the_first_runs(stack_factory) -> None:
    first = stack_factory(["broker"])
    with pytest.raises(StackRunningError) as refused:
        LocalStack(first.settings).start(["broker"])
    assert "tagstream down" in str(refused.value) and "\n" not in str(refused.value)


def test_recorded_stack_is_found_and_stopped_from_another_process(stack_factory) -> None:
    first = stack_factory(["broker"])
    pid = first.process("broker").pid
    later = LocalStack.recorded(first.settings)  # what `tagstream status` / `down` build
    assert later is not None
    broker = {s.name: s for s in later.status()}["broker"]
    assert (broker.pid, broker.ready, broker.recorded) == (pid, True, True)
    later.stop()
    assert not first.process("broker").alive()
    assert not first.settings.record_path.exists()
    assert LocalStack.recorded(first.settings) is None
