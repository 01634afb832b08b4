"""The multi-task loss masks missing labels, and every long-tail strategy trains."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from model.calibration import expected_calibration_error, fit_temperature, softmax
from model.dataset import MISSING
from model.longtail import (
    POSTHOC_SHIFTS,
    STRATEGIES,
    LongTailConfig,
    MultiTaskLoss,
    apply_posthoc,
    class_balanced_weights,
    logit_offsets,
    priors,
    sampling_weights,
    tune_posthoc,
)
from model.network import MultiTaskTagger, NetworkConfig
from modelspec.taxonomy import ATTRIBUTES, Attribute

HEADS = (Attribute("colour", ("red", "green", "blue")), Attribute("shape", ("round", "square")))
COUNTS = {"colour": np.array([90, 9, 1]), "shape": np.array([50, 50])}


def _logits(n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {a.name: torch.randn(n, a.size, generator=g, requires_grad=True) for a in HEADS}


def _loss(strategy: str = "none", **params: float) -> MultiTaskLoss:
    return MultiTaskLoss(LongTailConfig(strategy=strategy, **params), COUNTS, attributes=HEADS)  # type: ignore[arg-type]


def test_missing_labels_are_left_out_of_the_loss() -> None:
    logits = _logits(4)
    labels = torch.tensor([[0, 1], [MISSING, 0], [2, MISSING], [MISSING, MISSING]])
    expected = (F.cross_entropy(logits["colour"][[0, 2]], torch.tensor([0, 2]))
                + F.cross_entropy(logits["shape"][[0, 1]], torch.tensor([1, 0])))
    assert _loss()(logits, labels).item() == pytest.approx(expected.item(), rel=1e-6)


def test_head_without_labels_in_batch_contributes_zero_not_nan() -> None:
    logits = _logits(3)
    labels = torch.tensor([[0, MISSING], [1, MISSING], [2, MISSING]])
    per_head = _loss().per_head(logits, labels)
    assert per_head["shape"].item() == 0.0
    total = _loss()(logits, labels)
    total.backward()
    assert math.isfinite(total.item())
    assert total.item() == pytest.approx(per_head["colour"].item())
    assert logits["colour"].grad is not None and torch.isfinite(logits["colour"].grad).all()


def test_batch_with_no_labels_at_all_gives_zero_loss_and_finite_gradients() -> None:
    logits = _logits(2)
    loss = _loss("logit_adjust")(logits, torch.full((2, 2), MISSING))
    loss.backward()
    assert loss.item() == 0.0


def test_head_weights_scale_each_head() -> None:
    logits, labels = _logits(5), torch.tensor([[0, 0], [1, 1], [2, 0], [0, 1], [1, 0]])
    plain = _loss().per_head(logits, labels)
    weighted = MultiTaskLoss(LongTailConfig(strategy="none"), COUNTS, {"shape": 3.0}, attributes=HEADS)
    assert weighted(logits, labels).item() == pytest.approx(plain["colour"].item() + 3 * plain["shape"].item())


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_gives_a_finite_loss_and_gradients(strategy: str) -> None:
    logits = _logits(6)
    labels = torch.tensor([[0, 0], [1, 1], [2, MISSING], [0, 1], [MISSING, 0], [0, 0]])
    loss = _loss(strategy)(logits, labels)
    loss.backward()
    assert math.isfinite(loss.item()) and loss.item() > 0
    assert all(t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0
               for t in logits.values())


def test_class_balanced_weights_favour_rare_classes_and_beta_zero_is_uniform() -> None:
    weights = class_balanced_weights(COUNTS["colour"], beta=0.99)
    assert weights[2] > weights[1] > weights[0]
    assert weights.sum() == pytest.approx(3.0)
    np.testing.assert_allclose(class_balanced_weights(COUNTS["colour"], beta=0.0), np.ones(3))


def test_focal_with_gamma_zero_is_cross_entropy_and_downweights_easy_examples() -> None:
    logits, labels = _logits(6), torch.tensor([[0, 0], [1, 1], [2, 0], [0, 1], [1, 0], [2, 1]])
    assert _loss("focal", gamma=0.0)(logits, labels).item() == pytest.approx(_loss()(logits, labels).item(), rel=1e-6)
    assert _loss("focal", gamma=2.0)(logits, labels).item() < _loss()(logits, labels).item()


def test_logit_adjustment_adds_scaled_log_prior_only_in_the_loss() -> None:
    offsets = logit_offsets(COUNTS["colour"], tau=1.0)
    np.testing.assert_allclose(offsets, np.log([0.9, 0.09, 0.01]))
    logits, labels = _logits(4), torch.tensor([[0, 0], [1, 1], [2, 0], [2, 1]])
    assert _loss("logit_adjust", tau=0.0)(logits, labels).item() == pytest.approx(_loss()(logits, labels).item())
    # a rare true class costs more under adjustment: the head must push its logit further
    rare = torch.tensor([[2, MISSING]])
    uniform = {"colour": torch.zeros(1, 3), "shape": torch.zeros(1, 2)}
    assert _loss("logit_adjust")(uniform, rare).item() > _loss()(uniform, rare).item()


def test_balanced_sampling_weights_follow_the_rarest_labelled_class() -> None:
    labels = np.array([[0, 0], [1, 0], [2, 1], [MISSING, 1], [MISSING, MISSING]])
    weights = sampling_weights(labels, COUNTS, power=1.0, attributes=HEADS)
    np.testing.assert_allclose(weights[:4], [2.0, 1 / 0.09, 100.0, 2.0])
    assert weights[4] == pytest.approx(1 / 0.9)
    np.testing.assert_allclose(sampling_weights(labels, COUNTS, power=0.5, attributes=HEADS), np.sqrt(weights))


def test_counts_must_cover_every_head() -> None:
    with pytest.raises(KeyError, match="shape"):
        MultiTaskLoss(LongTailConfig(), {"colour": COUNTS["colour"]}, attributes=HEADS)


def _biased_logits(n: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """colour: separable classes read through a head-favouring bias; shape: logits that say nothing."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(3, size=n, p=[0.9, 0.09, 0.01])
    shape = rng.choice(2, size=n, p=[0.5, 0.5])
    colour_logits = 2.0 * np.eye(3)[colour] + 1.5 * np.log([0.9, 0.09, 0.01]) + rng.normal(0, 0.3, (n, 3))
    return {"colour": colour_logits, "shape": np.zeros((n, 2))}, np.stack([colour, shape], axis=1)


def test_posthoc_shift_moves_a_separable_head_toward_its_rare_classes_and_leaves_a_blind_one() -> None:
    logits, labels = _biased_logits(3000, seed=0)
    shifts = tune_posthoc(logits, labels, COUNTS, accuracy_budget=0.0, attributes=HEADS)
    assert shifts["colour"] > 0.5
    assert shifts["shape"] == 0.0
    rare = labels[:, 0] == 2
    adjusted = logits["colour"] - shifts["colour"] * np.log(priors(COUNTS["colour"]))
    assert (adjusted[rare].argmax(axis=1) == 2).mean() > (logits["colour"][rare].argmax(axis=1) == 2).mean()


def test_posthoc_spends_at_most_the_accuracy_budget_on_validation() -> None:
    logits, labels = _biased_logits(2000, seed=1)
    logits["colour"] += np.random.default_rng(2).normal(0, 1.5, logits["colour"].shape)  # a noisier head
    log_prior = np.log(priors(COUNTS["colour"]))

    def accuracy(shift: float) -> float:
        return float(((logits["colour"] - shift * log_prior).argmax(axis=1) == labels[:, 0]).mean())

    best = max(accuracy(s) for s in POSTHOC_SHIFTS)
    for budget in (0.0, 0.01, 0.05):
        shift = tune_posthoc(logits, labels, COUNTS, accuracy_budget=budget, attributes=HEADS)["colour"]
        assert best - accuracy(shift) <= budget * 2 + 1e-9  # two heads share the budget; shape spends nothing


def test_posthoc_leaves_a_head_without_labels_alone() -> None:
    logits, labels = _biased_logits(100, seed=3)
    labels[:, 1] = MISSING
    assert tune_posthoc(logits, labels, COUNTS, accuracy_budget=0.01, attributes=HEADS)["shape"] == 0.0


def test_apply_posthoc_folds_the_shift_into_the_last_bias() -> None:
    network = MultiTaskTagger(NetworkConfig(width=4, depth=1, hidden=8)).eval()
    counts = {a.name: np.arange(1, a.size + 1) * 10 for a in ATTRIBUTES}
    images = torch.randint(0, 256, (3, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        before = network.logits(images)
        apply_posthoc(network, counts, {"category": 0.5})
        after = network.logits(images)
    expected = before["category"] - 0.5 * torch.tensor(np.log(priors(counts["category"])), dtype=torch.float32)
    torch.testing.assert_close(after["category"], expected)
    torch.testing.assert_close(after["fit"], before["fit"])


def test_posthoc_keeps_a_head_as_calibrated_as_its_most_accurate_shift_under_a_tight_ece_cap() -> None:
    rng = np.random.default_rng(4)
    colour_logits = rng.normal(0.0, 2.0, (4000, 3)) + np.log([0.9, 0.09, 0.01])
    colour = (softmax(colour_logits).cumsum(axis=1) > rng.random((4000, 1))).argmax(axis=1)  # calibrated as is
    logits = {"colour": colour_logits, "shape": np.zeros((4000, 2))}
    labels = np.stack([colour, rng.integers(0, 2, 4000)], axis=1)
    log_prior = np.log(priors(COUNTS["colour"]))

    def measured(shift: float) -> tuple[float, float]:
        shifted = colour_logits - shift * log_prior
        temperature = fit_temperature(shifted, colour)
        return float((shifted.argmax(axis=1) == colour).mean()), expected_calibration_error(softmax(shifted,
                                                                                                   temperature), colour)

    most_accurate = max(POSTHOC_SHIFTS, key=lambda s: (measured(s)[0], -abs(s)))
    capped = tune_posthoc(logits, labels, COUNTS, accuracy_budget=0.2, ece_cap=1e-6, attributes=HEADS)["colour"]
    free = tune_posthoc(logits, labels, COUNTS, accuracy_budget=0.2, attributes=HEADS)["colour"]
    assert measured(capped)[1] <= measured(most_accurate)[1] + 1e-9
    assert free > capped
    assert measured(free)[1] > measured(capped)[1]  # the tail recall bought without the cap costs calibration
