"""The out-of-distribution score: AUROC helper, threshold on validation, and garments against non-garments."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from model.network import NetworkConfig
from model.nongarment import nongarment_dataset
from model.ood import auroc, distances, fit_gaussian, fit_ood
from model.synthetic import dataset
from model.train import TrainConfig, train


def test_auroc_of_perfect_reversed_and_tied_scores() -> None:
    assert auroc(np.array([0.1, 0.2]), np.array([0.3, 0.9])) == 1.0
    assert auroc(np.array([0.3, 0.9]), np.array([0.1, 0.2])) == 0.0
    assert auroc(np.array([1.0, 1.0]), np.array([1.0])) == 0.5
    assert auroc(np.array([0.0, 2.0]), np.array([1.0, 3.0])) == pytest.approx(0.75)


def test_auroc_needs_both_kinds() -> None:
    with pytest.raises(ValueError, match="at least one"):
        auroc(np.array([]), np.array([1.0]))


def test_gaussian_fit_and_distance_match_the_closed_form() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5000, 3)) * [1.0, 2.0, 4.0] + [1.0, 0.0, -1.0]
    mean, precision = fit_gaussian(x, shrinkage=0.0)
    np.testing.assert_allclose(mean, [1.0, 0.0, -1.0], atol=0.15)
    np.testing.assert_allclose(np.diag(precision), [1.0, 1 / 4, 1 / 16], rtol=0.1)
    stats = fit_ood(x, x[:1000], shrinkage=0.0)
    point = np.array([[1.0 + 2.0, 0.0, -1.0]])  # two standard deviations along the first axis
    assert distances(stats, point)[0] == pytest.approx(2.0, rel=0.05)


def test_threshold_flags_the_chosen_share_of_validation_embeddings() -> None:
    rng = np.random.default_rng(1)
    train, val = rng.normal(size=(4000, 8)), rng.normal(size=(2000, 8))
    stats = fit_ood(train, val, quantile=0.95)
    assert np.mean(distances(stats, val) > stats.threshold) == pytest.approx(0.05, abs=0.005)


def test_served_ood_score_of_a_briefly_trained_model_separates_non_garments_from_garments() -> None:
    config = TrainConfig(epochs=2, batch_size=32, network=NetworkConfig(width=8, depth=3, hidden=16), threads=2)
    serving = train(dataset(300, seed=3), config, progress=False).model.serving().eval()
    with torch.no_grad():
        garments = serving(torch.from_numpy(dataset(100, seed=5).images))[-1].numpy().ravel()
        others = serving(torch.from_numpy(nongarment_dataset(48, seed=4)))[-1].numpy().ravel()
    assert auroc(garments, others) > 0.9
    assert np.mean(others > 1.0) > 0.7  # the served score is distance / threshold: above 1 means unlike training
    assert np.mean(garments > 1.0) < 0.2
