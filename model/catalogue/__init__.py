"""Real labelled catalogues as training data: our CSV and JSON Lines label files, and FashionAI's.

``load_catalogue`` reads a label file into a :class:`Catalogue` (one record per image, each attribute a
class of ``model.taxonomy`` or None); ``Catalogue.to_dataset`` decodes the images with the
tagger's own preprocessing into :class:`~model.dataset.LabelledImages`. Every bad row is a
:class:`CatalogueError` naming the file, the line and the column; ``strict=False`` collects them all
and loads the good rows.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Literal

from model.catalogue.errors import CatalogueError, ErrorSink
from model.catalogue.fashionai import FASHIONAI_CLASSES, MAPPING, NOTES, SKIPPED, read_fashionai
from model.catalogue.records import (
    DEFAULT_MAX_PIXELS,
    Catalogue,
    CatalogueRecord,
    CatalogueSummary,
    Format,
)
from model.catalogue.tabular import COLUMNS, IMAGE_COLUMN, read_csv, read_jsonl

__all__ = [
    "COLUMNS", "DEFAULT_MAX_PIXELS", "FASHIONAI_CLASSES", "IMAGE_COLUMN", "MAPPING", "NOTES", "SKIPPED",
    "Catalogue", "CatalogueError", "CatalogueRecord", "CatalogueSummary", "Format", "detect_format",
    "load_catalogue",
]

log = logging.getLogger(__name__)
_JSONL_SUFFIXES = frozenset({".jsonl", ".ndjson"})
_FORMAT_HINT = "pass the format explicitly: csv, jsonl or fashionai"


def load_catalogue(path: Path, *, format: Literal["auto", "csv", "jsonl", "fashionai"] = "auto",
                   strict: bool = True, image_root: Path | None = None) -> Catalogue:
    """Read a label file. Relative image paths resolve against ``image_root``; by default the label file's
    folder, or for FashionAI's own layout (the label file in ``Annotations/``) that folder's parent.

    Strict (the default): the first bad row raises ``CatalogueError``. Otherwise bad rows are left out and
    listed in ``Catalogue.errors``; a file with nothing to load (unreadable, no header) still raises.
    """
    if not path.is_file():
        raise CatalogueError("no such label file", path=path)
    fmt: Format = detect_format(path) if format == "auto" else format
    root = image_root if image_root is not None else _default_root(path, fmt)
    sink = ErrorSink(path, strict=strict)
    notes: dict[str, int] = {}
    try:
        if fmt == "fashionai":
            records, counts = read_fashionai(path, root=root, sink=sink)
            notes = dict(counts)
        elif fmt == "jsonl":
            records = read_jsonl(path, root=root, sink=sink)
        else:
            records = read_csv(path, root=root, sink=sink)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise CatalogueError(f"cannot read the label file as {fmt}: {e}", path=path) from e
    catalogue = Catalogue(path=path, format=fmt, records=tuple(records), errors=tuple(sink.errors), notes=notes,
                          image_column=1 if fmt == "fashionai" else IMAGE_COLUMN)
    log.info("%s: %d images from a %s label file, %d bad rows skipped", path, len(records), fmt, len(sink.errors))
    return catalogue


def detect_format(path: Path) -> Format:
    """JSON Lines by suffix or a first line that opens an object; FashionAI when the first line's second
    cell is a FashionAI attribute key; otherwise CSV with a header (a ``.csv`` file, or one with an
    ``image`` column)."""
    if path.suffix.lower() in _JSONL_SUFFIXES:
        return "jsonl"
    try:
        with path.open(newline="", encoding="utf-8-sig") as file:
            first = next((text for text in file if text.strip()), "")
    except (OSError, UnicodeDecodeError) as e:
        raise CatalogueError(f"cannot read the label file: {e}", path=path) from e
    if not first:
        raise CatalogueError("the label file is empty", path=path, line=1)
    if first.lstrip().startswith("{"):
        return "jsonl"
    cells = [cell.strip() for cell in next(csv.reader([first]), [])]
    if len(cells) == 3 and cells[1] in FASHIONAI_CLASSES:
        return "fashionai"
    if IMAGE_COLUMN in cells or path.suffix.lower() == ".csv":
        return "csv"
    raise CatalogueError("cannot tell the format from the first line", path=path, line=1, hint=_FORMAT_HINT)


def _default_root(path: Path, fmt: Format) -> Path:
    folder = path.parent
    return folder.parent if fmt == "fashionai" and folder.name == "Annotations" else folder
