"""Per-attribute scores of predictions against labels, with head and tail classes told apart.

**Tail classes** (per attribute, from the *training* set's class frequencies): sort the classes from
most to least frequent; the head classes are the fewest most frequent ones that together hold at least
80% of the labelled training examples, and every other class is a tail class. So the tail is the
classes that share the last 20% of the examples (the Pareto split). A class never seen in training is a
tail class. Head and tail recall are the mean recall of those classes that have examples in the
evaluated set (macro, so every tail class counts the same however rare).

Missing labels (``MISSING``) are left out of every score of their attribute. Macro-F1 averages over the
classes present in the labels or the predictions (as scikit-learn does); balanced accuracy is the
mean recall over the classes present in the labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from model.dataset import MISSING
from modelspec.taxonomy import ATTRIBUTES, Attribute

#: Head classes hold at least this share of the training examples; the rest are the tail.
HEAD_SHARE = 0.8
TAIL_DEFINITION = ("tail classes: per attribute, the least frequent training classes that together hold "
                   f"the last {1 - HEAD_SHARE:.0%} of the training labels")


def tail_classes(train_counts: np.ndarray, head_share: float = HEAD_SHARE) -> np.ndarray:
    """Boolean mask of the tail classes given training counts per class (see the module docstring)."""
    counts = np.asarray(train_counts, dtype=np.float64)
    if counts.sum() <= 0:
        return np.ones(len(counts), dtype=bool)
    order = np.argsort(-counts, kind="stable")
    before = np.concatenate([[0.0], np.cumsum(counts[order])[:-1]]) / counts.sum()
    tail = np.ones(len(counts), dtype=bool)
    tail[order[before < head_share]] = False
    tail[counts == 0] = True
    return tail


def confusion_matrix(true: np.ndarray, pred: np.ndarray, size: int) -> np.ndarray:
    """``matrix[t, p]``: examples of class ``t`` predicted as ``p``."""
    return np.bincount(true * size + pred, minlength=size * size).reshape(size, size)


def _nanmean(values: np.ndarray) -> float:
    return float(np.mean(values[~np.isnan(values)])) if np.any(~np.isnan(values)) else float("nan")


@dataclass(frozen=True)
class AttributeScores:
    """How one head did on one labelled set; class arrays are in the taxonomy's class order."""

    name: str
    classes: tuple[str, ...]
    support: int
    accuracy: float
    macro_f1: float
    balanced_accuracy: float
    recall: np.ndarray  # per class, NaN where the class has no example
    tail: np.ndarray  # bool per class
    head_recall: float
    tail_recall: float
    true_distribution: np.ndarray  # share of each class among the labels
    predicted_distribution: np.ndarray  # share of each class among the predictions
    confusion: np.ndarray  # (K, K), rows true, columns predicted


def score_attribute(attribute: Attribute, true: np.ndarray, pred: np.ndarray,
                    train_counts: np.ndarray) -> AttributeScores:
    """Scores of one head; ``true`` may hold ``MISSING``, which is left out."""
    labelled = true != MISSING
    true, pred = true[labelled].astype(np.int64), pred[labelled].astype(np.int64)
    k = attribute.size
    matrix = confusion_matrix(true, pred, k)
    hits = np.diag(matrix).astype(np.float64)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, hits / support, np.nan)
        precision = np.where(predicted > 0, hits / predicted, 0.0)
        f1 = np.where(precision + np.nan_to_num(recall) > 0,
                      2 * precision * np.nan_to_num(recall) / (precision + np.nan_to_num(recall)), 0.0)
    present = (support > 0) | (predicted > 0)
    tail = tail_classes(train_counts)
    n = int(labelled.sum())
    return AttributeScores(
        name=attribute.name, classes=attribute.classes, support=n,
        accuracy=float(hits.sum() / n) if n else float("nan"),
        macro_f1=float(f1[present].mean()) if present.any() else float("nan"),
        balanced_accuracy=_nanmean(recall),
        recall=recall, tail=tail, head_recall=_nanmean(recall[~tail]), tail_recall=_nanmean(recall[tail]),
        true_distribution=support / max(n, 1), predicted_distribution=predicted / max(n, 1), confusion=matrix,
    )


def score_all(predictions: Mapping[str, np.ndarray], labels: np.ndarray, train_counts: Mapping[str, np.ndarray],
              attributes: tuple[Attribute, ...] = ATTRIBUTES) -> dict[str, AttributeScores]:
    """Scores of every head: ``predictions[name]`` are class indices, ``labels`` is ``(N, heads)``."""
    return {a.name: score_attribute(a, labels[:, j], np.asarray(predictions[a.name]), train_counts[a.name])
            for j, a in enumerate(attributes)}


def mean_of(scores: Mapping[str, AttributeScores], field: str) -> float:
    """The mean of one score over the heads that have it (a head with no labels has NaN and is skipped)."""
    return _nanmean(np.array([getattr(s, field) for s in scores.values()], dtype=np.float64))


def macro_f1(predictions: Mapping[str, np.ndarray], labels: np.ndarray,
             attributes: tuple[Attribute, ...] = ATTRIBUTES) -> float:
    """Mean over heads of macro-F1: what early stopping watches."""
    counts = {a.name: np.ones(a.size) for a in attributes}  # tail split unused here
    return mean_of(score_all(predictions, labels, counts, attributes), "macro_f1")
