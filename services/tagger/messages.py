"""The records the tagger produces, built from the stages' data: tags, review items, tombstones, dead letters.

Every record is an :class:`Output` (topic, key, value); the publish stage sends an event's outputs
together and counts the event done when all of them are acknowledged.

- A published answer gives a ``TagPrediction`` on ``catalog.tags`` and, when it needs review or falls in
  the random audit sample, a ``ReviewItem`` on ``catalog.review`` (:func:`review_items`). Both are written
  by ``wire.py``.
- Every other answer of the route (the candidate's in shadow, arm shadow; stable's copy of a compared event in
  pilot and canary, arm stable) gives a ``TagPrediction`` on ``catalog.tags.shadow`` only.
- A deletion gives a tombstone: the product's key and a null value on ``catalog.tags``.
- A bad event gives a ``DeadLetter`` with the original bytes and the reason; one that was routed already carries
  the arm of its route in the ``tagstream-rollout-arm`` header (``contracts.ARM_HEADER``), for the rollout's
  error-rate guardrail.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from contracts import (
    ARM_HEADER,
    FAILED_VERSION_HEADER,
    CatalogEvent,
    DeadLetter,
    ErrorInfo,
    ReviewKind,
    RolloutArm,
    SourcePosition,
    Topics,
)
from modelspec.errors import InputError
from services.tagger import wire
from services.tagger.postprocess import Tagged
from services.tagger.work import Inferred, Received, Valid


@dataclass(frozen=True)
class Output:
    """One record to produce. ``value`` None is a tombstone."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def tag_outputs(item: Inferred, *, audit: bool = False) -> list[Output]:
    """Every record one tagged event gives: per answer its tag (the published answer's on catalog.tags, the others'
    on catalog.tags.shadow), and review items for the published one (``audit``: the event is in the audit sample,
    ``postprocess.in_audit_sample``)."""
    valid, loaded = item.loaded.valid, item.loaded
    event, key, tagged_at = valid.event, valid.key, datetime.now(UTC)
    outputs = []
    for answer in item.answers:
        tag = wire.tag_document(event, answer.tagged, model=answer.model, revision=valid.route.revision,
                                arm=answer.arm, received_at=valid.received.received_at, tagged_at=tagged_at,
                                preprocess_ms=loaded.preprocess_ms, inference_ms=answer.inference_ms,
                                features=loaded.features)
        if answer.call != valid.route.publish:
            outputs.append(Output(Topics.TAGS_SHADOW.name, key, wire.to_bytes(tag)))
            continue
        failed = valid.route.failed_version
        outputs.append(Output(Topics.TAGS.name, key, wire.to_bytes(tag),
                              ((FAILED_VERSION_HEADER, failed.encode()),) if failed else ()))
        outputs.extend(Output(Topics.REVIEW.name, key, wire.to_bytes(review))
                       for review in review_items(tag, answer.tagged, event, audit=audit))
    return outputs


def review_items(tag: dict[str, Any], tagged: Tagged, event: CatalogEvent, *, audit: bool = False,
                 ) -> list[dict[str, Any]]:
    """``ReviewItem`` documents for one published tag, with the product as the event gave it: at most one.

    - In the audit sample (``audit``): an audit item with every attribute to check, whether the tag is in doubt
      or not. The sample is drawn from every published tag, so its labels (source ``audit``) measure the model's
      quality on a representative sample, not on the confident tags alone; a doubtful tag in it is reviewed
      once, its doubtful attributes among the rest.
    - Otherwise, a tag that needs review: a doubt item with the attributes that need it.
    """
    if audit:
        item = wire.review_document(tag, event, ReviewKind.AUDIT, list(tagged.attributes))
    elif tagged.needs_review:
        item = wire.review_document(tag, event, ReviewKind.DOUBT, tagged.needs_review)
    else:
        return []
    return [item] if item is not None else []


def tombstone(valid: Valid) -> Output:
    """The deleted product's key with a null value: compacted and upserting consumers drop the product."""
    return Output(Topics.TAGS.name, valid.key, None)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def dead_letter(received: Received, error: InputError, *, group: str, max_original_bytes: int,
                arm: RolloutArm | None = None) -> Output:
    """The ``DeadLetter`` of one record; ``arm``: the arm of the event's route, when it was routed."""
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
    headers = ((ARM_HEADER, arm.value.encode()),) if arm is not None else ()
    return Output(Topics.DEAD_LETTERS.name, record.key, letter.to_bytes(), headers)
