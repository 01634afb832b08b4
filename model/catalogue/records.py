"""A loaded catalogue: one record per image with its labels, a summary, and the images as training data.

``Catalogue.to_dataset`` decodes every image with the tagger's own ``decode``, so the pixels a model is
trained on are the pixels it is served.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from rich.progress import track

from model.catalogue.errors import CatalogueError
from model.dataset import LabelledImages, encode_labels
from modelspec.errors import InputError
from modelspec.preprocess import DEFAULT_MAX_PIXELS, decode
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES
from modelspec.tensors import IMAGE_SIZE

log = logging.getLogger(__name__)

Format = Literal["csv", "jsonl", "fashionai"]


@dataclass(frozen=True)
class CatalogueRecord:
    image: Path
    labels: Mapping[str, str | None]  # every name of ATTRIBUTE_NAMES; None where not labelled
    line: int  # the line of the label file it comes from (its first row, for FashionAI)


@dataclass(frozen=True)
class CatalogueSummary:
    rows: int  # records, i.e. images
    labelled: dict[str, int]  # attribute -> records with a class
    missing: dict[str, int]  # attribute -> records without one
    classes: dict[str, dict[str, int]]  # attribute -> class -> records, in taxonomy order
    notes: dict[str, int]  # reader-specific counters (see the reader's NOTES), e.g. FashionAI's no_y
    errors: int  # rows skipped because they were bad (only when loaded with strict=False)

    def lines(self) -> list[str]:
        """Plain text, one line per fact, for a command line to print."""
        out = [f"{self.rows} images, {self.errors} bad rows skipped"]
        width = max(len(name) for name in ATTRIBUTE_NAMES)
        for name in ATTRIBUTE_NAMES:
            seen = sorted(((n, label) for label, n in self.classes[name].items() if n), reverse=True)
            commonest = ", ".join(f"{label} {n}" for n, label in seen[:3]) + (", ..." if len(seen) > 3 else "")
            out.append(f"{name:<{width}}  labelled {self.labelled[name]:>7}  missing {self.missing[name]:>7}  "
                       f"{commonest}".rstrip())
        out.extend(f"{key}: {count}" for key, count in self.notes.items())
        return out


@dataclass(frozen=True)
class Catalogue:
    path: Path  # the label file
    format: Format
    records: tuple[CatalogueRecord, ...]
    errors: tuple[CatalogueError, ...] = ()  # bad rows, skipped; always empty when loaded strictly
    notes: Mapping[str, int] = field(default_factory=dict)
    image_column: str | int = "image"  # how errors about an image name its column

    def __len__(self) -> int:
        return len(self.records)

    def summary(self) -> CatalogueSummary:
        counts = {a.name: Counter(r.labels.get(a.name) for r in self.records) for a in ATTRIBUTES}
        labelled = {name: len(self.records) - counts[name][None] for name in ATTRIBUTE_NAMES}
        return CatalogueSummary(
            rows=len(self.records), labelled=labelled,
            missing={name: counts[name][None] for name in ATTRIBUTE_NAMES},
            classes={a.name: {c: counts[a.name][c] for c in a.classes} for a in ATTRIBUTES},
            notes=dict(self.notes), errors=len(self.errors))

    def to_dataset(self, *, progress: bool = False, max_pixels: int = DEFAULT_MAX_PIXELS,
                   strict: bool = True) -> LabelledImages:
        """Every record's image, decoded as the tagger decodes it, with its labels; in record order.

        An image that cannot be read or decoded is a ``CatalogueError`` naming the label file, the line and
        the image column; with ``strict=False`` it is logged and left out instead.
        """
        n = len(self.records)
        images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        labels = np.empty((n, len(ATTRIBUTE_NAMES)), dtype=np.int64)
        kept = 0
        for record in track(self.records, description="decoding images", disable=not progress, total=n):
            try:
                images[kept] = self._pixels(record, max_pixels)
            except CatalogueError as e:
                if strict:
                    raise
                log.warning("skipped: %s", e)
                continue
            labels[kept] = encode_labels(record.labels)
            kept += 1
        if kept < n:
            log.warning("%d of %d images could not be used and were left out", n - kept, n)
            images, labels = images[:kept].copy(), labels[:kept].copy()
        return LabelledImages(images, labels)

    def _pixels(self, record: CatalogueRecord, max_pixels: int) -> np.ndarray:
        try:
            raw = record.image.read_bytes()
        except OSError as e:
            raise self._error(record, f"cannot read image {record.image}: {e.strerror or e}",
                              "check the path and its permissions") from e
        try:
            return decode(raw, max_pixels=max_pixels, field=str(self.image_column)).pixels
        except InputError as e:
            raise self._error(record, f"image {record.image} is unusable ({e.code}): {e.message}",
                              "replace the file or drop its row") from e

    def _error(self, record: CatalogueRecord, message: str, hint: str) -> CatalogueError:
        return CatalogueError(message, path=self.path, line=record.line, column=self.image_column, hint=hint)


def resolve_image(root: Path, text: str) -> Path:
    """An image path from a label file: absolute as written, relative against ``root``."""
    path = Path(text)
    return path if path.is_absolute() else root / path
