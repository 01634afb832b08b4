"""Quality before labels: confidence-based performance estimation (CBPE) from calibrated confidences.

Each head's served probabilities are temperature-calibrated on validation, so the confidence ``c_i`` of a tag's
top label is the chance it is right. A window's expected accuracy is then the mean confidence, and the number of
right tags is a sum of independent Bernoulli(c_i): its standard error is ``sqrt(sum c_i (1 - c_i)) / n``. The
interval adds, on both sides, how far calibration was off on the reference set (|accuracy - mean confidence|),
since calibration is never exact.

The estimate rests on calibration holding on the live data. It does not when the inputs move away from what the
model was calibrated on: out-of-distribution images, or input drift (a darker camera makes a model confidently
wrong). So each window says whether its estimate can be trusted, and why not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from monitoring.stats import z_value


@dataclass(frozen=True)
class Estimate:
    value: float  # expected accuracy: mean calibrated confidence
    lower: float
    upper: float
    n: int


def estimate_accuracy(confidence: np.ndarray, *, calibration_gap: float, alpha: float) -> Estimate:
    """The expected accuracy of tags with these calibrated confidences, with a two-sided ``1 - alpha`` interval."""
    c = np.asarray(confidence, dtype=np.float64)
    c = c[np.isfinite(c)]
    n = len(c)
    if n == 0:
        return Estimate(value=math.nan, lower=0.0, upper=1.0, n=0)
    value = float(c.mean())
    half = z_value(alpha) * math.sqrt(float(np.sum(c * (1.0 - c)))) / n + calibration_gap
    return Estimate(value=value, lower=max(0.0, value - half), upper=min(1.0, value + half), n=n)


def untrusted_reasons(*, has_reference: bool, ood_share: float, max_ood_share: float, input_drift: bool) -> list[str]:
    """Why a window's estimate cannot be trusted; empty when it can."""
    reasons = []
    if not has_reference:
        reasons.append("no_reference_profile")
    if ood_share > max_ood_share:
        reasons.append("out_of_distribution_share")
    if input_drift:
        reasons.append("input_drift")
    return reasons
