"""Is the picture good enough to tag? Blank, blurred and tiny images, judged over a whole batch at once.

The checks read the measures the tagger already takes for drift monitoring (:func:`imaging.measure`)
and the image's original size, so they cost a few comparisons per image:

- ``image_blank``: luma standard deviation (``contrast``) under ``min_contrast``: a blank or near-uniform
  picture, faint noise and faint gradients included;
- ``image_blurred``: the sharpest edges, for the picture's tonal range (``edge_sharpness``), under
  ``min_edge_sharpness``, for a picture that is not blank (a blank one has no edges to be sharp);
- ``image_tiny``: the shorter original side under ``min_side`` pixels.

The thresholds are ``TaggerSettings.quality_*``; how their defaults were chosen is written there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from contracts import ReviewReason
from modelspec.errors import ArrayShapeError
from modelspec.features import ImageStats


@dataclass(frozen=True)
class QualityThresholds:
    """Below any of these an image is too poor to trust its tags."""

    min_side: int
    min_contrast: float
    min_edge_sharpness: float


def assess(stats: ImageStats, widths: Sequence[int], heights: Sequence[int],
           thresholds: QualityThresholds) -> list[list[ReviewReason]]:
    """The image-quality reasons of every image in the batch, in :class:`ReviewReason` order; empty when fine."""
    if not len(stats) == len(widths) == len(heights):
        raise ArrayShapeError(f"stats, widths and heights must have one entry per image; got {len(stats)}, "
                              f"{len(widths)} and {len(heights)}")
    blank = stats.contrast < thresholds.min_contrast
    flags = {
        ReviewReason.IMAGE_BLANK: blank,
        ReviewReason.IMAGE_BLURRED: ~blank & (stats.edge_sharpness < thresholds.min_edge_sharpness),
        ReviewReason.IMAGE_TINY: np.minimum(np.asarray(widths), np.asarray(heights)) < thresholds.min_side,
    }
    columns = np.column_stack(list(flags.values())) if len(stats) else np.zeros((0, len(flags)), dtype=bool)
    reasons = list(flags)
    return [[reasons[i] for i in np.flatnonzero(row)] for row in columns]
