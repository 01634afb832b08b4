"""Realised quality and label drift from joined labels, per model version and label source.

Audit labels come from a random sample of tags, so they measure quality without bias; reviewer labels come
from doubtful tags only (and merchant labels from whatever merchants bother to correct), so their accuracy is
reported apart, with its count, and never decides anything. Figures are over the last ``label_window`` joined
labels of each (version, source): a ring of fixed size, so memory does not grow with the stream.

Each joined label is also credited to the window its tag was in, so the estimated quality of a window can be
set beside the realised quality of the same tags once their labels arrive (``WindowOutcome``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from contracts import LabelSource, ModelRef
from modelspec.taxonomy import ATTRIBUTES
from monitoring.evaluate import ColumnDrift
from monitoring.policy import DriftPolicy, QualityTargets
from monitoring.reference import Reference, bins
from monitoring.stats import compare, wilson

#: Windows whose outcome (estimated against realised) is kept per process.
OUTCOME_WINDOWS = 512


@dataclass(frozen=True)
class RealisedQuality:
    attribute: str
    n: int
    correct: int
    lower: float
    upper: float
    target: float | None
    dropped: bool  # decisive source, enough labels, and the whole interval under the target

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else math.nan


@dataclass(frozen=True)
class LabelReport:
    model: ModelRef
    source: LabelSource
    labels: int  # labels in the ring
    new_labels: int  # since the last report
    quality: dict[str, RealisedQuality]
    label_drift: list[ColumnDrift]
    evaluated_at: float
    truth: np.ndarray = field(repr=False, compare=False)  # (labels, 13) int8 class index, -1 not labelled
    predicted: np.ndarray = field(repr=False, compare=False)  # (labels, 13) int8: the tags' classes

    @property
    def label_drift_detected(self) -> bool:
        return any(c.drifted for c in self.label_drift)

    @property
    def quality_drop(self) -> bool:
        return any(q.dropped for q in self.quality.values())


class LabelRing:
    """The last ``size`` joined labels of one (version, source): truth and whether the tag matched it."""

    def __init__(self, size: int) -> None:
        self.truth = np.full((size, len(ATTRIBUTES)), -1, dtype=np.int8)
        self.predicted = np.full((size, len(ATTRIBUTES)), -1, dtype=np.int8)
        self.correct = np.full((size, len(ATTRIBUTES)), -1, dtype=np.int8)
        self.filled = 0
        self.position = 0
        self.new = 0

    def add(self, truth: np.ndarray, predicted: np.ndarray) -> None:
        i = self.position
        self.truth[i] = truth
        self.predicted[i] = predicted
        self.correct[i] = np.where(truth >= 0, (truth == predicted).astype(np.int8), -1)
        self.position = (i + 1) % len(self.truth)
        self.filled = min(self.filled + 1, len(self.truth))
        self.new += 1


@dataclass
class WindowOutcome:
    """Realised quality of one tag window's tags, as their labels arrive, beside what was estimated."""

    model: ModelRef
    window_index: int
    estimated: dict[str, float]
    correct: dict[LabelSource, np.ndarray] = field(default_factory=dict)  # per source, (13,) int
    labelled: dict[LabelSource, np.ndarray] = field(default_factory=dict)

    def add(self, source: LabelSource, truth: np.ndarray, predicted: np.ndarray) -> None:
        correct = self.correct.setdefault(source, np.zeros(len(ATTRIBUTES), dtype=np.int64))
        labelled = self.labelled.setdefault(source, np.zeros(len(ATTRIBUTES), dtype=np.int64))
        known = truth >= 0
        labelled += known
        correct += known & (truth == predicted)

    def realised(self, source: LabelSource = LabelSource.AUDIT) -> dict[str, tuple[int, float]]:
        """attribute -> (labels, accuracy) of this window's tags, from ``source``."""
        if source not in self.labelled:
            return {}
        n, c = self.labelled[source], self.correct[source]
        return {a.name: (int(n[j]), float(c[j] / n[j]) if n[j] else math.nan) for j, a in enumerate(ATTRIBUTES)}


class RealisedBook:
    """Rings per (version, source) and outcomes per tag window; bounded by construction."""

    def __init__(self, policy: DriftPolicy, targets: QualityTargets) -> None:
        self.policy, self.targets = policy, targets
        self._rings: dict[tuple[ModelRef, LabelSource], LabelRing] = {}
        self.outcomes: OrderedDict[tuple[ModelRef, int], WindowOutcome] = OrderedDict()

    def open_window(self, model: ModelRef, index: int, estimated: dict[str, float]) -> None:
        self.outcomes[(model, index)] = WindowOutcome(model, index, estimated)
        while len(self.outcomes) > OUTCOME_WINDOWS:
            self.outcomes.popitem(last=False)

    def add(self, model: ModelRef, window_index: int, source: LabelSource, truth: np.ndarray,
            predicted: np.ndarray) -> None:
        ring = self._rings.get((model, source))
        if ring is None:
            ring = self._rings[(model, source)] = LabelRing(self.policy.label_window)
        ring.add(truth, predicted)
        outcome = self.outcomes.get((model, window_index))
        if outcome is not None:
            outcome.add(source, truth, predicted)

    def with_new_labels(self) -> list[tuple[ModelRef, LabelSource]]:
        return [key for key, ring in self._rings.items() if ring.new]

    def new_labels(self, model: ModelRef, source: LabelSource) -> int:
        ring = self._rings.get((model, source))
        return ring.new if ring else 0

    def report(self, model: ModelRef, source: LabelSource, reference: Reference | None, now: float) -> LabelReport:
        """Realised quality of the ring and, for audit labels, label drift against the reference."""
        ring = self._rings[(model, source)]
        new, ring.new = ring.new, 0
        rows = slice(0, ring.filled)
        correct, truth = ring.correct[rows], ring.truth[rows]
        decisive = source is LabelSource.AUDIT
        alpha = self.policy.quality_alpha / len(ATTRIBUTES)
        quality = {}
        for j, attribute in enumerate(ATTRIBUTES):
            known = correct[:, j] >= 0
            n, right = int(known.sum()), int(correct[known, j].sum())
            lower, upper = wilson(right, n, alpha=alpha)
            target = self.targets.target(attribute.name)
            dropped = (decisive and target is not None and n >= self.policy.min_labels and upper < target)
            quality[attribute.name] = RealisedQuality(attribute.name, n, right, lower, upper, target, dropped)
        drift: list[ColumnDrift] = []
        if decisive and reference is not None:
            drift_alpha = self.policy.alpha / len(ATTRIBUTES)
            for j, attribute in enumerate(ATTRIBUTES):
                ref = reference.attributes.get(attribute.name)
                values = truth[:, j][truth[:, j] >= 0]
                if ref is None or ref.labels is None or len(values) < self.policy.min_labels:
                    continue
                comparison = compare(ref.labels, np.bincount(values, minlength=bins(j)))
                drift.append(ColumnDrift(attribute.name, comparison,
                                         comparison.drifted(drift_alpha, self.policy.psi_floor)))
        return LabelReport(model=model, source=source, labels=ring.filled, new_labels=new, quality=quality,
                           label_drift=drift, evaluated_at=now, truth=truth.copy(),
                           predicted=ring.predicted[rows].copy())
