"""Alibaba's FashionAI attribute dataset (Tianchi FashionAI Global Challenge 2018) as our labels.

Its label file is a CSV without a header, one row per (image, attribute)::

    Images/sleeve_length_labels/0a1b.jpg,sleeve_length_labels,nnnnnnnyn

The third cell has one mark per class of that attribute, in FashionAI's class order
(``FASHIONAI_CLASSES``): ``y`` the class, ``m`` maybe (ignored), ``n`` no. Rows of one image merge into
one record. A row whose marks hold exactly one ``y`` labels the image with that class, translated by
``MAPPING``; otherwise the attribute stays missing and a counter of ``NOTES`` says why.

What maps (FashionAI key -> our attribute; FashionAI classes with no equivalent become missing):

- ``sleeve_length_labels`` -> ``sleeve_length``: wrist length and extra long both count as ``long``.
- ``coat_length_labels`` -> ``garment_length``: high waist ``cropped``, regular ``regular``, long (to the
  hip) ``hip``, micro (upper thigh) ``long``, knee ``extra_long``; midi and ankle-and-floor coats are
  longer than any top our taxonomy describes and stay missing rather than stretch ``extra_long``.
- ``collar_design_labels``, ``neckline_design_labels``, ``neck_design_labels`` -> ``collar``: shirt collar,
  Peter Pan, V and deep V, square, off shoulder, round (``crew_neck``), turtle and low turtle neck map;
  puritan, rib, strapless, straight, sweetheart, one shoulder, ruffle semi-high and draped collars have
  no class of ours.

Skipped keys (``SKIPPED``): ``skirt_length_labels`` and ``pant_length_labels`` (not tops) and
``lapel_design_labels`` (jacket lapels; none of our collar classes). Their rows are checked for format
and counted, their images are not loaded. Every key's ``Invisible`` class (the part is not in the
picture) is missing, not a class.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from model.catalogue.errors import ErrorSink
from model.catalogue.records import CatalogueRecord, resolve_image
from modelspec.taxonomy import ATTRIBUTE_NAMES

#: FashionAI's attribute keys and their classes, in the order of the marks in a label string.
FASHIONAI_CLASSES: dict[str, tuple[str, ...]] = {
    "skirt_length_labels": ("Invisible", "Short Length", "Knee Length", "Midi Length", "Ankle Length",
                            "Floor Length"),
    "coat_length_labels": ("Invisible", "High Waist Length", "Regular Length", "Long Length", "Micro Length",
                           "Knee Length", "Midi Length", "Ankle&Floor Length"),
    "collar_design_labels": ("Invisible", "Shirt Collar", "Peter Pan", "Puritan Collar", "Rib Collar"),
    "lapel_design_labels": ("Invisible", "Notched", "Collarless", "Shawl Collar", "Plus Size Shawl"),
    "neck_design_labels": ("Invisible", "Turtle Neck", "Ruffle Semi-High Collar", "Low Turtle Neck",
                           "Draped Collar"),
    "neckline_design_labels": ("Invisible", "Strapless Neck", "Deep V Neckline", "Straight Neck", "V Neckline",
                               "Square Neckline", "Off Shoulder", "Round Neckline", "Sweat Heart Neck",
                               "One Shoulder Neckline"),
    "pant_length_labels": ("Invisible", "Short Pant", "Mid Length", "3/4 Length", "Cropped Pant", "Full Length"),
    "sleeve_length_labels": ("Invisible", "Sleeveless", "Cup Sleeves", "Short Sleeves", "Elbow Sleeves",
                             "3/4 Sleeves", "Wrist Length", "Long Sleeves", "Extra Long Sleeves"),
}


@dataclass(frozen=True)
class KeyMapping:
    attribute: str  # ours, from modelspec.taxonomy
    classes: Mapping[str, str | None]  # every FashionAI class of the key -> our class, None: no equivalent


MAPPING: dict[str, KeyMapping] = {
    "sleeve_length_labels": KeyMapping("sleeve_length", {
        "Invisible": None, "Sleeveless": "sleeveless", "Cup Sleeves": "cap", "Short Sleeves": "short",
        "Elbow Sleeves": "elbow", "3/4 Sleeves": "three_quarter", "Wrist Length": "long",
        "Long Sleeves": "long", "Extra Long Sleeves": "long"}),
    "coat_length_labels": KeyMapping("garment_length", {
        "Invisible": None, "High Waist Length": "cropped", "Regular Length": "regular", "Long Length": "hip",
        "Micro Length": "long", "Knee Length": "extra_long", "Midi Length": None, "Ankle&Floor Length": None}),
    "collar_design_labels": KeyMapping("collar", {
        "Invisible": None, "Shirt Collar": "shirt_collar", "Peter Pan": "peter_pan_collar",
        "Puritan Collar": None, "Rib Collar": None}),
    "neckline_design_labels": KeyMapping("collar", {
        "Invisible": None, "Strapless Neck": None, "Deep V Neckline": "v_neck", "Straight Neck": None,
        "V Neckline": "v_neck", "Square Neckline": "square_neck", "Off Shoulder": "off_shoulder",
        "Round Neckline": "crew_neck", "Sweat Heart Neck": None, "One Shoulder Neckline": None}),
    "neck_design_labels": KeyMapping("collar", {
        "Invisible": None, "Turtle Neck": "turtleneck", "Ruffle Semi-High Collar": None,
        "Low Turtle Neck": "turtleneck", "Draped Collar": None}),
}
SKIPPED: dict[str, str] = {
    "skirt_length_labels": "skirts are not tops",
    "pant_length_labels": "trousers are not tops",
    "lapel_design_labels": "jacket lapels match none of our collar classes",
}
#: The counters a FashionAI catalogue reports in ``Catalogue.notes``.
NOTES: dict[str, str] = {
    "no_y": "rows with no 'y': attribute missing",
    "several_y": "rows with more than one 'y': attribute missing",
    "invisible": "rows whose 'y' is Invisible: attribute missing",
    "no_equivalent": "rows whose 'y' class has no equivalent of ours: attribute missing",
    "with_maybe": "rows with an 'm' mark (ignored)",
    "skipped_key": "rows of a key we do not map (see SKIPPED)",
    "conflict": "images whose rows give one attribute two classes: attribute missing",
    "unlabelled_images": "images left with no label at all: not loaded",
}
_MARKS = frozenset("ymn")
IMAGE, KEY, LABELS = 1, 2, 3  # column positions, as errors name them


@dataclass
class _Image:
    line: int  # its first row
    found: dict[str, set[str]]  # our attribute -> our classes its rows gave


def read_fashionai(path: Path, *, root: Path, sink: ErrorSink) -> tuple[list[CatalogueRecord], Counter[str]]:
    notes: Counter[str] = Counter({key: 0 for key in NOTES})
    images: dict[Path, _Image] = {}
    with path.open(newline="", encoding="utf-8-sig") as file:
        reader = csv.reader(file)
        start = 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) != 3:
                sink.report(f"{len(cells)} cells, expected 3: image path, attribute key, label marks", line=line)
                continue
            text, key, marks = (cell.strip() for cell in cells)
            if not _valid(text, key, marks, line, sink):
                continue
            if key in SKIPPED:
                notes["skipped_key"] += 1
                continue
            image = resolve_image(root, text)
            if not image.is_file():
                sink.report(f"image file {image} not found", line=line, column=IMAGE,
                            hint=f"relative paths resolve against {root}")
                continue
            entry = images.setdefault(image, _Image(line, {}))
            label = _label(key, marks, notes)
            found = entry.found.setdefault(MAPPING[key].attribute, set())
            if label is not None:
                found.add(label)
    return _records(images, notes), notes


def _valid(text: str, key: str, marks: str, line: int, sink: ErrorSink) -> bool:
    """Reports every bad cell of a row; True when there is none."""
    ok = True
    if not text:
        sink.report("no image path", line=line, column=IMAGE)
        ok = False
    if key not in FASHIONAI_CLASSES:
        sink.report(f"{key!r} is not a FashionAI attribute key; keys: {', '.join(FASHIONAI_CLASSES)}",
                    line=line, column=KEY)
        return False
    classes = FASHIONAI_CLASSES[key]
    if len(marks) != len(classes):
        sink.report(f"{marks!r} has {len(marks)} marks, {key} has {len(classes)} classes "
                    f"({', '.join(classes)})", line=line, column=LABELS)
        ok = False
    elif bad := sorted(set(marks) - _MARKS):
        sink.report(f"{marks!r} has marks {', '.join(map(repr, bad))}; only 'y', 'm' and 'n' are allowed",
                    line=line, column=LABELS)
        ok = False
    return ok


def _label(key: str, marks: str, notes: Counter[str]) -> str | None:
    """Our class for one row, or None (counted in ``notes``)."""
    if "m" in marks:
        notes["with_maybe"] += 1
    yes = [i for i, mark in enumerate(marks) if mark == "y"]
    if len(yes) != 1:
        notes["no_y" if not yes else "several_y"] += 1
        return None
    theirs = FASHIONAI_CLASSES[key][yes[0]]
    ours = MAPPING[key].classes[theirs]
    if ours is None:
        notes["invisible" if theirs == "Invisible" else "no_equivalent"] += 1
    return ours


def _records(images: dict[Path, _Image], notes: Counter[str]) -> list[CatalogueRecord]:
    records: list[CatalogueRecord] = []
    for image, entry in images.items():
        labels: dict[str, str | None] = dict.fromkeys(ATTRIBUTE_NAMES)
        for attribute, found in entry.found.items():
            if len(found) == 1:
                (labels[attribute],) = found
            elif len(found) > 1:
                notes["conflict"] += 1
        if all(label is None for label in labels.values()):
            notes["unlabelled_images"] += 1
            continue
        records.append(CatalogueRecord(image=image, labels=labels, line=entry.line))
    return records
