"""The records the tagger produces, built from the stages' data: tags, review items, tombstones, dead letters.

Every record is an :class:`Output` (topic, key, value); the publish stage sends an event's outputs
together and counts the event done when all of them are acknowledged.

- A published answer gives a ``TagPrediction`` on ``catalog.tags`` and, when it needs review, a
  ``ReviewItem`` of kind doubt on ``catalog.review`` (:func:`review_items`; an audit share of confident
  tags is another kind the same function can add).
- A shadow answer gives a ``TagPrediction`` on ``catalog.tags.shadow`` only.
- A deletion gives a tombstone: the product's key and a null value on ``catalog.tags``.
- A bad event gives a ``DeadLetter`` with the original bytes and the reason.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime

from contracts import (
    CatalogEvent,
    DeadLetter,
    ErrorInfo,
    ReviewItem,
    ReviewKind,
    RolloutArm,
    RolloutRef,
    SourcePosition,
    TagPrediction,
    Timings,
    Topics,
)
from modelspec.errors import InputError
from services.tagger.work import Answer, Inferred, Received, Valid


@dataclass(frozen=True)
class Output:
    """One record to produce. ``value`` None is a tombstone."""

    topic: str
    key: bytes | None
    value: bytes | None


def prediction(item: Inferred, answer: Answer, *, revision: int) -> TagPrediction:
    """The tag of one event by one model: what it said, whether and why it needs review, how long it took."""
    loaded = item.loaded
    event, received = loaded.valid.event, loaded.valid.received
    tagged = answer.tagged
    return TagPrediction(
        event_id=event.id,
        product_id=event.data.product_id,
        merchant_id=event.data.merchant_id,
        model=answer.model,
        rollout=RolloutRef(revision=revision, arm=answer.arm),
        attributes=tagged.attributes,
        needs_review=tagged.needs_review,
        review_reasons=tagged.review_reasons,
        ood_score=tagged.ood_score,
        timings=Timings(event_time=event.time, received_at=received.received_at, tagged_at=datetime.now(UTC),
                        preprocess_ms=loaded.preprocess_ms, inference_ms=answer.inference_ms),
        features=loaded.features,
    )


def review_items(tag: TagPrediction, event: CatalogEvent) -> list[ReviewItem]:
    """What a person should look at for this tag: the doubtful attributes, with the product as the event gave it."""
    data = event.data
    if not tag.needs_review or data.image is None:
        return []
    return [ReviewItem(kind=ReviewKind.DOUBT, tag=tag, attributes=tag.needs_review, title=data.title,
                       category_hint=data.category_hint, image=data.image)]


def tag_outputs(item: Inferred) -> list[Output]:
    """Every record one tagged event gives: per answer its tag, and review items for the published one."""
    valid = item.loaded.valid
    outputs = []
    for answer in item.answers:
        tag = prediction(item, answer, revision=valid.route.revision)
        if answer.arm is RolloutArm.SHADOW:
            outputs.append(Output(Topics.TAGS_SHADOW.name, tag.key, tag.to_bytes()))
            continue
        outputs.append(Output(Topics.TAGS.name, tag.key, tag.to_bytes()))
        outputs.extend(Output(Topics.REVIEW.name, review.key, review.to_bytes())
                       for review in review_items(tag, valid.event))
    return outputs


def tombstone(valid: Valid) -> Output:
    """The deleted product's key with a null value: compacted and upserting consumers drop the product."""
    return Output(Topics.TAGS.name, valid.key, None)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def dead_letter(received: Received, error: InputError, *, group: str, max_original_bytes: int) -> Output:
    record = received.record
    value = record.value or b""
    letter = DeadLetter(
        original_value_b64=_b64(value[:max_original_bytes]),
        original_truncated=len(value) > max_original_bytes,
        original_key_b64=_b64(record.key) if record.key is not None else None,
        original_headers=[(k, _b64(v or b"")) for k, v in record.headers or []],
        source=SourcePosition(topic=received.tp.topic, partition=received.tp.partition, offset=record.offset),
        error=ErrorInfo(code=error.error_code, message=error.message, field=error.field),
        consumer_group=group,
        time=datetime.now(UTC),
    )
    return Output(Topics.DEAD_LETTERS.name, record.key, letter.to_bytes())
