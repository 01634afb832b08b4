"""Build the messages the tagger produces: a ``TagPrediction`` per tagged event, a ``DeadLetter`` per bad one."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from contracts import (
    CatalogEvent,
    DeadLetter,
    ErrorInfo,
    FeatureSummary,
    ModelRef,
    RolloutArm,
    RolloutRef,
    SourcePosition,
    TagPrediction,
    Timings,
)
from modelspec.errors import InputError
from modelspec.preprocess import DecodedImage
from services.tagger.postprocess import Tagged


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass
class Work:
    """One record on its way through the pipeline."""

    tp: TopicPartition
    record: ConsumerRecord
    received_at: datetime
    event: CatalogEvent | None = None
    image: DecodedImage | None = None
    preprocess_ms: float = 0.0

    @property
    def position(self) -> str:
        return f"{self.tp.topic}[{self.tp.partition}]@{self.record.offset}"


def prediction(work: Work, tagged: Tagged, *, features: FeatureSummary, model: ModelRef, rollout: RolloutRef,
               inference_ms: float) -> TagPrediction:
    """The tag of one event: what the model said, whether and why it needs review, and how long it took."""
    assert work.event is not None
    data = work.event.data
    return TagPrediction(
        event_id=work.event.id,
        product_id=data.product_id,
        merchant_id=data.merchant_id,
        model=model,
        rollout=rollout,
        attributes=tagged.attributes,
        needs_review=tagged.needs_review,
        review_reasons=tagged.review_reasons,
        ood_score=tagged.ood_score,
        timings=Timings(event_time=work.event.time, received_at=work.received_at, tagged_at=datetime.now(UTC),
                        preprocess_ms=work.preprocess_ms, inference_ms=inference_ms),
        features=features,
    )


STABLE = RolloutRef(revision=0, arm=RolloutArm.STABLE)


def dead_letter(work: Work, error: InputError, *, group: str, max_original_bytes: int) -> DeadLetter:
    record = work.record
    value = record.value or b""
    return DeadLetter(
        original_value_b64=_b64(value[:max_original_bytes]),
        original_truncated=len(value) > max_original_bytes,
        original_key_b64=_b64(record.key) if record.key is not None else None,
        original_headers=[(k, _b64(v or b"")) for k, v in record.headers or []],
        source=SourcePosition(topic=work.tp.topic, partition=work.tp.partition, offset=record.offset),
        error=ErrorInfo(code=error.error_code, message=error.message, field=error.field),
        consumer_group=group,
        time=datetime.now(UTC),
    )
