"""The pipeline's error policy and review routing with fake clients (unit tests; the integration tests use
real ones)."""

from __future__ import annotations

import base64
import io
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaTimeoutError
from PIL import Image
from prometheus_client import REGISTRY

from contracts import (
    CatalogEvent,
    DeadLetter,
    ErrorCode,
    EventType,
    ImageRef,
    ProductData,
    ReviewReason,
    TagPrediction,
    Topics,
)
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES
from modelspec.tensors import OOD_OUTPUT, output_name
from services.tagger import pipeline
from services.tagger.errors import InferenceUnavailable
from services.tagger.fetch import FetchPolicy, SafeFetcher
from services.tagger.pipeline import Tagger
from services.tagger.settings import TaggerSettings
from tools.traffic.synthetic import generate

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
    """Answers like the served model: calibrated probabilities per head and an ``ood_score`` of shape (N, 1).

    ``confident``: every head puts 0.97 on one class (else a uniform guess); ``ood``: the score of each image.
    """

    model = "catalog_tagger"
    url = "fake:8001"

    def __init__(self, failures: int = 0, *, confident: bool = False,
                 ood: Callable[[np.ndarray], float] = lambda _: 0.3) -> None:
        self.failures = failures
        self.confident = confident
        self.ood = ood
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
        outputs = {}
        for a in ATTRIBUTES:
            probs = np.full((n, a.size), 1.0 / a.size, dtype=np.float32)
            if self.confident:
                probs[:] = 0.03 / (a.size - 1)
                probs[:, 0] = 0.97
            outputs[output_name(a.name)] = probs
        outputs[OOD_OUTPUT] = np.array([[self.ood(image)] for image in images], dtype=np.float32)
        return outputs


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


def _event_with(image: Image.Image, i: int) -> bytes:
    """A valid event carrying ``image`` inline as a PNG."""
    png = io.BytesIO()
    image.save(png, format="PNG")
    event = CatalogEvent(id=str(uuid.UUID(int=i)), source="/test", type=EventType.CREATED, time=datetime.now(UTC),
                         data=ProductData(product_id=f"p-{i}", merchant_id="m-1",
                                          image=ImageRef(inline=base64.b64encode(png.getvalue()).decode())))
    return event.to_bytes()


def _published(producer: FakeProducer, topic: str) -> dict[str, TagPrediction]:
    return {tag.product_id: tag for tag in (TagPrediction.model_validate_json(v) for t, v in producer.sent
                                            if t == topic)}


def test_confident_in_distribution_garments_are_tagged_without_review():
    records = list(generate(8, seed=7))
    producer = FakeProducer()
    code, _ = run([r.value for r in records], producer=producer, triton=FakeTriton(confident=True))
    assert code == 0
    tags = _published(producer, Topics.TAGS.name)
    assert len(tags) == 8
    assert all(t.needs_review == [] and t.review_reasons == [] and t.ood_score == pytest.approx(0.3)
               for t in tags.values())
    assert _published(producer, Topics.REVIEW.name) == {}


def test_out_of_distribution_image_is_published_with_every_attribute_to_review_and_sent_to_review():
    records = list(generate(6, seed=8))
    producer = FakeProducer()
    code, _ = run([r.value for r in records], producer=producer, triton=FakeTriton(confident=True, ood=lambda _: 2.5))
    assert code == 0
    tags, review = _published(producer, Topics.TAGS.name), _published(producer, Topics.REVIEW.name)
    assert len(tags) == 6
    assert review == tags
    for tag in tags.values():
        assert tag.needs_review == list(ATTRIBUTE_NAMES)
        assert tag.review_reasons == [ReviewReason.OUT_OF_DISTRIBUTION]
        assert tag.ood_score == pytest.approx(2.5)


def test_blank_image_is_published_with_its_reason_and_sent_to_review_beside_a_fine_one():
    garment = next(generate(1, seed=9))
    values = [garment.value, _event_with(Image.new("RGB", (200, 200), (250, 250, 250)), 1)]
    producer = FakeProducer()
    code, consumer = run(values, producer=producer, triton=FakeTriton(confident=True))
    assert code == 0
    assert consumer.commits[-1] == {TP: 2}
    tags, review = _published(producer, Topics.TAGS.name), _published(producer, Topics.REVIEW.name)
    blank, fine = tags["p-1"], tags[garment.product_id]
    assert blank.review_reasons == [ReviewReason.IMAGE_BLANK]
    assert blank.needs_review == list(ATTRIBUTE_NAMES)
    assert fine.review_reasons == [] and fine.needs_review == []
    assert set(review) == {"p-1"}


def test_review_counts_by_reason_when_tags_need_review():
    def count(reason: ReviewReason) -> float:
        return REGISTRY.get_sample_value("tagstream_reviews_total", {"reason": reason.value}) or 0.0

    before = {reason: count(reason) for reason in ReviewReason}
    values = [_event_with(Image.new("RGB", (20, 20), (0, 0, 0)), 1), next(generate(1, seed=10)).value]
    code, _ = run(values, producer=FakeProducer(), triton=FakeTriton(confident=True, ood=lambda _: 0.1))
    assert code == 0
    increase = {reason: count(reason) - before[reason] for reason in ReviewReason}
    assert increase == {ReviewReason.LOW_CONFIDENCE: 0, ReviewReason.OUT_OF_DISTRIBUTION: 0,
                        ReviewReason.IMAGE_BLANK: 1, ReviewReason.IMAGE_BLURRED: 0, ReviewReason.IMAGE_TINY: 1}
