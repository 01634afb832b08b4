"""Learn-then-Test (Angelopoulos, Bates, Candès, Jordan, Lei, 2021) for one head and one precision target.

A head's label is **accepted** (skips review) when its calibrated confidence is at least a threshold ``λ``.
The risk of ``λ`` is the share of accepted labels that are wrong, ``1 - precision(λ)``. For every ``λ`` of a
grid fixed in advance, the null hypothesis is ``H_λ: precision(λ) < target``; rejecting it certifies ``λ``.

**p-value.** Given that ``n`` calibration labels are accepted at ``λ``, they are independent draws from the
images whose confidence is at least ``λ``, so their errors are ``Binomial(n, 1 - precision(λ))``. Under
``H_λ`` errors are at least as likely as under ``Binomial(n, 1 - target)``, so the binomial tail
``P(Binomial(n, 1 - target) <= errors)`` is a valid p-value (the Bentkus bound of the paper for a 0/1 loss,
exact; the Hoeffding part of Hoeffding-Bentkus never beats it for a 0/1 loss). No accepted label gives 1.

**Family-wise error.** Fixed-sequence testing walks the grid from high to low thresholds and stops at the
first ``λ`` it cannot reject. One chain from the top stops at once for a head whose most confident labels are
few (nothing can be certified from 6 labels), however good its labels are a little lower, so the grid is
walked by ``len(STARTS)`` chains, each starting at one of ``STARTS`` and testing at level ``δ / len(STARTS)``
(Bonferroni over the chains, as MAPIE's multi-start ``FWERFixedSequenceTesting``). Each chain is a fixed
sequence at its level, so with probability at least ``1 - δ`` every threshold any chain certifies has
``precision >= target``, all at once; the lowest certified threshold is the head's threshold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Thresholds tested, fixed before seeing data: 0.995 down to 0 in steps of 0.005.
STEP = 0.005
GRID: np.ndarray = np.round(np.arange(round(1 / STEP) - 1, -1, -1) * STEP, 3)
#: Where the fixed-sequence chains start: dense near 1, where a head's confident labels are sparse.
STARTS: tuple[float, ...] = (0.995, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2)


def binomial_cdf(k: int, n: int, p: float) -> float:
    """``P(Binomial(n, p) <= k)``, summed exactly in log space (n up to millions)."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    i = np.arange(k + 1, dtype=np.float64)
    # log pmf(i) = log C(n, i) + i log p + (n - i) log(1 - p), with log C(n, i) as a running sum of log ratios
    log_comb = np.concatenate([[0.0], np.cumsum(np.log(n - i[:-1]) - np.log(i[:-1] + 1.0))])
    log_pmf = log_comb + i * math.log(p) + (n - i) * math.log1p(-p)
    top = float(log_pmf.max())
    return float(min(1.0, math.exp(top) * np.exp(log_pmf - top).sum()))


@dataclass(frozen=True)
class Acceptance:
    """How many calibration labels each grid threshold accepts, and how many of those are wrong."""

    accepted: np.ndarray  # int (len(GRID),)
    errors: np.ndarray  # int (len(GRID),)

    @property
    def precision(self) -> np.ndarray:
        """Precision of the accepted labels per threshold; NaN where none is accepted."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.accepted > 0, 1.0 - self.errors / np.maximum(self.accepted, 1), np.nan)


def acceptance(confidence: np.ndarray, correct: np.ndarray, grid: np.ndarray = GRID) -> Acceptance:
    """Counts for every threshold of ``grid`` from one head's confidences and whether each label was right."""
    order = np.argsort(-np.asarray(confidence, dtype=np.float64), kind="stable")
    ranked = np.asarray(confidence, dtype=np.float64)[order]
    wrong = np.concatenate([[0], np.cumsum(~np.asarray(correct, dtype=bool)[order])])
    accepted = np.searchsorted(-ranked, -np.asarray(grid, dtype=np.float64), side="right")  # confidence >= λ
    return Acceptance(accepted=accepted.astype(np.int64), errors=wrong[accepted].astype(np.int64))


def p_values(counts: Acceptance, target: float) -> np.ndarray:
    """The binomial-tail p-value of ``H_λ: precision(λ) < target`` for every threshold."""
    return np.array([binomial_cdf(int(e), int(n), 1.0 - target) if n > 0 else 1.0
                     for n, e in zip(counts.accepted, counts.errors, strict=True)])


def fixed_sequence(p: np.ndarray, delta: float, starts: list[int]) -> np.ndarray:
    """Reject along each chain (``starts`` index ``p``, which runs from high to low thresholds) at level
    ``delta / len(starts)`` until the chain's first failure; returns the rejected mask."""
    level = delta / len(starts)
    rejected = np.zeros(len(p), dtype=bool)
    for start in starts:
        for i in range(start, len(p)):
            if p[i] > level:
                break
            rejected[i] = True
    return rejected


def start_indices(grid: np.ndarray = GRID, starts: tuple[float, ...] = STARTS) -> list[int]:
    """The grid index of each chain's first threshold: the highest grid threshold at or below each start."""
    return [int(np.flatnonzero(grid <= s + 1e-12)[0]) for s in starts]


@dataclass(frozen=True)
class Certified:
    """One head's outcome: the lowest certified threshold (None if none) and the counts at every threshold."""

    threshold: float | None
    index: int | None  # position of ``threshold`` in the grid
    counts: Acceptance


def certify(confidence: np.ndarray, correct: np.ndarray, *, target: float, delta: float,
            grid: np.ndarray = GRID, starts: tuple[float, ...] = STARTS) -> Certified:
    """The lowest threshold of ``grid`` at which accepted labels reach ``target`` precision with probability at
    least ``1 - delta`` (Learn-then-Test, see the module docstring); None when no threshold is certified."""
    if not 0.0 < target < 1.0:
        raise ValueError(f"target precision must be in (0, 1), got {target}")
    if not 0.0 < delta < 1.0:
        raise ValueError(f"delta (1 - confidence) must be in (0, 1), got {delta}")
    counts = acceptance(confidence, correct, grid)
    rejected = fixed_sequence(p_values(counts, target), delta, start_indices(grid, starts))
    if not rejected.any():
        return Certified(threshold=None, index=None, counts=counts)
    lowest = int(np.flatnonzero(rejected).max())
    return Certified(threshold=float(grid[lowest]), index=lowest, counts=counts)
