"""Scores per attribute: hand-checked accuracy, macro-F1, balanced accuracy and the head/tail split."""

from __future__ import annotations

import math

import numpy as np
import pytest

from model.dataset import MISSING
from model.scores import mean_of, score_all, score_attribute, tail_classes
from modelspec.taxonomy import Attribute

COLOUR = Attribute("colour", ("red", "green", "blue", "black"))


def test_tail_is_the_classes_holding_the_last_fifth_of_training_examples() -> None:
    # sorted shares 0.5, 0.25, 0.15, 0.1: the first three are needed to reach 80%
    np.testing.assert_array_equal(tail_classes(np.array([25, 50, 15, 10])), [False, False, False, True])
    # a dominant class alone holds 80%: everything else is tail
    np.testing.assert_array_equal(tail_classes(np.array([80, 10, 10, 0])), [False, True, True, True])


def test_tail_includes_classes_never_seen_in_training_even_when_balanced() -> None:
    np.testing.assert_array_equal(tail_classes(np.array([1, 1, 1, 1, 1, 0])), [False] * 4 + [True, True])


def test_scores_of_a_hand_made_example() -> None:
    true = np.array([0, 0, 0, 0, 1, 1, 2, 3, MISSING])
    pred = np.array([0, 0, 0, 1, 1, 0, 2, 0, 3])
    scores = score_attribute(COLOUR, true, pred, train_counts=np.array([70, 20, 6, 4]))
    assert scores.support == 8
    assert scores.accuracy == pytest.approx(5 / 8)
    np.testing.assert_allclose(scores.recall, [3 / 4, 1 / 2, 1.0, 0.0])
    assert scores.balanced_accuracy == pytest.approx((0.75 + 0.5 + 1.0 + 0.0) / 4)
    f1 = [2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4), 0.5, 1.0, 0.0]  # precision 3/5, 1/2, 1, -
    assert scores.macro_f1 == pytest.approx(np.mean(f1))
    np.testing.assert_array_equal(scores.tail, [False, False, True, True])
    assert scores.head_recall == pytest.approx((0.75 + 0.5) / 2)
    assert scores.tail_recall == pytest.approx((1.0 + 0.0) / 2)
    np.testing.assert_allclose(scores.true_distribution, [4 / 8, 2 / 8, 1 / 8, 1 / 8])
    np.testing.assert_allclose(scores.predicted_distribution, [5 / 8, 2 / 8, 1 / 8, 0])
    assert scores.confusion.sum() == 8 and scores.confusion[3, 0] == 1


def test_classes_absent_from_labels_have_nan_recall_and_are_left_out_of_the_means() -> None:
    scores = score_attribute(COLOUR, np.array([0, 0, 1]), np.array([0, 0, 1]), np.array([50, 40, 5, 5]))
    assert math.isnan(scores.recall[2]) and math.isnan(scores.tail_recall)
    assert scores.balanced_accuracy == 1.0 and scores.macro_f1 == 1.0


def test_means_over_heads_skip_a_head_without_labels() -> None:
    shape = Attribute("shape", ("round", "square"))
    labels = np.array([[0, MISSING], [1, MISSING]])
    scores = score_all({"colour": np.array([0, 0]), "shape": np.array([1, 1])}, labels,
                       {"colour": np.array([1, 1, 1, 1]), "shape": np.array([1, 1])}, attributes=(COLOUR, shape))
    assert math.isnan(scores["shape"].accuracy)
    assert mean_of(scores, "accuracy") == pytest.approx(0.5)
