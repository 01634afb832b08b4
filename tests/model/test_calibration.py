"""Temperature scaling lowers the calibration error of an overconfident model on held-out data."""

from __future__ import annotations

import numpy as np
import pytest

from model.calibration import (
    expected_calibration_error,
    fit_temperature,
    fit_temperatures,
    nll,
    reliability,
    softmax,
)
from model.dataset import MISSING
from modelspec.taxonomy import Attribute


def _sampled(n: int, k: int, temperature: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels drawn from softmax(logits / temperature): calibrated at exactly that temperature."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, (n, k))
    probs = softmax(logits, temperature)
    labels = (probs.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return logits, labels


def test_fitted_temperature_recovers_the_true_one() -> None:
    logits, labels = _sampled(20000, 6, temperature=2.5, seed=0)
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.08)


def test_calibration_lowers_ece_and_nll_of_an_overconfident_model_on_held_out_data() -> None:
    logits, labels = _sampled(8000, 5, temperature=3.0, seed=1)  # logits 3x too sharp
    fit, held_out = slice(0, 4000), slice(4000, None)
    temperature = fit_temperature(logits[fit], labels[fit])
    before = expected_calibration_error(softmax(logits[held_out]), labels[held_out])
    after = expected_calibration_error(softmax(logits[held_out], temperature), labels[held_out])
    assert before > 0.15
    assert after < before / 3
    assert nll(logits[held_out], labels[held_out], temperature) < nll(logits[held_out], labels[held_out])


def test_temperatures_per_head_leave_missing_labels_out() -> None:
    heads = (Attribute("a", ("x", "y", "z")), Attribute("b", ("u", "v")))
    logits_a, labels_a = _sampled(3000, 3, temperature=0.5, seed=2)
    labels = np.stack([labels_a, np.full(3000, MISSING)], axis=1)
    labels[::3, 0] = MISSING
    temperatures = fit_temperatures({"a": logits_a, "b": np.zeros((3000, 2))}, labels, attributes=heads)
    assert temperatures["a"] == pytest.approx(0.5, rel=0.15)
    assert temperatures["b"] == 1.0


def test_reliability_bins_add_up_and_a_calibrated_model_has_small_ece() -> None:
    logits, labels = _sampled(20000, 4, temperature=1.0, seed=3)
    diagram = reliability(softmax(logits), labels)
    assert diagram.count.sum() == 20000 and len(diagram.edges) == 16
    filled = diagram.count > 0
    assert np.all((diagram.confidence[filled] >= diagram.edges[:-1][filled])
                  & (diagram.confidence[filled] <= diagram.edges[1:][filled]))
    assert diagram.ece < 0.02


def test_ece_is_nan_when_nothing_is_labelled() -> None:
    assert np.isnan(expected_calibration_error(np.full((3, 2), 0.5), np.full(3, MISSING)))
