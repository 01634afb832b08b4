"""What passes between the tagger's stages: one frozen type per stage boundary, each complete when made.

    poll ─ Received ─► validate ─ Valid ─► load and decode ─ Loaded ─► micro-batch ─► infer ─ Inferred ─► publish
                          │                   │                                                        ▲
                          └ dead letter ──────┴─ dead letter; a deletion goes straight to publish ─────┘

A stage that fails an event hands its ``Received`` (or ``Valid``) and the error to the publish stage,
which dead-letters it; nothing downstream ever sees a half-filled item.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from contracts import CatalogEvent, FeatureSummary, ModelRef, ReviewReason, RolloutArm
from modelspec.preprocess import DecodedImage
from services.tagger.postprocess import Tagged
from services.tagger.router import ModelCall, Route


@dataclass(frozen=True)
class Received:
    """A record as polled. ``epoch`` names the assignment of its partition that read it: after a revoke the
    record belongs to the partition's next owner, and every stage drops it (see ``checkpoint.py``)."""

    tp: TopicPartition
    record: ConsumerRecord
    received_at: datetime
    epoch: int

    @property
    def offset(self) -> int:
        return int(self.record.offset)

    @property
    def position(self) -> str:
        return f"{self.tp.topic}[{self.tp.partition}]@{self.record.offset}"


@dataclass(frozen=True)
class Valid:
    """An event that keeps the contract, and the route the router gave it."""

    received: Received
    event: CatalogEvent
    route: Route

    @property
    def key(self) -> bytes:
        return self.event.key


@dataclass(frozen=True)
class Loaded:
    """A decoded image with what the tag and the drift monitor need to know about it."""

    valid: Valid
    image: DecodedImage
    features: FeatureSummary
    quality: tuple[ReviewReason, ...]  # image-quality reasons (blank, blurred, tiny); empty when fine
    preprocess_ms: float


@dataclass(frozen=True)
class Answer:
    """One model's answer for one event."""

    call: ModelCall
    model: ModelRef
    tagged: Tagged
    inference_ms: float

    @property
    def arm(self) -> RolloutArm:
        return self.call.arm


@dataclass(frozen=True)
class Inferred:
    """Every answer a route asked for: the published one first, then the shadows."""

    loaded: Loaded
    answers: tuple[Answer, ...]
