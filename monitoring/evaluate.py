"""Judge one closed window against its version's reference: input drift, prediction drift, estimated quality,
review shares, per segment.

A column drifts when its chi-square test rejects at ``alpha / columns`` of its kind and its PSI reaches the
floor (``monitoring.stats``, ``monitoring.policy``). Segments are the predicted category and the window's
``top_merchants`` busiest merchants; they get estimated quality and review share, not drift (the reference
has no per-segment distributions: every merchant's house style would "drift" from the catalogue as a whole).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from contracts import PIXEL_FEATURES, ModelRef, ReviewReason
from modelspec.taxonomy import ATTRIBUTES
from monitoring.estimate import Estimate, estimate_accuracy, untrusted_reasons
from monitoring.policy import DriftPolicy, QualityTargets
from monitoring.reference import Reference, bins
from monitoring.stats import Comparison, compare
from monitoring.window import REASONS, ClosedWindow

#: The ``reason`` label of the share of tags that need review for any reason.
ANY_REASON = "any"


@dataclass(frozen=True)
class ColumnDrift:
    column: str  # a pixel feature or an attribute
    comparison: Comparison
    drifted: bool


@dataclass(frozen=True)
class QualityEstimate:
    attribute: str
    estimate: Estimate
    reference_accuracy: float | None
    target: float | None
    dropped: bool  # trusted, and the whole interval is under the target


@dataclass(frozen=True)
class Segment:
    kind: str  # "category" or "merchant"
    name: str
    size: int
    review_share: float
    ood_share: float
    estimated: dict[str, float]  # attribute -> mean confidence


@dataclass(frozen=True)
class WindowReport:
    model: ModelRef
    index: int
    size: int
    reason: str
    opened_at: float
    closed_at: float
    newest_tag_at: float
    has_reference: bool
    input: list[ColumnDrift]
    prediction: list[ColumnDrift]
    ood_share: float
    untrusted: list[str]
    quality: dict[str, QualityEstimate]
    review_share: dict[str, float]  # ANY_REASON and every ReviewReason value
    segments: list[Segment] = field(default_factory=list)
    window: ClosedWindow | None = field(default=None, repr=False, compare=False)  # the rows, for snapshots

    @property
    def input_drift(self) -> bool:
        return any(c.drifted for c in self.input)

    @property
    def prediction_drift(self) -> bool:
        return any(c.drifted for c in self.prediction)

    @property
    def drift_share(self) -> float:
        columns = [*self.input, *self.prediction]
        return sum(c.drifted for c in columns) / len(columns) if columns else 0.0

    @property
    def trusted(self) -> bool:
        return not self.untrusted

    @property
    def estimated_drop(self) -> bool:
        return any(q.dropped for q in self.quality.values())

    def drifted_columns(self) -> list[str]:
        return [c.column for c in (*self.input, *self.prediction) if c.drifted]


def _shares(window: ClosedWindow) -> dict[str, float]:
    n = max(window.size, 1)
    shares = {ANY_REASON: float(window.needs_review.sum()) / n}
    for bit, reason in enumerate(REASONS):
        shares[reason.value] = float(((window.reasons >> bit) & 1).sum()) / n
    return shares


_OOD_BIT = REASONS.index(ReviewReason.OUT_OF_DISTRIBUTION)


def _ood_share(reasons: np.ndarray) -> float:
    return float(((reasons >> _OOD_BIT) & 1).mean()) if len(reasons) else 0.0


def _drift(reference: Reference, window: ClosedWindow, policy: DriftPolicy) -> tuple[list[ColumnDrift],
                                                                                      list[ColumnDrift]]:
    inputs = []
    alpha = policy.alpha / len(PIXEL_FEATURES)
    for i, name in enumerate(PIXEL_FEATURES):
        feature = reference.features[name]
        comparison = compare(feature.counts, feature.bin(window.features[:, i]))
        inputs.append(ColumnDrift(name, comparison, comparison.drifted(alpha, policy.psi_floor)))
    predictions = []
    alpha = policy.alpha / len(reference.attributes)
    for j, attribute in enumerate(ATTRIBUTES):
        ref = reference.attributes.get(attribute.name)
        if ref is None:
            continue
        counts = np.bincount(window.predicted[:, j], minlength=bins(j))
        comparison = compare(ref.predicted, counts)
        predictions.append(ColumnDrift(attribute.name, comparison, comparison.drifted(alpha, policy.psi_floor)))
    return inputs, predictions


def _segments(window: ClosedWindow, policy: DriftPolicy) -> list[Segment]:
    groups: list[tuple[str, str, np.ndarray]] = []
    categories = window.category()
    for name in sorted(set(categories.tolist())):
        groups.append(("category", name, categories == name))
    merchants = np.asarray(window.merchants, dtype=object)
    for name, _ in Counter(window.merchants).most_common(policy.top_merchants):
        groups.append(("merchant", name, merchants == name))
    segments = []
    for kind, name, rows in groups:
        confidence = window.confidence[rows]
        estimated = {a.name: float(np.nanmean(confidence[:, j])) if len(confidence) else math.nan
                     for j, a in enumerate(ATTRIBUTES)}
        segments.append(Segment(kind=kind, name=name, size=int(rows.sum()),
                                review_share=float(window.needs_review[rows].mean()),
                                ood_share=_ood_share(window.reasons[rows]), estimated=estimated))
    return segments


def evaluate_window(window: ClosedWindow, reference: Reference | None, policy: DriftPolicy,
                    targets: QualityTargets) -> WindowReport:
    """The report of ``window``; without a reference it has no drift columns and an untrusted estimate."""
    inputs: list[ColumnDrift] = []
    predictions: list[ColumnDrift] = []
    if reference is not None:
        inputs, predictions = _drift(reference, window, policy)
    ood_share = _ood_share(window.reasons)
    untrusted = untrusted_reasons(has_reference=reference is not None, ood_share=ood_share,
                                  max_ood_share=policy.max_ood_share, input_drift=any(c.drifted for c in inputs))
    alpha = policy.quality_alpha / len(ATTRIBUTES)
    quality = {}
    for j, attribute in enumerate(ATTRIBUTES):
        ref = reference.attributes.get(attribute.name) if reference is not None else None
        estimate = estimate_accuracy(window.confidence[:, j], calibration_gap=ref.calibration_gap if ref else 0.0,
                                     alpha=alpha)
        target = targets.target(attribute.name)
        dropped = not untrusted and target is not None and estimate.n > 0 and estimate.upper < target
        quality[attribute.name] = QualityEstimate(attribute.name, estimate, ref.accuracy if ref else None, target,
                                                  dropped)
    return WindowReport(
        model=window.model, index=window.index, size=window.size, reason=window.reason, opened_at=window.opened_at,
        closed_at=window.closed_at, newest_tag_at=float(window.tagged_at.max()) if window.size else window.closed_at,
        has_reference=reference is not None, input=inputs, prediction=predictions, ood_share=ood_share,
        untrusted=untrusted, quality=quality, review_share=_shares(window), segments=_segments(window, policy),
        window=window)
