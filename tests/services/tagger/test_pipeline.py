"""The pipeline's error policy, review routing, order and rebalances with fake clients (unit tests; the
integration tests use real ones)."""

from __future__ import annotations

import base64
import io
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image
from prometheus_client import REGISTRY

from contracts import (
    CatalogEvent,
    DeadLetter,
    ErrorCode,
    EventType,
    ImageRef,
    ProductData,
    ReviewItem,
    ReviewKind,
    ReviewReason,
    TagPrediction,
    Topics,
)
from modelspec.taxonomy import ATTRIBUTE_NAMES
from services.tagger import load
from tests.services.tagger.fakes import TP, FakeProducer, FakeTriton, run
from tools.traffic.synthetic import generate


def test_every_event_is_tagged_or_dead_lettered_and_committed_to_the_end():
    records = list(generate(40, malformed_ratio=0.25, seed=3))
    producer = FakeProducer()
    code, consumer = run([r.value for r in records], producer=producer, triton=FakeTriton())
    assert code == 0
    tags = [TagPrediction.model_validate_json(v) for v in producer.values(Topics.TAGS.name)]
    dead = [DeadLetter.model_validate_json(v) for v in producer.values(Topics.DEAD_LETTERS.name)]
    assert {t.event_id for t in tags} == {r.event_id for r in records if r.expected_error is None}
    assert sorted(d.source.offset for d in dead) == [i for i, r in enumerate(records) if r.expected_error]
    assert consumer.commits[-1] == {TP: 40}


def test_triton_outage_is_retried_and_nothing_is_dead_lettered():
    records = list(generate(10, seed=4))
    producer = FakeProducer()
    triton = FakeTriton(failures=3)
    code, consumer = run([r.value for r in records], producer=producer, triton=triton)
    assert code == 0
    assert len(triton.calls) > 3
    assert consumer.commits[-1] == {TP: 10}
    assert not producer.values(Topics.DEAD_LETTERS.name)
    assert len({TagPrediction.model_validate_json(v).event_id for v in producer.values(Topics.TAGS.name)}) == 10


def test_unacknowledged_output_stops_the_tagger_without_committing_past_it():
    records = list(generate(5, seed=5))
    code, consumer = run([r.value for r in records], producer=FakeProducer(fail=True), triton=FakeTriton())
    assert code == 1
    assert all(c.get(TP, 0) == 0 for c in consumer.commits)


def test_an_unexpected_decoder_crash_dead_letters_the_event_instead_of_stalling(monkeypatch):
    records = list(generate(3, seed=6))

    def explode(raw: bytes, **_: Any) -> None:
        raise RuntimeError("decoder bug")

    monkeypatch.setattr(load, "decode", explode)
    producer = FakeProducer()
    code, consumer = run([r.value for r in records], producer=producer, triton=FakeTriton())
    assert code == 0
    dead = [DeadLetter.model_validate_json(v) for v in producer.values(Topics.DEAD_LETTERS.name)]
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


def _published(producer: FakeProducer) -> dict[str, TagPrediction]:
    return {tag.product_id: tag for tag in map(TagPrediction.model_validate_json, producer.values(Topics.TAGS.name))}


def _reviewed(producer: FakeProducer) -> dict[str, TagPrediction]:
    """The tags inside the review items, after checking that each item is a doubt about its own tag."""
    items = [ReviewItem.model_validate_json(v) for v in producer.values(Topics.REVIEW.name)]
    for item in items:
        assert item.kind is ReviewKind.DOUBT
        assert item.attributes == item.tag.needs_review
    return {item.tag.product_id: item.tag for item in items}


def test_confident_in_distribution_garments_are_tagged_without_review():
    records = list(generate(8, seed=7))
    producer = FakeProducer()
    code, _ = run([r.value for r in records], producer=producer, triton=FakeTriton(confident=True))
    assert code == 0
    tags = _published(producer)
    assert len(tags) == 8
    assert all(t.needs_review == [] and t.review_reasons == [] and t.ood_score == pytest.approx(0.3)
               for t in tags.values())
    assert _reviewed(producer) == {}


def test_out_of_distribution_image_is_published_with_every_attribute_to_review_and_sent_to_review():
    records = list(generate(6, seed=8))
    producer = FakeProducer()
    code, _ = run([r.value for r in records], producer=producer, triton=FakeTriton(confident=True, ood=lambda _: 2.5))
    assert code == 0
    tags, review = _published(producer), _reviewed(producer)
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
    tags, review = _published(producer), _reviewed(producer)
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
