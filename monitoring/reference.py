"""A model version's ``ReferenceProfile`` as the arrays the monitor compares windows against.

Class indices are the taxonomy's (``modelspec.taxonomy``), the order tags and labels are counted in; a class
the profile names in another order is mapped by name, and one outside the taxonomy counts as unknown. Every
count vector has one extra last bin, ``UNKNOWN``, for labels the taxonomy does not know (a new pattern
that a reviewer names), whose reference count is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from contracts import PIXEL_FEATURES, ModelRef, ReferenceProfile
from modelspec.taxonomy import ATTRIBUTES

#: Name of the extra bin every class count vector ends with.
UNKNOWN = "(unknown)"


def class_index(attribute: int) -> dict[str, int]:
    """Label -> index for ``ATTRIBUTES[attribute]``; an unknown label maps to the last bin (see ``bins``)."""
    return {label: i for i, label in enumerate(ATTRIBUTES[attribute].classes)}


#: Per attribute, label -> index, in ``ATTRIBUTES`` order.
CLASS_INDEX: tuple[dict[str, int], ...] = tuple(class_index(j) for j in range(len(ATTRIBUTES)))


def bins(attribute: int) -> int:
    """Bins of a class count vector of ``ATTRIBUTES[attribute]``: its classes and ``UNKNOWN``."""
    return ATTRIBUTES[attribute].size + 1


def bin_names(attribute: int) -> list[str]:
    return [*ATTRIBUTES[attribute].classes, UNKNOWN]


@dataclass(frozen=True)
class FeatureReference:
    name: str
    inner_edges: np.ndarray  # the histogram's edges without the first and last: bins are open-ended
    counts: np.ndarray

    def bin(self, values: np.ndarray) -> np.ndarray:
        """Counts of ``values`` (NaN skipped) in the reference bins."""
        values = values[np.isfinite(values)]
        return np.bincount(np.searchsorted(self.inner_edges, values, side="right"), minlength=len(self.counts))


@dataclass(frozen=True)
class AttributeReference:
    name: str
    predicted: np.ndarray  # reference counts of the top class, taxonomy order + UNKNOWN
    labels: np.ndarray | None  # reference counts of the true class; None when the reference was unlabelled
    accuracy: float | None
    mean_confidence: float

    @property
    def calibration_gap(self) -> float:
        """|accuracy - mean confidence| on the reference: how far the calibrated confidence was off there."""
        return abs(self.accuracy - self.mean_confidence) if self.accuracy is not None else 0.0


@dataclass(frozen=True)
class Reference:
    model: ModelRef
    size: int
    features: dict[str, FeatureReference]
    attributes: dict[str, AttributeReference]
    ood_rate: float | None


def _counts(profile_classes: list[str], fractions: list[float], total: int, attribute: int) -> np.ndarray:
    counts = np.zeros(bins(attribute), dtype=np.float64)
    index = CLASS_INDEX[attribute]
    for label, share in zip(profile_classes, fractions, strict=True):
        counts[index.get(label, bins(attribute) - 1)] += share * total
    return np.round(counts)


def reference_of(profile: ReferenceProfile) -> Reference:
    """The arrays of ``profile``: feature histograms, class counts per attribute, accuracy, OOD rate."""
    features = {}
    for name in PIXEL_FEATURES:
        histogram = profile.features[name].histogram
        features[name] = FeatureReference(name, np.asarray(histogram.edges[1:-1], dtype=np.float64),
                                          np.asarray(histogram.counts, dtype=np.float64))
    attributes = {}
    for j, attribute in enumerate(ATTRIBUTES):
        ap = profile.attributes.get(attribute.name)
        if ap is None:
            continue
        labels = None
        if ap.label_distribution is not None:
            labels = _counts(ap.classes, ap.label_distribution, ap.labelled, j)
        attributes[attribute.name] = AttributeReference(
            name=attribute.name, predicted=_counts(ap.classes, ap.predicted_distribution, profile.reference_size, j),
            labels=labels, accuracy=ap.accuracy, mean_confidence=ap.confidence.mean)
    return Reference(model=profile.model, size=profile.reference_size, features=features, attributes=attributes,
                     ood_rate=profile.ood.reference_rate if profile.ood else None)
