"""The reference profile of a model version: what the monitor compares live windows against.

Computed at export from the exported file's own outputs on a reference set (usually the validation
split): per head the training priors, the label and prediction distributions and the confidence
spread; the input features exactly as the tagger summarises them; the out-of-distribution scores.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from contracts import (
    PIXEL_FEATURES,
    QUANTILE_LEVELS,
    AttributeProfile,
    Histogram,
    ModelRef,
    NumericStats,
    OodProfile,
    Quantile,
    ReferenceProfile,
    TagstreamError,
)
from model.dataset import MISSING, LabelledImages
from model.trained import TrainedModel
from modelspec.features import summarise
from modelspec.taxonomy import ATTRIBUTES
from modelspec.tensors import IMAGE_SIZE, MODEL_NAME, OOD_OUTPUT, output_name

HISTOGRAM_BINS = 10
#: Images per call to ``summarise``.
CHUNK = 256


def numeric_stats(values: np.ndarray, *, bins: int = HISTOGRAM_BINS) -> NumericStats:
    """Mean, std, extremes, ``QUANTILE_LEVELS`` and an equal-frequency histogram of ``values``."""
    values = np.asarray(values, dtype=np.float64).ravel()
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)))
    if len(edges) < 2:  # every value equal: one bin just wide enough to hold it
        edges = np.array([edges[0], np.nextafter(edges[0], np.inf)])
    counts = np.bincount(np.searchsorted(edges[1:-1], values, side="right"), minlength=len(edges) - 1)
    return NumericStats(
        count=len(values), mean=float(values.mean()), std=float(values.std()), min=float(values.min()),
        max=float(values.max()),
        quantiles=[Quantile(level=q, value=float(v)) for q, v in zip(QUANTILE_LEVELS, np.quantile(
            values, QUANTILE_LEVELS), strict=True)],
        histogram=Histogram(edges=edges.tolist(), counts=counts.tolist()))


def feature_stats(images: np.ndarray) -> dict[str, NumericStats]:
    """``PIXEL_FEATURES`` of ``images`` as the tagger computes them (``summarise``), summarised."""
    columns: dict[str, list[float]] = {name: [] for name in PIXEL_FEATURES}
    for start in range(0, len(images), CHUNK):
        chunk = images[start:start + CHUNK]
        ones = [1] * len(chunk)  # width, height, bytes: not profiled (see contracts.profile)
        for summary in summarise(chunk, [IMAGE_SIZE] * len(chunk), [IMAGE_SIZE] * len(chunk), ones):
            for name in PIXEL_FEATURES:
                columns[name].append(getattr(summary, name))
    return {name: numeric_stats(np.array(values)) for name, values in columns.items()}


def _distribution(counts: np.ndarray) -> list[float]:
    return (counts / counts.sum()).tolist()


def attribute_profile(trained: TrainedModel, index: int, probs: np.ndarray, labels: np.ndarray) -> AttributeProfile:
    """Head ``ATTRIBUTES[index]`` on the reference set: ``probs`` (N, classes), ``labels`` (N,) with MISSING."""
    attribute = ATTRIBUTES[index]
    top = probs.argmax(axis=1)
    prior = trained.train_priors.get(attribute.name)
    if prior is not None and len(prior) != attribute.size:
        raise TagstreamError(f"train_priors[{attribute.name!r}] has {len(prior)} entries for {attribute.size} classes")
    labelled = labels != MISSING
    truth = labels[labelled]
    return AttributeProfile(
        classes=list(attribute.classes), temperature=float(trained.temperatures[attribute.name]),
        train_prior=_distribution(np.asarray(prior, dtype=np.float64)) if prior is not None else None,
        label_distribution=_distribution(np.bincount(truth, minlength=attribute.size)) if len(truth) else None,
        labelled=len(truth),
        predicted_distribution=_distribution(np.bincount(top, minlength=attribute.size)),
        mean_probability=probs.astype(np.float64).mean(axis=0).tolist(),
        confidence=numeric_stats(probs.max(axis=1)),
        accuracy=float((top[labelled] == truth).mean()) if len(truth) else None)


def reference_profile(trained: TrainedModel, outputs: dict[str, np.ndarray], reference: LabelledImages, *,
                      version: int, created_at: datetime, description: str = "") -> ReferenceProfile:
    """The profile of ``trained`` (version ``version``) from its ``outputs`` on ``reference``."""
    ood = None
    if trained.ood is not None:
        score = outputs[OOD_OUTPUT][:, 0]
        ood = OodProfile(distance_threshold=float(trained.ood.threshold),
                         reference_rate=float((score > 1.0).mean()), score=numeric_stats(score))
    return ReferenceProfile(
        model=ModelRef(name=MODEL_NAME, version=str(version)), created_at=created_at,
        reference_size=len(reference), reference_description=description,
        attributes={a.name: attribute_profile(trained, j, outputs[output_name(a.name)], reference.labels[:, j])
                    for j, a in enumerate(ATTRIBUTES)},
        features=feature_stats(reference.images), ood=ood)
