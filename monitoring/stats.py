"""The statistics behind every drift and quality decision: one test, one effect size, one interval.

- **Drift of a distribution** (a feature's histogram, an attribute's predicted or true classes): Pearson's
  chi-square test of homogeneity on the 2 x k table (reference counts, window counts), after pooling the bins
  whose expected count is under ``MIN_EXPECTED`` (so the chi-square approximation holds on long tails), and
  the population stability index (PSI) of the same bins as the effect size. A column drifts when the test
  rejects at its (Bonferroni) level *and* the PSI reaches a floor: significant and large enough to matter.
  The test is two-sample: the reference is itself a sample (a few thousand images), and its noise counts.
- **Quality from labels**: Wilson's score interval for a proportion (right at 0 and 1, unlike Wald's).

Pure numpy and scipy, no state: Evidently's registered stat test (``monitoring.evidently``) calls
:func:`compare` too, so a snapshot shows the numbers the decision used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
from scipy.special import gammaincc

#: Pool bins whose expected count under "no drift" is below this (Cochran's rule for chi-square).
MIN_EXPECTED = 5.0
#: Pseudo-count added to every bin before the PSI's logarithm, so an empty bin is finite.
PSI_PSEUDO_COUNT = 0.5


@dataclass(frozen=True)
class Comparison:
    """A window against the reference for one column."""

    statistic: float  # chi-square
    dof: int
    p_value: float
    psi: float  # population stability index of the (pooled) bins
    window_size: int

    def drifted(self, alpha: float, psi_floor: float) -> bool:
        return self.p_value < alpha and self.psi >= psi_floor


def chi2_sf(statistic: float, dof: int) -> float:
    """P(X >= statistic) for X ~ chi-square(dof)."""
    if dof <= 0:
        return 1.0
    return float(gammaincc(dof / 2.0, max(statistic, 0.0) / 2.0))


def _pool(reference: np.ndarray, current: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge the bins whose expected count in the smaller sample is under ``MIN_EXPECTED`` into one "rare" bin.

    A rare bin still under the limit joins the rarest of the other bins. Bins empty in both samples go.
    """
    totals = reference + current
    keep = totals > 0
    reference, current, totals = reference[keep], current[keep], totals[keep]
    n_ref, n_cur = reference.sum(), current.sum()
    if len(totals) <= 2 or n_ref == 0 or n_cur == 0:
        return reference, current
    smaller = min(n_ref, n_cur) / (n_ref + n_cur)
    rare = totals * smaller < MIN_EXPECTED
    if not rare.any():
        return reference, current
    out_ref, out_cur = list(reference[~rare]), list(current[~rare])
    pooled_ref, pooled_cur = float(reference[rare].sum()), float(current[rare].sum())
    if (pooled_ref + pooled_cur) * smaller < MIN_EXPECTED and out_ref:
        rarest = int(np.argmin(totals[~rare]))
        out_ref[rarest] += pooled_ref
        out_cur[rarest] += pooled_cur
    else:
        out_ref.append(pooled_ref)
        out_cur.append(pooled_cur)
    return np.asarray(out_ref, dtype=np.float64), np.asarray(out_cur, dtype=np.float64)


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index, sum of (c - r) ln(c / r) over bin shares, each bin + ``PSI_PSEUDO_COUNT``."""
    r = (np.asarray(reference, dtype=np.float64) + PSI_PSEUDO_COUNT)
    c = (np.asarray(current, dtype=np.float64) + PSI_PSEUDO_COUNT)
    r, c = r / r.sum(), c / c.sum()
    return float(np.sum((c - r) * np.log(c / r)))


def compare(reference_counts: np.ndarray | list[float], current_counts: np.ndarray | list[float]) -> Comparison:
    """Chi-square homogeneity test and PSI of ``current_counts`` against ``reference_counts`` (same bins)."""
    reference = np.asarray(reference_counts, dtype=np.float64)
    current = np.asarray(current_counts, dtype=np.float64)
    if reference.shape != current.shape or reference.ndim != 1:
        raise ValueError(f"counts must be two 1-D arrays of one length, got {reference.shape} and {current.shape}")
    window = int(current.sum())
    ref, cur = _pool(reference, current)
    if len(ref) < 2 or ref.sum() == 0 or cur.sum() == 0:
        return Comparison(statistic=0.0, dof=0, p_value=1.0, psi=0.0, window_size=window)
    table = np.vstack([ref, cur])
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    statistic = float(np.sum((table - expected) ** 2 / expected))
    dof = len(ref) - 1
    return Comparison(statistic=statistic, dof=dof, p_value=chi2_sf(statistic, dof), psi=psi(ref, cur),
                      window_size=window)


def wilson(successes: float, n: float, *, alpha: float) -> tuple[float, float]:
    """Two-sided ``1 - alpha`` Wilson score interval of a proportion; (0, 1) when ``n`` is 0."""
    if n <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def z_value(alpha: float) -> float:
    """The two-sided normal quantile for level ``alpha`` (1.96 for 0.05)."""
    return NormalDist().inv_cdf(1.0 - alpha / 2.0)
