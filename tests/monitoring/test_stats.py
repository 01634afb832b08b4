import numpy as np
import pytest
from scipy.stats import chi2, chi2_contingency

from monitoring.stats import chi2_sf, compare, psi, wilson


def test_chi2_survival_matches_scipy():
    for statistic, dof in [(3.0, 1), (12.5, 9), (40.0, 12), (0.0, 4)]:
        assert chi2_sf(statistic, dof) == pytest.approx(chi2.sf(statistic, dof), rel=1e-9)


def test_homogeneity_test_matches_scipy_when_no_bin_is_sparse():
    reference = np.array([300, 250, 200, 150, 100])
    current = np.array([280, 270, 190, 160, 100])
    statistic, p_value, dof, _ = chi2_contingency(np.vstack([reference, current]), correction=False)
    result = compare(reference, current)
    assert (result.statistic, result.dof) == (pytest.approx(statistic), dof)
    assert result.p_value == pytest.approx(p_value)


def test_sparse_bins_are_pooled_so_a_rare_class_cannot_fake_drift():
    reference = np.array([800, 790, 2, 1, 0, 1, 0])
    current = np.array([400, 396, 0, 3, 1, 0, 0])  # the rare classes move, which means nothing at these counts
    result = compare(reference, current)
    assert result.dof == 1  # the five rare classes (8 tags) are too few even pooled: they join the smaller big bin
    assert result.p_value > 0.01


def test_a_real_shift_is_significant_and_material():
    reference = np.array([400, 400, 400, 400])
    current = np.array([100, 100, 100, 700])
    result = compare(reference, current)
    assert result.p_value < 1e-50
    assert result.psi > 0.5
    assert result.drifted(alpha=1e-5, psi_floor=0.1)


def test_a_tiny_shift_in_a_huge_window_is_significant_but_not_drift():
    reference = np.full(10, 100_000)
    current = np.array([104_000] * 5 + [96_000] * 5)
    result = compare(reference, current)
    assert result.p_value < 1e-10
    assert result.psi < 0.01
    assert not result.drifted(alpha=1e-5, psi_floor=0.1)


def test_psi_of_identical_distributions_is_zero_and_grows_with_the_shift():
    assert psi(np.array([10, 20, 30]), np.array([10, 20, 30])) == pytest.approx(0.0)
    assert psi(np.array([10, 20, 30]), np.array([30, 20, 10])) > psi(np.array([10, 20, 30]), np.array([15, 20, 25]))


def test_wilson_interval_holds_the_share_and_stays_inside_zero_and_one():
    lower, upper = wilson(45, 50, alpha=0.05)
    assert lower < 0.9 < upper
    assert wilson(0, 20, alpha=0.05)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson(20, 20, alpha=0.05)[1] == pytest.approx(1.0)
    assert wilson(0, 0, alpha=0.05) == (0.0, 1.0)


def test_stationary_samples_reject_about_alpha_of_the_time():
    rng = np.random.default_rng(0)
    shares = np.array([0.4, 0.3, 0.2, 0.07, 0.03])
    rejected = 0
    for _ in range(400):
        reference = rng.multinomial(1600, shares)
        current = rng.multinomial(500, shares)
        rejected += compare(reference, current).p_value < 0.05
    assert 8 <= rejected <= 35  # 20 expected
