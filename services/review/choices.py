"""The labels a reviewer may choose per attribute: the model's label files, or the shared taxonomy.

A Triton model folder has one ``probs_<attribute>.labels.txt`` per head (one class per line, in output
order), exactly what the model can say; the console reads them when ``labels_dir`` names that folder, and
the taxonomy in ``modelspec`` otherwise (the same lists: the export writes the files from it). A label the
item itself shows (its prediction or a top-k alternative) is always a choice, so an item from a newer model
version with a class the files lack can still be confirmed.
"""

from __future__ import annotations

from pathlib import Path

from modelspec.taxonomy import ATTRIBUTES
from modelspec.tensors import output_name
from services.review.errors import ReviewError


class LabelChoices:
    def __init__(self, by_attribute: dict[str, tuple[str, ...]]) -> None:
        self._by_attribute = by_attribute

    @classmethod
    def from_taxonomy(cls) -> LabelChoices:
        return cls({a.name: a.classes for a in ATTRIBUTES})

    @classmethod
    def from_label_files(cls, folder: Path) -> LabelChoices:
        by_attribute: dict[str, tuple[str, ...]] = {}
        for attribute in ATTRIBUTES:
            path = folder / f"{output_name(attribute.name)}.labels.txt"
            try:
                lines = path.read_text().splitlines()
            except OSError as e:
                raise ReviewError(f"cannot read the label file {path}: {e.strerror}", field="labels_dir",
                                  hint="point TAGSTREAM_LABELS_DIR at a model folder with probs_*.labels.txt, "
                                       "or unset it to use the taxonomy") from e
            by_attribute[attribute.name] = tuple(line.strip() for line in lines if line.strip())
        return cls(by_attribute)

    def for_attribute(self, attribute: str, shown: list[str]) -> list[str]:
        """Every label of the attribute, the ones the item shows first (prediction, then top-k)."""
        known = self._by_attribute.get(attribute, ())
        first = list(dict.fromkeys(shown))
        return first + [label for label in known if label not in first]
