"""ReferenceProfile: what one exported model version looked like on its reference set.

``tagstream model export`` writes it beside the model (``catalog_tagger/<version>/reference_profile.json``);
the monitor compares live windows against it, and may import only ``contracts``, hence a contract:

- **inputs**: the pixel features of ``FeatureSummary`` (every ``TagPrediction`` carries them), each as
  mean, std, quantiles and an equal-frequency histogram whose edges a live window is binned with
  (``Histogram.counts_of``), e.g. for a population stability index;
- **predictions**: per attribute, how often each class was the top one, the mean calibrated
  probabilities and the distribution of the top probability (the tag's ``confidence``);
- **labels**: the class priors the model was trained with and the true-label distribution and
  accuracy on the reference set, for prior shift and quality checks against ``LabelFeedback``;
- **out of distribution**: the raw distance threshold and the served ``ood_score``'s distribution,
  whose threshold is 1.0 for every version.

``width``, ``height`` and ``bytes`` of ``FeatureSummary`` are left out on purpose: the reference set
holds decoded 64x64 pixels (the original files' sizes are not kept), and the model never sees them.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, model_validator

from contracts.base import SCHEMA_VERSION, ContractModel
from contracts.tags import FeatureSummary, ModelRef

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Count = Annotated[int, Field(ge=0)]

#: The ``FeatureSummary`` fields the profile describes: everything computed from the pixels.
PIXEL_FEATURES: tuple[str, ...] = tuple(n for n in FeatureSummary.model_fields if n not in ("width", "height",
                                                                                            "bytes"))
#: The quantiles an export records for each numeric value.
QUANTILE_LEVELS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
#: How far a probability vector may sum from 1 (float32 sums of up to ~30 classes).
_SUM_TOLERANCE = 1e-3


def _increasing(values: list[float], *, strictly: bool) -> bool:
    return all(a < b if strictly else a <= b for a, b in itertools.pairwise(values))


class Histogram(ContractModel):
    """``counts[i]`` values fell in ``[edges[i], edges[i + 1])``; the outer bins are open-ended.

    Values below ``edges[0]`` count in the first bin and values from ``edges[-1]`` up in the last, so a
    live window binned with ``counts_of`` always has as many bins as the reference.
    """

    edges: Annotated[list[float], Field(min_length=2)]
    counts: list[Count]

    @model_validator(mode="after")
    def _check(self) -> Histogram:
        if not _increasing(self.edges, strictly=True) or not all(map(math.isfinite, self.edges)):
            raise ValueError("edges must be finite and strictly increasing")
        if len(self.counts) != len(self.edges) - 1:
            raise ValueError(f"counts must have len(edges) - 1 = {len(self.edges) - 1} entries, "
                             f"got {len(self.counts)}")
        return self

    def counts_of(self, values: Iterable[float]) -> list[int]:
        """Bin ``values`` with these edges (outer bins open-ended); non-finite values are skipped."""
        counts = [0] * len(self.counts)
        inner = self.edges[1:-1]
        for value in values:
            if math.isfinite(value):
                counts[bisect.bisect_right(inner, value)] += 1
        return counts

    def fractions(self) -> list[float]:
        total = sum(self.counts)
        return [c / total if total else 0.0 for c in self.counts]


class Quantile(ContractModel):
    level: Annotated[float, Field(gt=0.0, lt=1.0)]
    value: float


class NumericStats(ContractModel):
    """One numeric value over the reference set."""

    count: Annotated[int, Field(ge=1)]
    mean: float
    std: Annotated[float, Field(ge=0.0)]
    min: float
    max: float
    quantiles: list[Quantile]
    histogram: Histogram

    @model_validator(mode="after")
    def _check(self) -> NumericStats:
        if not self.min <= self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if not _increasing([q.level for q in self.quantiles], strictly=True):
            raise ValueError("quantile levels must be strictly increasing")
        if not _increasing([q.value for q in self.quantiles], strictly=False):
            raise ValueError("quantile values must not decrease")
        if sum(self.histogram.counts) != self.count:
            raise ValueError(f"the histogram holds {sum(self.histogram.counts)} values, count is {self.count}")
        return self


class AttributeProfile(ContractModel):
    """One head on the reference set. Every list is per class, in ``classes`` order (the model's)."""

    classes: Annotated[list[str], Field(min_length=1)]
    temperature: Annotated[float, Field(gt=0.0, description="calibration temperature of the head")]
    train_prior: list[Probability] | None = Field(
        None, description="class frequencies of the training set; None when the checkpoint has none")
    label_distribution: list[Probability] | None = Field(
        None, description="true classes of the labelled reference images; None when none is labelled")
    labelled: Annotated[int, Field(ge=0, description="reference images with this attribute labelled")]
    predicted_distribution: list[Probability] = Field(description="how often each class was the top one")
    mean_probability: list[Probability] = Field(description="mean calibrated probability of each class")
    confidence: NumericStats = Field(description="the top probability per image: the tag's confidence")
    accuracy: Probability | None = Field(None, description="top-1 accuracy on the labelled reference images")

    @model_validator(mode="after")
    def _check(self) -> AttributeProfile:
        for name in ("train_prior", "label_distribution", "predicted_distribution", "mean_probability"):
            values = getattr(self, name)
            if values is None:
                continue
            if len(values) != len(self.classes):
                raise ValueError(f"{name} has {len(values)} entries for {len(self.classes)} classes")
            if abs(sum(values) - 1.0) > _SUM_TOLERANCE:
                raise ValueError(f"{name} sums to {sum(values)}, not 1")
        if (self.label_distribution is None) != (self.labelled == 0):
            raise ValueError("label_distribution must be given exactly when labelled > 0")
        if (self.accuracy is None) != (self.labelled == 0):
            raise ValueError("accuracy must be given exactly when labelled > 0")
        return self


class OodProfile(ContractModel):
    """The out-of-distribution score: served as ``distance / distance_threshold``."""

    distance_threshold: Annotated[float, Field(gt=0.0, description="raw Mahalanobis distance at score 1.0")]
    # pydantic takes a float Literal (the schema's const 1.0); PEP 586 allows none, so mypy must be told
    score_threshold: Literal[1.0] = Field(  # type: ignore[valid-type]
        1.0, description="an ood_score above this is out of distribution")
    reference_rate: Probability = Field(description="share of reference images above score_threshold")
    score: NumericStats = Field(description="the served ood_score on the reference images")


class ReferenceProfile(ContractModel):
    """One model version on its reference set: the baseline of drift and quality monitoring."""

    schema_version: Literal[1] = SCHEMA_VERSION
    model: ModelRef
    created_at: AwareDatetime
    reference_size: Annotated[int, Field(ge=1, description="images in the reference set")]
    reference_description: str = Field("", description="where the reference set came from")
    attributes: Annotated[dict[str, AttributeProfile], Field(min_length=1)]
    features: dict[str, NumericStats] = Field(description=f"keyed by {', '.join(PIXEL_FEATURES)}")
    ood: OodProfile | None = Field(None, description="None when the model has no OOD statistics (score 0)")

    @model_validator(mode="after")
    def _check(self) -> ReferenceProfile:
        if set(self.features) != set(PIXEL_FEATURES):
            raise ValueError(f"features must be exactly {', '.join(PIXEL_FEATURES)}; got {', '.join(self.features)}")
        stats = [*self.features.values(), *(a.confidence for a in self.attributes.values())]
        stats += [self.ood.score] if self.ood else []
        if any(s.count != self.reference_size for s in stats):
            raise ValueError(f"every statistic must count the {self.reference_size} reference images")
        if any(a.labelled > self.reference_size for a in self.attributes.values()):
            raise ValueError(f"an attribute has more labelled images than the {self.reference_size} in the set")
        return self
