"""Tags, labels and cards for the monitoring tests, drawn from the committed model's reference profile.

``draw_tags`` samples rows the way the reference describes them (each feature from its histogram, each
attribute's label from its predicted distribution, each confidence near the reference's mean confidence), so
a stream of them is stationary by construction; arguments shift it on purpose.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from contracts import (
    PIXEL_FEATURES,
    AttributeTag,
    FeatureSummary,
    LabelFeedback,
    LabelScore,
    LabelSource,
    ModelCard,
    ModelRef,
    ReferenceProfile,
    ReviewReason,
    RolloutArm,
    RolloutRef,
    TagPrediction,
    Timings,
)
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES

PROFILE_PATH = Path(__file__).resolve().parents[2] / "model/repository/catalog_tagger/1/reference_profile.json"
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def profile() -> ReferenceProfile:
    return ReferenceProfile.model_validate_json(PROFILE_PATH.read_bytes())


def card(version: str = "1", source: ReferenceProfile | None = None) -> ModelCard:
    base = source or profile()
    model = ModelRef(name=base.model.name, version=version)
    return ModelCard(model=model, profile=base.model_copy(update={"model": model}), registered_at=T0)


def make_tag(product_id: str, *, version: str = "1", labels: dict[str, str] | None = None,
             confidence: float | dict[str, float] = 0.9, features: dict[str, float] | None = None,
             merchant: str = "m-001", event_id: str | None = None, reasons: tuple[ReviewReason, ...] = (),
             tagged_at: datetime = T0, ood_score: float | None = 0.5) -> TagPrediction:
    labels = labels or {a.name: a.classes[0] for a in ATTRIBUTES}
    scores = confidence if isinstance(confidence, dict) else dict.fromkeys(ATTRIBUTE_NAMES, confidence)
    attrs = {name: AttributeTag(label=labels[name], confidence=scores[name],
                                top_k=[LabelScore(label=labels[name], score=scores[name])]) for name in ATTRIBUTE_NAMES}
    values = {"brightness": 0.5, "contrast": 0.2, "saturation": 0.3, "sharpness": 0.05, "mean_r": 0.5,
              "mean_g": 0.5, "mean_b": 0.5, **(features or {})}
    whole = any(r.whole_image for r in reasons)
    needs = list(ATTRIBUTE_NAMES) if whole else (["fabric"] if reasons else [])
    return TagPrediction(
        event_id=event_id or f"e-{product_id}", product_id=product_id, merchant_id=merchant,
        model=ModelRef(name="catalog_tagger", version=version), rollout=RolloutRef(revision=0, arm=RolloutArm.STABLE),
        attributes=attrs, needs_review=needs, review_reasons=list(reasons), ood_score=ood_score,
        timings=Timings(event_time=tagged_at, received_at=tagged_at, tagged_at=tagged_at, preprocess_ms=1.0,
                        inference_ms=1.0),
        features=FeatureSummary(width=128, height=128, bytes=4000, **values))


def _sample_histogram(rng: np.random.Generator, edges: list[float], counts: list[int], n: int) -> np.ndarray:
    chosen = rng.choice(len(counts), size=n, p=np.asarray(counts) / sum(counts))
    low, high = np.asarray(edges[:-1])[chosen], np.asarray(edges[1:])[chosen]
    return rng.uniform(low, high)


def draw_tags(n: int, *, seed: int, version: str = "1", start: int = 0, brightness_factor: float = 1.0,
              class_shift: dict[str, str] | None = None, confidence_shift: float = 0.0,
              ood_share: float = 0.0, merchants: int = 8) -> Iterator[TagPrediction]:
    """``n`` tags distributed as the reference says; ``class_shift`` {attribute: class} forces a third of that
    attribute's labels to one class; ``brightness_factor`` scales brightness and mean r, g, b; confidences are
    near each head's reference mean confidence, plus ``confidence_shift``."""
    ref = profile()
    rng = np.random.default_rng((seed, start))
    features = {name: _sample_histogram(rng, ref.features[name].histogram.edges, ref.features[name].histogram.counts,
                                        n) for name in PIXEL_FEATURES}
    for name in ("brightness", "mean_r", "mean_g", "mean_b"):
        features[name] = np.minimum(1.0, features[name] * brightness_factor)
    labels, confidences = {}, {}
    for name, ap in ref.attributes.items():
        p = np.asarray(ap.predicted_distribution) / sum(ap.predicted_distribution)
        chosen = np.asarray(ap.classes, dtype=object)[rng.choice(len(ap.classes), size=n, p=p)]
        if class_shift and name in class_shift:
            chosen[rng.random(n) < 1 / 3] = class_shift[name]
        labels[name] = chosen
        confidences[name] = np.clip(rng.normal(ap.confidence.mean + confidence_shift, 0.05, size=n), 0.01, 1.0)
    ood = rng.random(n) < ood_share
    for k in range(n):
        i = start + k
        yield make_tag(f"p-{seed}-{i}", version=version, labels={a: str(v[k]) for a, v in labels.items()},
                       confidence={a: float(v[k]) for a, v in confidences.items()},
                       features={f: float(v[k]) for f, v in features.items()},
                       merchant=f"m-{i % merchants:03d}", event_id=f"e-{seed}-{i}",
                       reasons=(ReviewReason.OUT_OF_DISTRIBUTION,) if ood[k] else (),
                       tagged_at=T0 + timedelta(seconds=i), ood_score=2.0 if ood[k] else 0.4)


def label_for(tag: TagPrediction, *, correct: bool = True, source: LabelSource = LabelSource.AUDIT,
              delay: timedelta = timedelta(hours=3), with_event: bool = True) -> LabelFeedback:
    """A label of every attribute of ``tag``: its own labels when ``correct``, another class otherwise."""
    labels = {}
    for attribute in ATTRIBUTES:
        mine = tag.attributes[attribute.name].label
        labels[attribute.name] = mine if correct else next(c for c in attribute.classes if c != mine)
    return LabelFeedback(product_id=tag.product_id, event_id=tag.event_id if with_event else None, labels=labels,
                         source=source, time=tag.timings.tagged_at + delay)


def draw_truth(n: int, *, seed: int) -> list[dict[str, str]]:
    """``n`` true label sets distributed as the reference's labelled images."""
    ref = profile()
    rng = np.random.default_rng((seed, 7))
    columns = {}
    for name, ap in ref.attributes.items():
        if ap.label_distribution is None:
            continue
        p = np.asarray(ap.label_distribution) / sum(ap.label_distribution)
        columns[name] = np.asarray(ap.classes, dtype=object)[rng.choice(len(ap.classes), size=n, p=p)]
    return [{name: str(values[k]) for name, values in columns.items()} for k in range(n)]
