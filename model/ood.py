"""The out-of-distribution score: Mahalanobis distance of an image's embedding to the training set.

``fit_ood`` fits one Gaussian to the backbone embeddings of the training images (mean and a shrunk
covariance, ``(1 - shrinkage) * S + shrinkage * mean(diag S) * I``, so that the precision exists even
for features that barely vary), then sets the threshold to a quantile of the distances of the
*validation* garments: with the default quantile 0.99, about 1% of in-distribution images are flagged.
The served score is ``distance / threshold`` (``model.trained.ServingModel``), so above 1.0 an
image counts as out of distribution whatever the model version.
"""

from __future__ import annotations

import numpy as np
import torch

from model.errors import ModelArgumentError, TrainingDataError
from model.trained import OodStats

DEFAULT_QUANTILE = 0.99
DEFAULT_SHRINKAGE = 0.1


def fit_gaussian(embeddings: np.ndarray, shrinkage: float = DEFAULT_SHRINKAGE) -> tuple[np.ndarray, np.ndarray]:
    """Mean and precision (inverse shrunk covariance) of ``embeddings`` (N, F)."""
    x = np.asarray(embeddings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ModelArgumentError(f"need at least 2 embeddings of shape (N, F) to fit the OOD Gaussian, got {x.shape}")
    if not 0.0 <= shrinkage <= 1.0:
        raise ModelArgumentError(f"shrinkage must be in [0, 1], got {shrinkage}")
    mean = x.mean(axis=0)
    covariance = np.cov(x, rowvar=False).reshape(x.shape[1], x.shape[1])
    scale = max(float(np.trace(covariance)) / x.shape[1], 1e-12)
    shrunk = (1.0 - shrinkage) * covariance + shrinkage * scale * np.eye(x.shape[1])
    return mean, np.linalg.pinv(shrunk, hermitian=True)


def distances(stats: OodStats, embeddings: np.ndarray) -> np.ndarray:
    """Mahalanobis distance of each embedding to the training Gaussian (not divided by the threshold)."""
    return stats.distance(torch.as_tensor(np.asarray(embeddings), dtype=stats.mean.dtype)).numpy()


def fit_ood(train_embeddings: np.ndarray, val_embeddings: np.ndarray, *, quantile: float = DEFAULT_QUANTILE,
            shrinkage: float = DEFAULT_SHRINKAGE) -> OodStats:
    """The Gaussian of the training embeddings, thresholded at ``quantile`` of the validation distances."""
    if not 0.0 < quantile <= 1.0:
        raise ModelArgumentError(f"quantile must be in (0, 1], got {quantile}")
    if len(val_embeddings) == 0:
        raise TrainingDataError("no validation embeddings to choose the OOD threshold on; raise val_fraction")
    mean, precision = fit_gaussian(train_embeddings, shrinkage)
    stats = OodStats(mean=torch.tensor(mean, dtype=torch.float32), precision=torch.tensor(precision,
                                                                                           dtype=torch.float32))
    threshold = float(np.quantile(distances(stats, val_embeddings), quantile))
    stats.threshold = max(threshold, 1e-6)
    return stats


def auroc(in_scores: np.ndarray, out_scores: np.ndarray) -> float:
    """Area under the ROC curve of telling ``out_scores`` (positives, higher) from ``in_scores``.

    The Mann-Whitney statistic with ties counted half: the chance a random outlier scores above a random
    inlier.
    """
    inliers, outliers = np.asarray(in_scores, dtype=np.float64), np.asarray(out_scores, dtype=np.float64)
    if len(inliers) == 0 or len(outliers) == 0:
        raise ModelArgumentError("AUROC needs at least one in-distribution and one out-of-distribution score")
    scores = np.concatenate([inliers, outliers])
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based, averaged over ties
    rank_sum = ranks[len(inliers):].sum()
    n_out = len(outliers)
    return float((rank_sum - n_out * (n_out + 1) / 2.0) / (n_out * len(inliers)))
