"""Our own label files: CSV with a header, or JSON Lines; one image per row, any of the 13 attributes.

A row names its image in the ``image`` column (relative paths resolve against the image root, by default
the label file's folder) and gives a class of ``model.taxonomy`` for any attribute it labels.
An empty cell, a JSON ``null`` or an absent column or key means "not labelled"::

    image,category,main_colour,collar
    img/p-1.jpg,t_shirt,red,
    img/p-2.jpg,,navy,v_neck

    {"image": "img/p-1.jpg", "category": "t_shirt", "main_colour": "red", "collar": null}
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from model.catalogue.errors import ErrorSink
from model.catalogue.records import CatalogueRecord, resolve_image
from modelspec.taxonomy import ATTRIBUTE_NAMES, BY_NAME

IMAGE_COLUMN = "image"
COLUMNS: tuple[str, ...] = (IMAGE_COLUMN, *ATTRIBUTE_NAMES)
_KNOWN = f"known columns: {', '.join(COLUMNS)}"


class _RowReader:
    """Turns one row's cells into a record, reporting every bad cell; shared by CSV and JSONL."""

    def __init__(self, root: Path, sink: ErrorSink) -> None:
        self.root = root
        self.sink = sink
        self.first_line: dict[Path, int] = {}

    def record(self, values: Mapping[str, str | None], line: int) -> CatalogueRecord | None:
        ok = True
        labels: dict[str, str | None] = {}
        for name in ATTRIBUTE_NAMES:
            value = (values.get(name) or "").strip() or None
            if value is not None and value not in BY_NAME[name].classes:
                self.sink.report(f"{value!r} is not a class of {name}; classes: {', '.join(BY_NAME[name].classes)}",
                                 line=line, column=name, hint="leave the cell empty if the class is unknown")
                ok = False
            labels[name] = value
        text = (values.get(IMAGE_COLUMN) or "").strip()
        if not text:
            self.sink.report("no image path", line=line, column=IMAGE_COLUMN)
            return None
        image = resolve_image(self.root, text)
        if image in self.first_line:
            self.sink.report(f"image {text} is already listed on line {self.first_line[image]}", line=line,
                             column=IMAGE_COLUMN, hint="keep one row per image: duplicates leak across splits")
            return None
        if not image.is_file():
            self.sink.report(f"image file {image} not found", line=line, column=IMAGE_COLUMN,
                             hint=f"relative paths resolve against {self.root}")
            return None
        self.first_line[image] = line
        return CatalogueRecord(image=image, labels=labels, line=line) if ok else None


def read_csv(path: Path, *, root: Path, sink: ErrorSink) -> list[CatalogueRecord]:
    rows = _RowReader(root, sink)
    records: list[CatalogueRecord] = []
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        header = [cell.strip() for cell in next(reader, [])]
        if not any(header):
            raise sink.fatal("no header; the first line must name the columns", line=1, hint=_KNOWN)
        columns = _columns(header, sink)
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1  # a quoted cell may span lines: report the first
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != len(header):
                sink.report(f"{len(cells)} cells, the header has {len(header)}", line=line,
                            hint="quote cells that contain commas")
                continue
            record = rows.record({name: cells[i] for i, name in columns}, line)
            if record is not None:
                records.append(record)
    return records


def _columns(header: list[str], sink: ErrorSink) -> list[tuple[int, str]]:
    """(position, name) of the columns to read; an unknown column is reported, then ignored."""
    if IMAGE_COLUMN not in header:
        raise sink.fatal(f"no {IMAGE_COLUMN!r} column in the header", line=1, column=IMAGE_COLUMN, hint=_KNOWN)
    columns: list[tuple[int, str]] = []
    for i, name in enumerate(header):
        if name not in COLUMNS:
            sink.report(f"unknown column {name!r}", line=1, column=name, hint=_KNOWN)
        elif name in header[:i]:
            sink.report(f"column {name!r} appears twice", line=1, column=name)
        else:
            columns.append((i, name))
    return columns


def read_jsonl(path: Path, *, root: Path, sink: ErrorSink) -> list[CatalogueRecord]:
    rows = _RowReader(root, sink)
    records: list[CatalogueRecord] = []
    reported: set[str] = set()  # unknown keys, each reported at its first line only
    for line, obj in _objects(path, sink):
        values: dict[str, str | None] = {}
        ok = True
        for key, value in obj.items():
            if key not in COLUMNS:
                if key not in reported:
                    reported.add(key)
                    sink.report(f"unknown key {key!r}", line=line, column=key, hint=_KNOWN)
            elif value is None or isinstance(value, str):
                values[key] = value
            else:
                sink.report(f"expected a string or null, got {json.dumps(value)[:60]}", line=line, column=key)
                ok = False
        record = rows.record(values, line)
        if ok and record is not None:
            records.append(record)
    return records


def _objects(path: Path, sink: ErrorSink) -> Iterator[tuple[int, dict[str, object]]]:
    with path.open(encoding="utf-8-sig") as file:
        for line, text in enumerate(file, start=1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                sink.report(f"not JSON: {e.msg} at character {e.colno}", line=line)
                continue
            if not isinstance(obj, dict):
                sink.report(f"expected a JSON object, got {type(obj).__name__}", line=line)
                continue
            yield line, obj
