"""Synthetic review items, as the tagger publishes them on ``catalog.review``, for the console's tests and benchmark.

Each is a synthetic catalogue event's product and picture with a tag whose per-attribute probabilities are
drawn at random: flat for the doubtful attributes, peaked for the others. No model is needed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from contracts import (
    AttributeTag,
    CatalogEvent,
    FeatureSummary,
    LabelScore,
    ModelRef,
    ReviewItem,
    ReviewKind,
    ReviewReason,
    RolloutArm,
    RolloutRef,
    TagPrediction,
    Timings,
)
from modelspec.taxonomy import ATTRIBUTES
from tools.traffic.synthetic import generate

MODEL = ModelRef(name="catalog_tagger", version="1")
DOUBTFUL = ("fabric", "texture")


def _attribute_tag(rng: np.random.Generator, classes: tuple[str, ...], *, doubtful: bool) -> AttributeTag:
    probs = rng.dirichlet(np.full(len(classes), 3.0 if doubtful else 0.15))
    order = np.argsort(probs)[::-1]
    top = [LabelScore(label=classes[i], score=round(float(probs[i]), 4)) for i in order[:3]]
    return AttributeTag(label=top[0].label, confidence=top[0].score, top_k=top)


def review_items(n: int, *, seed: int = 0, kind: ReviewKind = ReviewKind.DOUBT,
                 doubtful: tuple[str, ...] = DOUBTFUL, reasons: tuple[ReviewReason, ...] = (
                     ReviewReason.LOW_CONFIDENCE,)) -> list[ReviewItem]:
    rng = np.random.default_rng(seed)
    items = []
    for record in generate(n, seed=seed):
        event = CatalogEvent.model_validate_json(record.value)
        if event.data.image is None:  # synthetic events always carry one
            continue
        now = datetime.now(UTC)
        audit = kind is ReviewKind.AUDIT
        attributes = {a.name: _attribute_tag(rng, a.classes, doubtful=not audit and a.name in doubtful)
                      for a in ATTRIBUTES}
        tag = TagPrediction(
            event_id=event.id, product_id=event.data.product_id, merchant_id=event.data.merchant_id, model=MODEL,
            rollout=RolloutRef(revision=0, arm=RolloutArm.STABLE), attributes=attributes,
            needs_review=[] if audit else list(doubtful), review_reasons=[] if audit else list(reasons),
            ood_score=0.4,
            timings=Timings(event_time=event.time, received_at=now, tagged_at=now + timedelta(milliseconds=40),
                            preprocess_ms=3.0, inference_ms=9.0),
            features=FeatureSummary(width=128, height=128, bytes=4000, brightness=0.5, contrast=0.2, saturation=0.3,
                                    sharpness=0.8, mean_r=0.5, mean_g=0.4, mean_b=0.4))
        items.append(ReviewItem(kind=kind, tag=tag, attributes=list(doubtful) if not audit else ["category", "fit"],
                                title=event.data.title, category_hint=event.data.category_hint,
                                image=event.data.image))
    return items
