"""Real label files: CSV, JSON Lines and FashionAI load into records; every bad row names file, line, column."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from model.catalogue import (
    COLUMNS,
    FASHIONAI_CLASSES,
    MAPPING,
    SKIPPED,
    CatalogueError,
    detect_format,
    load_catalogue,
)
from model.dataset import MISSING, encode_labels
from modelspec.preprocess import decode
from modelspec.taxonomy import ATTRIBUTE_NAMES, BY_NAME

SLEEVE = "sleeve_length_labels"  # 9 FashionAI classes: Invisible, Sleeveless, Cup, Short, Elbow, 3/4, ...


def _image(path: Path, colour: tuple[int, ...] = (200, 30, 40), *, size: tuple[int, int] = (40, 30),
           mode: str = "RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour).save(path)
    return path


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _marks(key: str, *yes: int, maybe: tuple[int, ...] = ()) -> str:
    return "".join("y" if i in yes else "m" if i in maybe else "n" for i in range(len(FASHIONAI_CLASSES[key])))


@pytest.fixture
def images(tmp_path: Path) -> Path:
    """A folder with img/a.png and img/b.png; label files written beside img/ find them by relative path."""
    _image(tmp_path / "img" / "a.png", (200, 30, 40))
    _image(tmp_path / "img" / "b.png", (20, 40, 120))
    return tmp_path


def test_csv_rows_load_with_their_labels_and_empty_cells_as_missing(images: Path) -> None:
    path = _write(images / "labels.csv", "image,category,main_colour,collar\n"
                                         "img/a.png,t_shirt,red,\n"
                                         "img/b.png, ,navy,v_neck\n")
    catalogue = load_catalogue(path)
    assert catalogue.format == "csv"
    a, b = catalogue.records
    assert (a.image, a.line, b.image, b.line) == (images / "img" / "a.png", 2, images / "img" / "b.png", 3)
    assert set(a.labels) == set(ATTRIBUTE_NAMES)
    assert {k: v for k, v in a.labels.items() if v is not None} == {"category": "t_shirt", "main_colour": "red"}
    assert {k: v for k, v in b.labels.items() if v is not None} == {"main_colour": "navy", "collar": "v_neck"}


def test_jsonl_rows_load_with_null_and_absent_keys_as_missing(images: Path) -> None:
    rows = [{"image": "img/a.png", "fit": "slim", "fabric": None}, {"image": "img/b.png", "fabric": "silk"}]
    path = _write(images / "labels.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    a, b = load_catalogue(path).records
    assert (a.labels["fit"], a.labels["fabric"], b.labels["fit"], b.labels["fabric"]) == ("slim", None, None, "silk")
    assert (a.line, b.line) == (1, 2)


def test_relative_paths_resolve_against_the_label_folder_or_image_root_and_absolute_ones_stay(
        tmp_path: Path) -> None:
    elsewhere = _image(tmp_path / "elsewhere" / "c.png")
    _image(tmp_path / "photos" / "img" / "a.png")
    path = _write(tmp_path / "labels" / "catalogue.csv", f"image,fit\n{elsewhere},slim\nimg/a.png,loose\n")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)  # img/a.png is not under labels/
    assert (caught.value.line, caught.value.column) == (3, "image")
    records = load_catalogue(path, image_root=tmp_path / "photos").records
    assert [r.image for r in records] == [elsewhere, tmp_path / "photos" / "img" / "a.png"]


_CSV_HEAD = "image,category,collar\n"
_CSV_OK = "img/a.png,t_shirt,v_neck\n"
_ERRORS = [
    # (file name, contents, line, column, words the message must contain)
    ("l.csv", "image,colour\nimg/a.png,red\n", 1, "colour", ["unknown column", "known columns: image, category"]),
    ("l.csv", "category,collar\nt_shirt,v_neck\n", 1, "image", ["no 'image' column"]),
    ("l.csv", "\n\n", 1, None, ["the label file is empty"]),
    ("l.csv", "\nimage,fit\n", 1, None, ["no header"]),
    ("l.csv", "image,collar,collar\nimg/a.png,v_neck,v_neck\n", 1, "collar", ["appears twice"]),
    ("l.csv", _CSV_HEAD + _CSV_OK + "img/b.png,t_shirt,vneck\n", 3, "collar",
     ["'vneck' is not a class of collar", "v_neck"]),
    ("l.csv", _CSV_HEAD + "img/zz.png,t_shirt,v_neck\n", 2, "image", ["zz.png not found"]),
    ("l.csv", _CSV_HEAD + ",t_shirt,v_neck\n", 2, "image", ["no image path"]),
    ("l.csv", _CSV_HEAD + _CSV_OK + "img/b.png,t_shirt\n", 3, None, ["2 cells, the header has 3"]),
    ("l.csv", _CSV_HEAD + _CSV_OK + "\n" + _CSV_OK, 4, "image", ["already listed on line 2"]),
    ("l.csv", _CSV_HEAD + '"img/a.png",t_shirt,"v_neck"\n"img/b.png",t_shirt,"v\nneck"\n', 3, "collar",
     ["'v\\nneck'"]),
    ("l.jsonl", '{"image": "img/a.png"}\n{"image": "img/b.png",\n', 2, None, ["not JSON"]),
    ("l.jsonl", '{"image": "img/a.png"}\n["img/b.png"]\n', 2, None, ["expected a JSON object, got list"]),
    ("l.jsonl", '{"image": "img/a.png", "colour": "red"}\n', 1, "colour", ["unknown key", "known columns"]),
    ("l.jsonl", '{"image": "img/a.png", "fit": 3}\n', 1, "fit", ["expected a string or null, got 3"]),
    ("l.jsonl", '\n{"image": "img/a.png", "fit": "baggy"}\n', 2, "fit", ["'baggy' is not a class of fit"]),
    ("l.jsonl", '{"category": "t_shirt"}\n', 1, "image", ["no image path"]),
    ("l.jsonl", '{"image": "img/zz.png"}\n', 1, "image", ["not found"]),
    ("l.txt", f"img/a.png,{SLEEVE},{_marks(SLEEVE, 3)[:-1]}\n", 1, 3, ["8 marks", "has 9 classes", "Invisible"]),
    ("l.txt", f"img/a.png,{SLEEVE},{_marks(SLEEVE, 3)}\nimg/b.png,{SLEEVE},nnnYnnnnn\n", 2, 3, ["'Y'"]),
    ("l.txt", f"img/a.png,{SLEEVE},{_marks(SLEEVE, 3)}\nimg/b.png,shoe_labels,nny\n", 2, 2,
     ["'shoe_labels' is not a FashionAI attribute key", "sleeve_length_labels"]),
    ("l.txt", f"img/zz.png,{SLEEVE},{_marks(SLEEVE, 3)}\n", 1, 1, ["zz.png not found"]),
    ("l.txt", f"img/a.png,{SLEEVE},{_marks(SLEEVE, 3)}\nimg/b.png,{SLEEVE}\n", 2, None, ["2 cells, expected 3"]),
]


@pytest.mark.parametrize(("name", "text", "line", "column", "words"), _ERRORS,
                         ids=[f"{n}:{w[0]}" for n, _, _, _, w in _ERRORS])
def test_a_bad_row_is_an_error_naming_the_file_line_and_column(images: Path, name: str, text: str, line: int,
                                                                column: str | int | None,
                                                                words: list[str]) -> None:
    path = _write(images / name, text)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path, format="fashionai" if name.endswith(".txt") else "auto")
    error = caught.value
    assert (error.path, error.line, error.column) == (path, line, column)
    assert str(error).startswith(f"{path}:{line}")
    for word in words:
        assert word in str(error)


def test_not_strict_collects_every_bad_row_and_keeps_the_good_ones(images: Path) -> None:
    _image(images / "img" / "c.png")
    path = _write(images / "labels.csv", "image,fit,colour\n"
                                         "img/a.png,slim,red\n"
                                         "img/zz.png,slim,red\n"
                                         "img/b.png,baggy,red\n"
                                         "img/c.png,loose,red\n")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    assert (caught.value.line, caught.value.column) == (1, "colour")  # strict: the first error only
    catalogue = load_catalogue(path, strict=False)
    assert [(e.line, e.column) for e in catalogue.errors] == [(1, "colour"), (3, "image"), (4, "fit")]
    assert [(r.line, r.labels["fit"]) for r in catalogue.records] == [(2, "slim"), (5, "loose")]
    assert catalogue.summary().errors == 3


def test_fashionai_rows_of_one_image_merge_and_undecided_rows_are_counted_as_missing(tmp_path: Path) -> None:
    for name in "abcdef":
        _image(tmp_path / "Images" / f"{name}.jpg")
    neckline, coat, lapel = "neckline_design_labels", "coat_length_labels", "lapel_design_labels"
    rows = [
        ("a", SLEEVE, _marks(SLEEVE, 6, maybe=(7,))),  # Wrist Length -> long; an 'm' is ignored
        ("a", coat, _marks(coat, 3)),  # Long Length -> hip
        ("a", neckline, _marks(neckline, 7)),  # Round Neckline -> crew_neck
        ("b", SLEEVE, _marks(SLEEVE)),  # no y
        ("b", coat, _marks(coat, 2, 3)),  # several y
        ("b", neckline, _marks(neckline, 4)),  # V Neckline -> v_neck
        ("c", SLEEVE, _marks(SLEEVE, 0)),  # Invisible: the only row of c, so c is not loaded
        ("d", neckline, _marks(neckline, 8)),  # Sweat Heart Neck: no equivalent
        ("d", SLEEVE, _marks(SLEEVE, 1)),  # Sleeveless
        ("e", neckline, _marks(neckline, 4)),
        ("e", neckline, _marks(neckline, 5)),  # V then Square: conflict
        ("e", SLEEVE, _marks(SLEEVE, 3)),
        ("f", lapel, _marks(lapel, 1)),  # skipped key: f is not loaded
        ("zz", lapel, _marks(lapel, 1)),  # skipped key: its image is never looked for
    ]
    path = _write(tmp_path / "Annotations" / "label.csv",
                  "".join(f"Images/{name}.jpg,{key},{marks}\n" for name, key, marks in rows))
    catalogue = load_catalogue(path)
    assert catalogue.format == "fashionai"
    labelled = {r.image.stem: {k: v for k, v in r.labels.items() if v is not None} for r in catalogue.records}
    assert labelled == {
        "a": {"sleeve_length": "long", "garment_length": "hip", "collar": "crew_neck"},
        "b": {"collar": "v_neck"},
        "d": {"sleeve_length": "sleeveless"},
        "e": {"sleeve_length": "short"},
    }
    assert [r.line for r in catalogue.records] == [1, 4, 8, 10]
    assert catalogue.notes == {"no_y": 1, "several_y": 1, "invisible": 1, "no_equivalent": 1, "with_maybe": 1,
                               "skipped_key": 2, "conflict": 1, "unlabelled_images": 1}


def test_fashionai_mapping_covers_every_key_and_class_in_fashionai_order() -> None:
    assert set(MAPPING) | set(SKIPPED) == set(FASHIONAI_CLASSES)
    assert not set(MAPPING) & set(SKIPPED)
    for key, mapping in MAPPING.items():
        assert tuple(mapping.classes) == FASHIONAI_CLASSES[key], key
        assert mapping.classes["Invisible"] is None
        ours = {label for label in mapping.classes.values() if label is not None}
        assert ours <= set(BY_NAME[mapping.attribute].classes), (key, ours)
        assert ours, key


@pytest.mark.parametrize(("name", "first_line", "expected"), [
    ("labels.csv", "image,fit", "csv"),
    ("labels.txt", "fit,image", "csv"),
    ("labels.csv", "path,fit", "csv"),  # a .csv is ours; the reader then says the image column is missing
    ("labels.jsonl", "", "jsonl"),
    ("labels.ndjson", "", "jsonl"),
    ("labels.txt", '  {"image": "a.png"}', "jsonl"),
    ("label.csv", f"Images/a.jpg,{SLEEVE},nnnynnnnn", "fashionai"),
    ("label.txt", f"Images/a.jpg,{SLEEVE},nnnynnnnn", "fashionai"),
])
def test_the_format_is_detected_from_suffix_and_first_line(tmp_path: Path, name: str, first_line: str,
                                                           expected: str) -> None:
    assert detect_format(_write(tmp_path / name, f"\n{first_line}\n")) == expected


@pytest.mark.parametrize("text", ["path,fit\n", ""])
def test_an_undetectable_format_is_an_error_asking_for_it(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path / "labels.txt", text)
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    assert (caught.value.path, caught.value.line) == (path, 1)


def test_a_missing_label_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="no such label file") as caught:
        load_catalogue(tmp_path / "nope.csv")
    assert caught.value.path == tmp_path / "nope.csv"


def test_to_dataset_pixels_are_the_taggers_decode_of_each_file_and_labels_are_encoded(tmp_path: Path) -> None:
    files = [_image(tmp_path / "a.jpg", (200, 30, 40), size=(120, 90)),
             _image(tmp_path / "b.png", (20, 200, 40, 90), size=(30, 70), mode="RGBA"),
             _image(tmp_path / "c.png", (90,), size=(64, 64), mode="L")]
    path = _write(tmp_path / "labels.csv", "image,fit,main_colour\na.jpg,slim,red\nb.png,,green\nc.png,loose,\n")
    catalogue = load_catalogue(path)
    data = catalogue.to_dataset()
    expected = np.stack([decode(f.read_bytes(), max_pixels=1 << 20).pixels for f in files])
    np.testing.assert_array_equal(data.images, expected)
    np.testing.assert_array_equal(data.labels, np.stack([encode_labels(r.labels) for r in catalogue.records]))
    assert data.labels[1, ATTRIBUTE_NAMES.index("fit")] == MISSING


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a picture")


def _large(path: Path) -> None:
    _image(path, size=(40, 30))


@pytest.mark.parametrize(("write_b", "max_pixels", "code"), [
    (_garbage, 1 << 20, "image_undecodable"),
    (_large, 20 * 20, "image_too_many_pixels"),
])
def test_to_dataset_names_file_line_and_column_of_an_unusable_image(
        tmp_path: Path, write_b: Callable[[Path], None], max_pixels: int, code: str) -> None:
    _image(tmp_path / "a.png", size=(20, 20))
    write_b(tmp_path / "b.png")
    path = _write(tmp_path / "labels.csv", "image,fit\na.png,slim\nb.png,loose\n")
    catalogue = load_catalogue(path)
    with pytest.raises(CatalogueError) as caught:
        catalogue.to_dataset(max_pixels=max_pixels)
    assert (caught.value.path, caught.value.line, caught.value.column) == (path, 3, "image")
    assert code in str(caught.value)
    kept = catalogue.to_dataset(max_pixels=max_pixels, strict=False)
    assert kept.labels[:, ATTRIBUTE_NAMES.index("fit")].tolist() == [BY_NAME["fit"].classes.index("slim")]


def test_summary_counts_images_labelled_missing_and_classes(images: Path) -> None:
    path = _write(images / "labels.csv", "image,fit,collar\nimg/a.png,slim,\nimg/b.png,slim,v_neck\n")
    summary = load_catalogue(path).summary()
    assert summary.rows == 2
    assert (summary.labelled["fit"], summary.missing["fit"]) == (2, 0)
    assert (summary.labelled["collar"], summary.missing["collar"]) == (1, 1)
    assert (summary.labelled["fabric"], summary.missing["fabric"]) == (0, 2)
    assert summary.classes["fit"]["slim"] == 2 and sum(summary.classes["fit"].values()) == 2
    assert list(summary.classes["collar"]) == list(BY_NAME["collar"].classes)
    text = "\n".join(summary.lines())
    assert "2 images" in text and "slim 2" in text
    assert all(name in text for name in COLUMNS[1:])
