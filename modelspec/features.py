"""Image features of a batch: the drift summary every tag carries and the measures of image quality.

Training (the reference profile) and serving (the tag's ``FeatureSummary``) compute them with the same
code on the same pixels, so live windows compare with the reference like for like.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from contracts import FeatureSummary
from modelspec.errors import ArrayShapeError
from modelspec.tensors import IMAGE_SIZE

#: ITU-R BT.601 luma weights, as Pillow's own RGB -> L conversion.
_LUMA = np.array([0.299, 0.587, 0.114])

#: The quantile of |Laplacian| that :attr:`ImageStats.edge_sharpness` takes: at 64 x 64 the 5th strongest
#: of 4,096 pixels, steadier than the maximum (a stray pixel counts a quarter as much) and still set by the
#: few pixels along an outline, whatever the share of plain background.
EDGE_QUANTILE = 0.999


@dataclass(frozen=True)
class ImageStats:
    """Per-image measures of a batch, each an (N,) float64 array.

    In units of full scale (255 = 1.0): ``brightness`` (mean BT.601 luma), ``contrast`` (its standard
    deviation), ``saturation`` (HSV's (max - min) / max per pixel, averaged), ``sharpness`` (the mean
    absolute 4-neighbour Laplacian of luma, edges repeated) and ``mean_rgb`` ((N, 3)).

    ``edge_sharpness`` is how steep the sharpest edges are for the picture's tonal range: the
    :data:`EDGE_QUANTILE` quantile of |Laplacian| divided by the luma range (max - min), 0 for a flat
    picture. It does not depend on contrast or on how much of the picture is plain background, so a pale
    top on a pale backdrop is as sharp as a black one on white, and blur lowers it. (Measured on synthetic
    garments, the mean |Laplacian| and the unscaled quantile both confuse low contrast with blur.)
    """

    brightness: np.ndarray
    contrast: np.ndarray
    saturation: np.ndarray
    sharpness: np.ndarray
    edge_sharpness: np.ndarray
    mean_rgb: np.ndarray  # (N, 3)

    def __len__(self) -> int:
        return len(self.contrast)


def measure(pixels: np.ndarray) -> ImageStats:
    """Every measure of a (N, IMAGE_SIZE, IMAGE_SIZE, 3) uint8 batch at once, each computed once."""
    if pixels.ndim != 4 or pixels.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3) or pixels.dtype != np.uint8:
        raise ArrayShapeError(f"expected (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3) uint8, got {pixels.shape} "
                              f"{pixels.dtype}")
    # float32 in units of 0..255 throughout (half the memory traffic of float64), scaled once at the end
    rgb = pixels.astype(np.float32)
    luma = rgb @ _LUMA.astype(np.float32)  # (N, H, W)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]  # elementwise: far faster than max(axis=3)
    top, bottom = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    spread = (top - bottom).astype(np.float32)
    saturation = np.divide(spread, top, out=np.zeros_like(spread), where=top > 0).mean(axis=(1, 2))
    padded = np.pad(luma, ((0, 0), (1, 1), (1, 1)), mode="edge")
    laplacian = np.abs(padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
                       - 4.0 * luma).reshape(len(pixels), IMAGE_SIZE * IMAGE_SIZE)
    kth = int(np.ceil(EDGE_QUANTILE * (laplacian.shape[1] - 1)))
    edges = np.partition(laplacian, kth, axis=1)[:, kth].astype(np.float64)
    tonal_range = (luma.max(axis=(1, 2)) - luma.min(axis=(1, 2))).astype(np.float64)
    edge_sharpness = np.divide(edges, tonal_range, out=np.zeros_like(edges), where=tonal_range > 0)

    def unit(values: np.ndarray) -> np.ndarray:
        return values.astype(np.float64) / 255.0

    return ImageStats(brightness=unit(luma.mean(axis=(1, 2))), contrast=unit(luma.std(axis=(1, 2))),
                      saturation=saturation.astype(np.float64), sharpness=unit(laplacian.mean(axis=1)),
                      edge_sharpness=edge_sharpness, mean_rgb=unit(rgb.mean(axis=(1, 2))))


def feature_summaries(stats: ImageStats, widths: Sequence[int], heights: Sequence[int],
                      nbytes: Sequence[int]) -> list[FeatureSummary]:
    """One :class:`FeatureSummary` per measured image, with its original size in pixels and bytes."""
    if not len(stats) == len(widths) == len(heights) == len(nbytes):
        raise ArrayShapeError("pixels, widths, heights and nbytes must have one entry per image")
    # (N, 6) in [0, 1], clipped against float rounding: brightness, contrast, saturation, mean r, g, b
    unit = np.clip(np.column_stack([stats.brightness, stats.contrast, stats.saturation, stats.mean_rgb]),
                   0.0, 1.0).tolist()
    return [
        FeatureSummary(width=int(w), height=int(h), bytes=int(n), brightness=u[0], contrast=u[1],
                       saturation=u[2], sharpness=sharp, mean_r=u[3], mean_g=u[4], mean_b=u[5])
        for w, h, n, u, sharp in zip(widths, heights, nbytes, unit, stats.sharpness.tolist(), strict=True)
    ]


def summarise(pixels: np.ndarray, widths: Sequence[int], heights: Sequence[int],
              nbytes: Sequence[int]) -> list[FeatureSummary]:
    """One :class:`FeatureSummary` per image of a (N, IMAGE_SIZE, IMAGE_SIZE, 3) uint8 batch, all at once
    (:func:`measure`, then :func:`feature_summaries`; measures as :class:`ImageStats` describes them)."""
    return feature_summaries(measure(pixels), widths, heights, nbytes)
