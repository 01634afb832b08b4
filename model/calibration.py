"""Temperature scaling per head, expected calibration error, and reliability-diagram data.

A head's temperature ``T`` divides its logits before the softmax; it is fitted on validation logits by
minimising the negative log-likelihood. The NLL is convex in ``1 / T``, so a golden-section search over
``1 / T`` in ``[1 / MAX_TEMPERATURE, 1 / MIN_TEMPERATURE]`` finds the optimum without a step size to
tune. ECE is the top-label one: predictions binned by their top probability into 15 equal-width bins,
and the support-weighted mean of ``|accuracy - confidence|`` per bin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from model.dataset import MISSING
from modelspec.taxonomy import ATTRIBUTES, Attribute

BINS = 15
MIN_TEMPERATURE = 0.05
MAX_TEMPERATURE = 20.0
_GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    e = np.exp(scaled)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``labels`` under ``softmax(logits / temperature)``."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    top = scaled.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(scaled - top).sum(axis=1)) + top[:, 0]
    return float(np.mean(log_z - scaled[np.arange(len(labels)), labels]))


def fit_temperature(logits: np.ndarray, labels: np.ndarray, *, iterations: int = 60) -> float:
    """The temperature minimising the NLL of ``labels`` (class indices, no ``MISSING``); 1.0 if none."""
    if len(labels) == 0:
        return 1.0
    lo, hi = 1.0 / MAX_TEMPERATURE, 1.0 / MIN_TEMPERATURE  # search the inverse temperature

    def cost(beta: float) -> float:
        return nll(logits, labels, 1.0 / beta)

    a, b = lo + (1 - _GOLDEN) * (hi - lo), lo + _GOLDEN * (hi - lo)
    fa, fb = cost(a), cost(b)
    for _ in range(iterations):
        if fa <= fb:
            hi, b, fb = b, a, fa
            a = lo + (1 - _GOLDEN) * (hi - lo)
            fa = cost(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + _GOLDEN * (hi - lo)
            fb = cost(b)
    return float(1.0 / ((lo + hi) / 2.0))


def fit_temperatures(logits: Mapping[str, np.ndarray], labels: np.ndarray,
                     attributes: tuple[Attribute, ...] = ATTRIBUTES) -> dict[str, float]:
    """One temperature per head from validation logits; missing labels are left out."""
    temperatures = {}
    for j, attribute in enumerate(attributes):
        labelled = labels[:, j] != MISSING
        temperatures[attribute.name] = fit_temperature(logits[attribute.name][labelled], labels[labelled, j])
    return temperatures


@dataclass(frozen=True)
class Reliability:
    """Reliability-diagram data: per confidence bin, the mean confidence, the accuracy and the count."""

    edges: np.ndarray  # (BINS + 1,)
    confidence: np.ndarray  # (BINS,), NaN for an empty bin
    accuracy: np.ndarray  # (BINS,), NaN for an empty bin
    count: np.ndarray  # (BINS,)

    @property
    def ece(self) -> float:
        total = self.count.sum()
        if total == 0:
            return float("nan")
        filled = self.count > 0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float(np.sum(gaps * self.count[filled]) / total)


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> Reliability:
    """Top-label reliability of ``probs`` (N, K) against ``labels`` (N,); ``MISSING`` rows are left out."""
    labelled = labels != MISSING
    probs, labels = probs[labelled], labels[labelled]
    confidence = probs.max(axis=1) if len(probs) else np.zeros(0)
    correct = (probs.argmax(axis=1) == labels) if len(probs) else np.zeros(0, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(index, weights=correct.astype(np.float64), minlength=bins) / count
    return Reliability(edges, mean_confidence, accuracy, count)


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = BINS) -> float:
    """Top-label ECE with ``bins`` equal-width bins; ``MISSING`` labels are left out (NaN when none is left)."""
    return reliability(probs, labels, bins).ece
