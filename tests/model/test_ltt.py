"""Learn-then-Test: exact binomial p-values, counts per threshold, fixed-sequence chains, and, over many
simulated calibration draws where the true precision is known, a miss rate no higher than delta."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from model import ltt

#: Simulated calibration draws per validity test, and the images in each.
DRAWS = 300
IMAGES = 1500


def _miss_bound(delta: float, draws: int = DRAWS) -> float:
    """The most misses a procedure with miss probability ``delta`` shows in ``draws`` draws, but for 1 in 10,000."""
    return float(binom.ppf(0.9999, draws, delta)) / draws


@pytest.mark.parametrize(("k", "n", "p"), [(0, 10, 0.05), (5, 100, 0.05), (300, 20000, 0.05), (1000, 20000, 0.05),
                                           (17, 40, 0.5), (0, 1, 0.3), (2, 3, 0.999), (900, 1000, 0.9)])
def test_binomial_cdf_equals_scipys(k: int, n: int, p: float) -> None:
    assert ltt.binomial_cdf(k, n, p) == pytest.approx(binom.cdf(k, n, p), rel=1e-9, abs=1e-300)


def test_binomial_cdf_at_its_edges() -> None:
    assert ltt.binomial_cdf(-1, 10, 0.5) == 0.0
    assert ltt.binomial_cdf(10, 10, 0.5) == 1.0
    assert ltt.binomial_cdf(0, 10, 0.0) == 1.0
    assert ltt.binomial_cdf(3, 10, 1.0) == 0.0


def test_grid_runs_from_high_to_low_in_fixed_steps_and_starts_are_on_it() -> None:
    assert ltt.GRID[0] == 0.995 and ltt.GRID[-1] == 0.0
    assert np.allclose(np.diff(ltt.GRID), -ltt.STEP)
    starts = ltt.start_indices()
    assert [float(ltt.GRID[i]) for i in starts] == list(ltt.STARTS)


def test_acceptance_counts_labels_at_or_above_each_threshold_and_their_errors() -> None:
    confidence = np.array([0.9, 0.8, 0.8, 0.5])
    correct = np.array([True, False, True, True])
    counts = ltt.acceptance(confidence, correct, grid=np.array([0.95, 0.85, 0.8, 0.5, 0.0]))
    assert counts.accepted.tolist() == [0, 1, 3, 4, 4]
    assert counts.errors.tolist() == [0, 0, 1, 1, 1]
    assert np.isnan(counts.precision[0])
    assert counts.precision[2] == pytest.approx(2 / 3)


@pytest.mark.parametrize(("p", "starts", "rejected"), [
    # one chain: stops at its first failure and never resumes below it
    ([0.01, 0.02, 0.5, 0.01], [0], [True, True, False, False]),
    # a failure at the top rejects nothing from that chain
    ([0.5, 0.01, 0.01, 0.01], [0], [False, False, False, False]),
    # two chains share delta: each tests at 0.05, so 0.06 fails in either
    ([0.5, 0.04, 0.06, 0.01], [0, 1], [False, True, False, False]),
    # a second chain starting below the first one's failure
    ([0.01, 0.5, 0.01, 0.01], [0, 2], [True, False, True, True]),
])
def test_fixed_sequence_rejects_along_each_chain_until_its_first_failure(p: list[float], starts: list[int],
                                                                         rejected: list[bool]) -> None:
    assert ltt.fixed_sequence(np.array(p), 0.1, starts).tolist() == rejected


def test_certify_refuses_targets_and_deltas_outside_zero_and_one() -> None:
    with pytest.raises(ValueError, match="target"):
        ltt.certify(np.ones(3), np.ones(3, bool), target=1.0, delta=0.1)
    with pytest.raises(ValueError, match="delta"):
        ltt.certify(np.ones(3), np.ones(3, bool), target=0.9, delta=0.0)


def test_a_head_with_too_few_confident_labels_gets_no_threshold() -> None:
    certified = ltt.certify(np.full(20, 0.99), np.ones(20, bool), target=0.95, delta=0.1)
    assert certified.threshold is None  # 20 right labels cannot show 95% precision at 90% confidence


def _calibrated_draw(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A calibrated head that is mostly confident: confidence ``1 - 0.8 U²`` (U uniform), right with probability
    equal to it, so precision(λ) = E[C | C >= λ] = 1 - (1 - λ) / 3 for λ >= 0.2."""
    confidence = 1.0 - 0.8 * rng.random(IMAGES) ** 2
    return confidence, rng.random(IMAGES) < confidence


def test_calibrated_scores_miss_the_target_in_at_most_delta_of_draws_and_land_near_the_true_threshold() -> None:
    # precision(λ) >= 0.95 exactly when λ >= 0.85: any certified threshold under 0.85 is a miss
    rng = np.random.default_rng(7)
    chosen = np.array([ltt.certify(*_calibrated_draw(rng), target=0.95, delta=0.1).threshold or np.nan
                       for _ in range(DRAWS)])
    misses = np.mean(np.nan_to_num(chosen, nan=1.0) < 0.85 - 1e-9)
    assert misses <= _miss_bound(0.1)
    assert np.mean(np.isfinite(chosen)) > 0.95  # a threshold is found in nearly every draw
    assert np.nanmedian(chosen) <= 0.95  # and not far above the true one (0.85): 0.92 with these draws


def test_a_head_below_target_everywhere_is_certified_in_at_most_delta_of_draws_unlike_each_threshold_alone() -> None:
    # right with probability 0.94 at every confidence: every threshold's null hypothesis is true
    rng = np.random.default_rng(11)
    fwer_misses, naive_misses = 0, 0
    for _ in range(DRAWS):
        confidence, correct = rng.uniform(0.0, 1.0, IMAGES), rng.random(IMAGES) < 0.94
        fwer_misses += ltt.certify(confidence, correct, target=0.95, delta=0.1).threshold is not None
        p = ltt.p_values(ltt.acceptance(confidence, correct), 0.95)
        naive_misses += bool((p <= 0.1).any())
    assert fwer_misses / DRAWS <= _miss_bound(0.1)  # 1 of 300 with these draws
    assert naive_misses / DRAWS > 0.1  # testing each threshold alone at delta breaks the promise on the same draws
