"""The pipeline's error policy with fake clients (unit tests; the integration tests use real ones)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaTimeoutError

from contracts import DeadLetter, ErrorCode, TagPrediction, Topics
from services.model.serving import output_name
from services.model.taxonomy import ATTRIBUTES
from services.tagger import pipeline
from services.tagger.errors import InferenceUnavailable
from services.tagger.fetch import FetchPolicy, SafeFetcher
from services.tagger.pipeline import Tagger
from services.tagger.settings import TaggerSettings
from services.traffic.synthetic import generate

TP = TopicPartition(Topics.EVENTS.name, 0)


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def add_callback(self, fn: Any) -> FakeFuture:
        if self.error is None:
            fn(None)
        return self

    def add_errback(self, fn: Any) -> FakeFuture:
        if self.error is not None:
            fn(self.error)
        return self


class FakeProducer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes]] = []
        self.fail = fail

    def send(self, topic: str, key: bytes | None, value: bytes) -> FakeFuture:
        self.sent.append((topic, value))
        return FakeFuture(KafkaTimeoutError("not acknowledged") if self.fail else None)

    def flush(self, timeout: float | None = None) -> None:
        pass


class FakeConsumer:
    """Hands out the records once, then stops the tagger once everything it read is acknowledged."""

    def __init__(self, values: list[bytes], stop: threading.Event) -> None:
        self.records = [ConsumerRecord(TP.topic, 0, -1, i, 0, 0, None, v, [], None, 0, len(v), 0)
                        for i, v in enumerate(values)]
        self.stop = stop
        self.commits: list[dict[TopicPartition, int]] = []
        self.listener: Any = None
        self.polls = 0

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        self.polls += 1
        if self.polls == 1:
            self.listener.on_partitions_assigned({TP})
            return {TP: self.records}
        if self.polls > 400:  # 40 s of fake polling: give up
            self.stop.set()
        threading.Event().wait(timeout_ms / 1000)
        return {}

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})
        if self.commits[-1].get(TP) == len(self.records):
            self.stop.set()

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def pause(self, *partitions: TopicPartition) -> None:
        pass

    def resume(self, *partitions: TopicPartition) -> None:
        pass

    def paused(self) -> set[TopicPartition]:
        return set()

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int:
        return len(self.records)

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.records)

    def close(self, autocommit: bool = True) -> None:
        pass


class FakeTriton:
    model = "catalog_tagger"
    url = "fake:8001"

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0

    def ready(self) -> bool:
        return True

    def served_version(self) -> str:
        return "1"

    def infer(self, images: np.ndarray) -> dict[str, np.ndarray]:
        self.calls += 1
        if self.calls <= self.failures:
            raise InferenceUnavailable("Triton is down")
        n = images.shape[0]
        return {output_name(a.name): np.full((n, a.size), 1.0 / a.size, dtype=np.float32) for a in ATTRIBUTES}


def run(values: list[bytes], *, producer: FakeProducer, triton: FakeTriton) -> tuple[int, FakeConsumer]:
    stop = threading.Event()
    consumer = FakeConsumer(values, stop)
    settings = TaggerSettings(commit_interval_ms=20, batch_max_wait_ms=1, triton_backoff_max_s=0.05)
    tagger = Tagger(settings, consumer=consumer, producer=producer, triton=triton,  # type: ignore[arg-type]
                    fetcher=SafeFetcher(FetchPolicy()))
    return tagger.run(stop), consumer


def test_every_event_is_tagged_or_dead_lettered_and_committed_to_the_end():
    records = list(generate(40, malformed_ratio=0.25, seed=3))
    producer = FakeProducer()
    code, consumer = run([r.value for r in records], producer=producer, triton=FakeTriton())
    assert code == 0
    tags = [TagPrediction.model_validate_json(v) for t, v in producer.sent if t == Topics.TAGS.name]
    dead = [DeadLetter.model_validate_json(v) for t, v in producer.sent if t == Topics.DEAD_LETTERS.name]
    assert {t.event_id for t in tags} == {r.event_id for r in records if r.expected_error is None}
    assert sorted(d.source.offset for d in dead) == [i for i, r in enumerate(records) if r.expected_error]
    assert consumer.commits[-1] == {TP: 40}


def test_triton_outage_is_retried_and_nothing_is_dead_lettered():
    records = list(generate(10, seed=4))
    producer = FakeProducer()
    triton = FakeTriton(failures=3)
    code, consumer = run([r.value for r in records], producer=producer, triton=triton)
    assert code == 0
    assert triton.calls > 3
    assert consumer.commits[-1] == {TP: 10}
    assert not [t for t, _ in producer.sent if t == Topics.DEAD_LETTERS.name]
    assert len({TagPrediction.model_validate_json(v).event_id for t, v in producer.sent
                if t == Topics.TAGS.name}) == 10


def test_unacknowledged_output_stops_the_tagger_without_committing_past_it():
    records = list(generate(5, seed=5))
    code, consumer = run([r.value for r in records], producer=FakeProducer(fail=True), triton=FakeTriton())
    assert code == 1
    assert all(c.get(TP, 0) == 0 for c in consumer.commits)


def test_an_unexpected_decoder_crash_dead_letters_the_event_instead_of_stalling(monkeypatch):
    records = list(generate(3, seed=6))

    def explode(raw: bytes, **_: Any) -> None:
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(pipeline, "decode", explode)
    producer = FakeProducer()
    code, consumer = run([r.value for r in records], producer=producer, triton=FakeTriton())
    assert code == 0
    dead = [DeadLetter.model_validate_json(v) for t, v in producer.sent if t == Topics.DEAD_LETTERS.name]
    assert [d.error.code for d in dead] == [ErrorCode.IMAGE_UNDECODABLE] * 3
    assert "decoder bug" in dead[0].error.message
    assert consumer.commits[-1] == {TP: 3}
