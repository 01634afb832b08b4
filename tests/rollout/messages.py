"""Messages of the tag, shadow, dead-letter and label topics, as a tagger and a labeller would write them."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from contracts import (
    AttributeTag,
    DeadLetter,
    ErrorCode,
    ErrorInfo,
    FeatureSummary,
    LabelFeedback,
    LabelScore,
    LabelSource,
    ModelRef,
    RolloutArm,
    RolloutRef,
    SourcePosition,
    TagPrediction,
    Timings,
)

FEATURES = FeatureSummary(width=64, height=64, bytes=3000, brightness=0.5, contrast=0.2, saturation=0.3,
                          sharpness=10.0, mean_r=0.5, mean_g=0.4, mean_b=0.3)


def tag(event: str, version: str, arm: RolloutArm, at: datetime, *, labels: dict[str, str] | None = None,
        review: bool = False, inference_ms: float = 8.0, product: str | None = None,
        merchant: str = "m-001", revision: int = 1, features: FeatureSummary = FEATURES) -> TagPrediction:
    labels = labels or {"fabric": "cotton", "collar": "round"}
    attributes = {name: AttributeTag(label=label, confidence=0.9, top_k=[LabelScore(label=label, score=0.9)])
                  for name, label in labels.items()}
    return TagPrediction(event_id=event, product_id=product or f"p-{event}", merchant_id=merchant,
                         model=ModelRef(name="catalog_tagger", version=version),
                         rollout=RolloutRef(revision=revision, arm=arm), attributes=attributes,
                         needs_review=["fabric"] if review else [],
                         timings=Timings(event_time=at, received_at=at, tagged_at=at, preprocess_ms=1.0,
                                         inference_ms=inference_ms),
                         features=features)


def dead_letter(at: datetime, **overrides: Any) -> DeadLetter:
    fields: dict[str, Any] = {
        "original_value_b64": base64.b64encode(b"{}").decode(), "consumer_group": "tagstream-tagger", "time": at,
        "source": SourcePosition(topic="catalog.events", partition=0, offset=1),
        "error": ErrorInfo(code=ErrorCode.IMAGE_UNDECODABLE, message="not an image", field="data.image")}
    return DeadLetter(**{**fields, **overrides})


def label(product: str, at: datetime, labels: dict[str, str]) -> LabelFeedback:
    return LabelFeedback(product_id=product, labels=labels, source=LabelSource.AUDIT, time=at)
