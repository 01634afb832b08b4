"""Synthetic tag streams: the committed model (or any predictor) run in-process on synthetic, drifted products.

For the monitor's own tests and benchmark, tags are made the way the tagger makes them, without the broker
round trip to Triton: the synthetic catalogue's product pictures (``model.synthetic``, the traffic domain,
``model.drift`` knobs), JPEG-encoded as ``tagstream produce`` sends them and decoded by the tagger's own
``decode``; the pixel summary of ``modelspec.features``; the served model's calibrated outputs (onnxruntime on
the exported file, the same file Triton serves); labels, confidences and top-3 per attribute, and review reasons
by the tagger's rule at its default thresholds (confidence under 0.5; OOD score above 1). Image-quality reasons
(blank, blurred, tiny) are left out: synthetic garments never trip them.

Rendering is the slow part (about 700 products a second per core), so a stream is rendered once
(``render``) and can be tagged by several models (``tag``): a degraded model sees the very same pictures.
"""

from __future__ import annotations

import io
import itertools
import multiprocessing
import uuid
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from contracts import (
    AttributeTag,
    FeatureSummary,
    LabelScore,
    ModelRef,
    ReviewReason,
    RolloutArm,
    RolloutRef,
    TagPrediction,
    Timings,
)
from model.drift import Drift
from model.synthetic import TRAFFIC, ProductTruth, SyntheticConfig, product
from modelspec.features import summarise
from modelspec.preprocess import decode
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES
from modelspec.tensors import MODEL_NAME, OOD_OUTPUT, output_name

#: uint8 (N, 64, 64, 3) in, ``{output name: array}`` out (``model.export.onnx_predictor`` and friends).
Predictor = Callable[[np.ndarray], dict[str, np.ndarray]]
REVIEW_THRESHOLD = 0.5
OOD_THRESHOLD = 1.0
TOP_K = 3
_BATCH = 256


@dataclass(frozen=True)
class Rendered:
    """Products as the tagger receives them: ids, pixels, the feature summary, and the truth kept beside."""

    product_ids: list[str]
    event_ids: list[str]
    pixels: np.ndarray  # (n, 64, 64, 3) uint8
    features: list[FeatureSummary]
    truths: list[ProductTruth]

    def __len__(self) -> int:
        return len(self.product_ids)

    def slice(self, start: int, stop: int) -> Rendered:
        return Rendered(product_ids=self.product_ids[start:stop], event_ids=self.event_ids[start:stop],
                        pixels=self.pixels[start:stop], features=self.features[start:stop],
                        truths=self.truths[start:stop])


def render(n: int, *, seed: int, drift: Drift | None = None, start: int = 0, workers: int = 1) -> Rendered:
    """Products ``start .. start + n`` of synthetic catalogue ``seed`` (traffic domain), through the tagger's decode.

    ``workers`` > 1 renders slices in that many forked processes (every product depends only on its index).
    """
    if workers > 1 and n >= 2 * workers:
        bounds = [start + n * i // workers for i in range(workers + 1)]
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork")) as pool:
            parts = list(pool.map(_render_slice, [(b - a, seed, drift, a) for a, b in itertools.pairwise(bounds)]))
        return Rendered(product_ids=[i for p in parts for i in p.product_ids],
                        event_ids=[e for p in parts for e in p.event_ids],
                        pixels=np.concatenate([p.pixels for p in parts]),
                        features=[f for p in parts for f in p.features], truths=[t for p in parts for t in p.truths])
    config = SyntheticConfig(drift=drift or Drift())
    pixels = np.empty((n, 64, 64, 3), dtype=np.uint8)
    widths, heights, sizes, truths, ids, events = [], [], [], [], [], []
    for k in range(n):
        index = start + k
        item = product(seed, index, config, domain=TRAFFIC)
        rng = np.random.default_rng((seed, index, 41))
        buffer = io.BytesIO()
        item.photo.save(buffer, format="JPEG", quality=int(rng.integers(80, 93)))
        decoded = decode(buffer.getvalue(), max_pixels=1 << 22)
        pixels[k] = decoded.pixels
        widths.append(decoded.width)
        heights.append(decoded.height)
        sizes.append(decoded.nbytes)
        truths.append(item.truth)
        ids.append(f"p-{seed}-{index}")
        events.append(str(uuid.UUID(bytes=rng.bytes(16), version=4)))
    features = summarise(pixels, widths, heights, sizes) if n else []
    return Rendered(product_ids=ids, event_ids=events, pixels=pixels, features=features, truths=truths)


def _render_slice(args: tuple[int, int, Drift | None, int]) -> Rendered:
    n, seed, drift, start = args
    return render(n, seed=seed, drift=drift, start=start)


def onnx_model(repository: Path, version: int = 1) -> Predictor:
    """The exported model ``version`` of ``repository`` in onnxruntime, one thread."""
    from model.export import onnx_predictor, onnx_session

    return onnx_predictor(onnx_session(repository / MODEL_NAME / str(version) / "model.onnx", threads=1))


def predict(predictor: Predictor, pixels: np.ndarray) -> dict[str, np.ndarray]:
    parts = [predictor(pixels[i:i + _BATCH]) for i in range(0, len(pixels), _BATCH)]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]} if parts else {}


def tag(rendered: Rendered, predictor: Predictor, *, version: str, start_time: datetime | None = None,
        spacing: timedelta = timedelta(milliseconds=10), arm: RolloutArm = RolloutArm.STABLE) -> list[TagPrediction]:
    """One ``TagPrediction`` per rendered product, as ``predictor`` (model ``version``) tags it."""
    if not len(rendered):
        return []
    outputs = predict(predictor, rendered.pixels)
    start = start_time or datetime.now(UTC)
    ood = np.asarray(outputs[OOD_OUTPUT], dtype=np.float64).reshape(len(rendered))
    model = ModelRef(name=MODEL_NAME, version=version)
    rollout = RolloutRef(revision=0, arm=arm)
    heads = []  # per attribute: (top class indices (n, k), their scores (n, k)), vectorised
    for attribute in ATTRIBUTES:
        probs = outputs[output_name(attribute.name)]
        top = np.argsort(-probs, axis=1, kind="stable")[:, :TOP_K]
        heads.append((top.tolist(), np.take_along_axis(probs, top, axis=1).clip(0.0, 1.0).tolist()))
    tags = []
    for row in range(len(rendered)):
        attributes, low = {}, []
        for attribute, (top, values) in zip(ATTRIBUTES, heads, strict=True):
            scores = [LabelScore(label=attribute.classes[i], score=v) for i, v in zip(top[row], values[row],
                                                                                      strict=True)]
            attributes[attribute.name] = AttributeTag(label=scores[0].label, confidence=scores[0].score, top_k=scores)
            if scores[0].score < REVIEW_THRESHOLD:
                low.append(attribute.name)
        score = float(ood[row])
        valid = np.isfinite(score) and score >= 0.0
        reasons = []
        if low:
            reasons.append(ReviewReason.LOW_CONFIDENCE)
        if not valid or score > OOD_THRESHOLD:
            reasons.append(ReviewReason.OUT_OF_DISTRIBUTION)
        whole = ReviewReason.OUT_OF_DISTRIBUTION in reasons
        at = start + spacing * row
        tags.append(TagPrediction(
            event_id=rendered.event_ids[row], product_id=rendered.product_ids[row],
            merchant_id=rendered.truths[row].merchant_id, model=model, rollout=rollout, attributes=attributes,
            needs_review=list(ATTRIBUTE_NAMES) if whole else low, review_reasons=reasons,
            ood_score=score if valid else None,
            timings=Timings(event_time=at, received_at=at, tagged_at=at, preprocess_ms=1.0, inference_ms=1.0),
            features=rendered.features[row]))
    return tags
