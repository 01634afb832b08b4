"""Labelled images in memory: the one shape every data source (synthetic or a real catalogue) becomes.

``labels[i, j]`` is the class index of attribute ``ATTRIBUTES[j]`` for image ``i``, or ``MISSING``
when that attribute is not labelled; the loss masks missing labels out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from model.errors import ModelArgumentError, UnknownNameError
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES
from modelspec.tensors import IMAGE_SIZE

MISSING = -1


@dataclass(frozen=True)
class LabelledImages:
    images: np.ndarray  # uint8 (N, IMAGE_SIZE, IMAGE_SIZE, 3)
    labels: np.ndarray  # int64 (N, len(ATTRIBUTES)), MISSING where unlabelled

    def __post_init__(self) -> None:
        n = self.images.shape[0]
        if self.images.dtype != np.uint8 or self.images.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
            raise ModelArgumentError(f"images must be uint8 (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3), "
                                     f"got {self.images.dtype} {self.images.shape}")
        if self.labels.shape != (n, len(ATTRIBUTES)):
            raise ModelArgumentError(f"labels must be ({n}, {len(ATTRIBUTES)}), got {self.labels.shape}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def subset(self, index: np.ndarray | Sequence[int]) -> LabelledImages:
        index = np.asarray(index)
        return LabelledImages(self.images[index], self.labels[index])

    def split(self, fraction: float, seed: int) -> tuple[LabelledImages, LabelledImages]:
        """A shuffled (1 - fraction, fraction) split, e.g. train and validation."""
        order = np.random.default_rng(seed).permutation(len(self))
        cut = len(self) - max(1, round(len(self) * fraction))
        return self.subset(order[:cut]), self.subset(order[cut:])

    def class_counts(self) -> dict[str, np.ndarray]:
        """Labelled examples per class, per attribute (missing labels not counted)."""
        return {a.name: np.bincount(self.labels[:, j][self.labels[:, j] != MISSING], minlength=a.size)
                for j, a in enumerate(ATTRIBUTES)}

    @staticmethod
    def concat(parts: Sequence[LabelledImages]) -> LabelledImages:
        return LabelledImages(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]))


def encode_labels(labels: Mapping[str, str | None]) -> np.ndarray:
    """One row of class indices from ``{attribute: class name or None}``; absent attributes are MISSING.

    Raises ``KeyError`` naming an unknown attribute and ``ValueError`` naming an unknown class.
    """
    row = np.full(len(ATTRIBUTES), MISSING, dtype=np.int64)
    for name, label in labels.items():
        if name not in ATTRIBUTE_NAMES:
            raise UnknownNameError(f"unknown attribute {name!r}; known: {', '.join(ATTRIBUTE_NAMES)}")
        if label is None:
            continue
        j = ATTRIBUTE_NAMES.index(name)
        classes = ATTRIBUTES[j].classes
        if label not in classes:
            raise ModelArgumentError(f"{label!r} is not a class of {name}; known: {', '.join(classes)}")
        row[j] = classes.index(label)
    return row
