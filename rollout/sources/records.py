"""Kafka records of the tags, shadow, dead-letter and label topics, as the window's records.

A record that does not validate against its contract, or concerns another model, gives None: the window
skips it (the tagger dead-letters bad input; a bad tag is not the rollout's to judge).
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import ValidationError

from contracts import ARM_HEADER, FAILED_VERSION_HEADER, DeadLetter, LabelFeedback, RolloutArm, TagPrediction, Topics
from contracts.profile import PIXEL_FEATURES
from rollout.window import DeadLetterRecord, LabelRecord, Record, TagRecord

log = logging.getLogger(__name__)

TOPICS = (Topics.TAGS.name, Topics.TAGS_SHADOW.name, Topics.DEAD_LETTERS.name, Topics.LABELS.name)


def tag_record(tag: TagPrediction, *, shadow_topic: bool, failed_version: str = "") -> TagRecord:
    features = tag.features.model_dump()
    return TagRecord(time=tag.timings.tagged_at.timestamp(), event_id=tag.event_id, product_id=tag.product_id,
                     version=tag.model.version, arm=tag.rollout.arm, shadow_topic=shadow_topic,
                     needs_review=bool(tag.needs_review), inference_ms=tag.timings.inference_ms,
                     labels={name: attribute.label for name, attribute in tag.attributes.items()},
                     features={name: float(features[name]) for name in PIXEL_FEATURES}, failed_version=failed_version)


def _header(headers: list[tuple[str, bytes]] | None, name: str) -> str | None:
    for key, value in headers or []:
        if key == name:
            try:
                return value.decode()
            except UnicodeDecodeError:
                return None
    return None


def _arm(headers: list[tuple[str, bytes]] | None) -> RolloutArm | None:
    value = _header(headers, ARM_HEADER)
    try:
        return RolloutArm(value) if value is not None else None
    except ValueError:
        return None


def parse(topic: str, value: bytes | None, headers: list[tuple[str, bytes]] | None, *, model: str) -> Record | None:
    """The window's record of one Kafka record, or None when it is a tombstone, foreign or broken."""
    if value is None:
        return None
    try:
        if topic in (Topics.TAGS.name, Topics.TAGS_SHADOW.name):
            tag = TagPrediction.model_validate_json(value)
            if tag.model.name != model:
                return None
            return tag_record(tag, shadow_topic=topic == Topics.TAGS_SHADOW.name,
                              failed_version=_header(headers, FAILED_VERSION_HEADER) or "")
        if topic == Topics.DEAD_LETTERS.name:
            letter = DeadLetter.model_validate_json(value)
            return DeadLetterRecord(time=letter.time.timestamp(), arm=_arm(headers))
        if topic == Topics.LABELS.name:
            label = LabelFeedback.model_validate_json(value)
            return LabelRecord(time=label.time.timestamp(), product_id=label.product_id, labels=dict(label.labels))
    except ValidationError as e:
        log.debug("skipping a %s record that does not validate: %s", topic, e.errors()[:1])
        return None
    return None


def headers_of(record: Any) -> list[tuple[str, bytes]]:
    return list(getattr(record, "headers", None) or [])
