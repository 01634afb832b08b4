"""The synthetic catalogue: reproducible, inside the taxonomy, long-tailed, drawn the way its labels say,
configurable, and as noisy as asked."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from pydantic import ValidationError

from model.dataset import MISSING
from model.synthetic import (
    COLOURS,
    MERCHANTS,
    PRIORS,
    Priors,
    SyntheticConfig,
    dataset,
    dataset_with_truth,
    merchant_style,
    observe,
    render,
    sample_attributes,
    sample_truth,
)
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES, BY_NAME

#: A plain red long-sleeved tee: each test changes one attribute of it.
PLAIN = {"category": "t_shirt", "main_colour": "red", "secondary_colour": "blue", "main_pattern": "solid",
         "secondary_pattern": "none", "texture": "smooth", "trend_element": "none", "collar": "crew_neck",
         "sleeve_length": "long", "garment_length": "regular", "fit": "regular", "placket": "none",
         "fabric": "cotton"}


def _sample(seed: int, n: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    return [sample_attributes(rng) for _ in range(n)]


def _nearest_colour(rgb: np.ndarray) -> str:
    return min(COLOURS, key=lambda name: float(np.sum((np.array(COLOURS[name]) - rgb) ** 2)))


def _pixels(attrs: dict[str, str], seed: int = 3, size: int = 64) -> np.ndarray:
    """The same pose, light and colour jitter for every ``attrs``: only the attributes differ."""
    return np.asarray(render(attrs, np.random.default_rng(seed), size=size), dtype=np.float64)


def _near(pixels: np.ndarray, colour: str, distance: float = 80.0) -> np.ndarray:
    return np.linalg.norm(pixels - np.array(COLOURS[colour]), axis=2) < distance


def _luma(pixels: np.ndarray) -> np.ndarray:
    return pixels @ np.array([0.299, 0.587, 0.114])


def test_same_seed_gives_same_attributes_and_pixels() -> None:
    def run(seed: int) -> tuple[list[dict[str, str]], list[bytes]]:
        rng = np.random.default_rng(seed)
        attrs = [sample_attributes(rng) for _ in range(20)]
        return attrs, [render(a, rng, size=64).tobytes() for a in attrs]

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_every_label_is_a_class_of_its_attribute() -> None:
    seen: dict[str, set[str]] = {name: set() for name in ATTRIBUTE_NAMES}
    for attrs in _sample(0, 3000):
        assert list(attrs) == list(ATTRIBUTE_NAMES)
        for name, label in attrs.items():
            assert label in BY_NAME[name].classes, (name, label)
            seen[name].add(label)
    assert all(len(labels) >= 3 for labels in seen.values()), seen


def test_priors_are_distributions_and_the_named_ones_are_strongly_long_tailed() -> None:
    for attribute in ATTRIBUTES:
        assert PRIORS[attribute.name].shape == (attribute.size,)
        assert PRIORS[attribute.name].sum() == pytest.approx(1.0)
    counts = {name: Counter(a[name] for a in _sample(1, 4000)) for name in ("garment_length", "main_colour",
                                                                             "main_pattern")}
    for name, counter in counts.items():
        (_, head), *_ = counter.most_common(1)
        tail = min(counter.get(c, 0) for c in BY_NAME[name].classes)
        assert head / 4000 > 0.3, (name, counter)
        assert head > 20 * max(tail, 1), (name, counter)


def test_correlations_hold_when_sampled() -> None:
    samples = _sample(2, 4000)
    assert all(a["secondary_colour"] != a["main_colour"] for a in samples)
    assert all(a["secondary_colour"] != "none" for a in samples if a["main_pattern"] != "solid")
    assert all(a["secondary_pattern"] != a["main_pattern"] for a in samples)
    hoodies = [a for a in samples if a["category"] == "hoodie"]
    others = [a for a in samples if a["category"] != "hoodie"]
    hooded_share = sum(a["collar"] == "hooded" for a in hoodies) / len(hoodies)
    assert hooded_share > 0.5
    assert hooded_share > 10 * sum(a["collar"] == "hooded" for a in others) / len(others)


@pytest.mark.parametrize("size", [64, 96, 128, 160])
def test_render_gives_an_rgb_image_of_the_asked_size(size: int) -> None:
    rng = np.random.default_rng(size)
    image = render(sample_attributes(rng), rng, size=size)
    assert image.mode == "RGB"
    assert image.size == (size, size)


def test_the_garment_is_drawn_in_its_main_colour_when_solid_whatever_its_fabric_and_texture() -> None:
    rng = np.random.default_rng(11)
    for colour in COLOURS:
        for _ in range(4):
            attrs = {**sample_attributes(rng), "main_colour": colour, "main_pattern": "solid",
                     "secondary_pattern": "none"}
            pixels = np.asarray(render(attrs, rng, size=128), dtype=np.float64)
            # Inside the torso for every fit, length and tilt, left of the placket, below any neckline.
            chest = pixels[int(0.38 * 128):int(0.48 * 128), int(0.39 * 128):int(0.46 * 128)]
            assert _nearest_colour(np.median(chest.reshape(-1, 3), axis=0)) == colour, attrs


@pytest.mark.parametrize("attribute", ["sleeve_length", "garment_length", "fit"])
def test_longer_sleeves_longer_garments_and_looser_fits_cover_more_pixels(attribute: str) -> None:
    areas = [int(_near(_pixels({**PLAIN, attribute: c}), "red").sum()) for c in BY_NAME[attribute].classes]
    assert areas == sorted(set(areas)), dict(zip(BY_NAME[attribute].classes, areas, strict=True))


def test_longer_garments_reach_lower() -> None:
    lowest = [int(np.nonzero(_near(_pixels({**PLAIN, "garment_length": c}), "red").any(axis=1))[0].max())
              for c in BY_NAME["garment_length"].classes]
    assert lowest == sorted(lowest) and lowest[0] < lowest[-1], lowest


def test_the_secondary_pattern_fills_a_hem_band_and_cuffs_in_the_secondary_colour() -> None:
    red = _near(_pixels(PLAIN), "red")
    chest_row = np.nonzero(red.any(axis=1))[0].min() + 12  # well inside the torso, above the band
    blue = {p: _near(_pixels({**PLAIN, "secondary_pattern": p}), "blue") for p in ("none", "solid", "striped")}
    assert blue["none"].sum() == 0
    assert blue["solid"].sum() > blue["striped"].sum() > 0.02 * red.sum()
    for pattern in ("solid", "striped"):
        assert not blue[pattern][:chest_row].any(), pattern  # a band below, not a yoke above


def test_each_fabric_leaves_its_own_mark_on_the_surface() -> None:
    grey = {**PLAIN, "main_colour": "grey"}
    cotton = _luma(_pixels(grey, size=128))
    cloth = np.abs(cotton - _luma(np.array(COLOURS["grey"], dtype=np.float64))) < 25
    cloth[:40] = False  # below the collar

    def sharpness(luma: np.ndarray) -> float:
        laplacian = 4 * luma[1:-1, 1:-1] - luma[:-2, 1:-1] - luma[2:, 1:-1] - luma[1:-1, :-2] - luma[1:-1, 2:]
        return float(np.abs(laplacian)[cloth[1:-1, 1:-1]].mean())

    fabrics = {f: _luma(_pixels({**grey, "fabric": f}, size=128)) for f in BY_NAME["fabric"].classes}
    for fabric, luma in fabrics.items():
        if fabric != "cotton":
            assert np.abs(luma - cotton)[cloth].mean() > 2.0, fabric
    assert sharpness(fabrics["wool"]) < 0.8 * sharpness(cotton)  # fuzzy
    assert sharpness(fabrics["denim"]) > 1.5 * sharpness(cotton)  # twill ridges
    for glossy in ("silk", "polyester"):  # a sheen: highlights brighter than anything on cotton
        assert np.percentile(fabrics[glossy][cloth], 99) > np.percentile(cotton[cloth], 99) + 10, glossy


def test_the_same_product_is_posed_and_lit_differently_in_every_picture() -> None:
    pictures = [_pixels(PLAIN, seed=s) for s in range(12)]
    centres = [np.nonzero(_near(p, "red"))[1].mean() for p in pictures]
    tilt = [np.polyfit(*np.nonzero(_near(p, "red"))[::-1], 1)[0] for p in pictures]  # rows against columns
    light = [_luma(p)[:, :6].mean() - _luma(p)[:, -6:].mean() for p in pictures]  # left edge minus right edge
    assert np.ptp(centres) > 1.0 and np.ptp(tilt) > 0.0 and np.ptp(light) > 4.0, (centres, tilt, light)


def test_each_merchant_has_its_own_house_style_and_its_pictures_show_it() -> None:
    styles = {m: merchant_style(m) for m in MERCHANTS}
    assert merchant_style(MERCHANTS[0]) == styles[MERCHANTS[0]]
    assert len(set(styles.values())) == len(MERCHANTS)
    dark, light = (min(styles, key=lambda m: sum(styles[m].background) * sign) for sign in (1, -1))

    def backdrop(merchant: str) -> float:
        """The mean luma of the pictures' outer ring: backdrop only, and any light gradient averages out."""
        rng = np.random.default_rng(0)
        pictures = [_luma(np.asarray(render(PLAIN, rng, 64, styles[merchant]), dtype=np.float64)) for _ in range(8)]
        ring = np.ones((64, 64), dtype=bool)
        ring[3:-3, 3:-3] = False
        return float(np.mean([p[ring].mean() for p in pictures]))

    assert backdrop(dark) < backdrop(light) - 15


def test_datasets_are_reproducible_row_by_row() -> None:
    small, large = dataset(4, seed=3), dataset(6, seed=3)
    assert small.images.shape == (4, 64, 64, 3) and small.images.dtype == np.uint8
    assert np.array_equal(small.images, large.images[:4]) and np.array_equal(small.labels, large.labels[:4])
    again = dataset(6, seed=3)
    assert np.array_equal(again.images, large.images) and np.array_equal(again.labels, large.labels)
    other = dataset(6, seed=4)
    assert not np.array_equal(other.images, large.images)


def test_a_dataset_keeps_the_truth_of_every_row_beside_its_labels() -> None:
    data = dataset_with_truth(6, seed=5)
    assert len(data) == 6 and not data.out_of_distribution.any() and not data.novel.any()
    assert np.array_equal(data.true_labels(), data.data.labels)
    assert all(t.merchant_id and not t.novelty and t.non_garment is None for t in data.truth)


def test_label_noise_replaces_labels_with_other_classes_at_the_asked_rate() -> None:
    rng = np.random.default_rng(0)
    truths = _sample(3, 3000)
    noisy = [observe(t, rng, label_noise=0.2) for t in truths]
    changed = [o[n] != t[n] for t, o in zip(truths, noisy, strict=True) for n in ATTRIBUTE_NAMES]
    assert np.mean(changed) == pytest.approx(0.2, abs=0.015)
    assert all(label in BY_NAME[n].classes for o in noisy for n, label in o.items())
    always = [observe(t, rng, label_noise=1.0) for t in truths[:200]]
    assert all(o[n] != t[n] for t, o in zip(truths[:200], always, strict=True) for n in ATTRIBUTE_NAMES)


def test_missing_labels_come_at_the_asked_rate_and_leave_the_rest_exact() -> None:
    rng = np.random.default_rng(1)
    truths = _sample(4, 3000)
    observed = [observe(t, rng, missing_rate=0.3) for t in truths]
    missing = [o[n] is None for o in observed for n in ATTRIBUTE_NAMES]
    assert np.mean(missing) == pytest.approx(0.3, abs=0.015)
    assert all(o[n] in (None, t[n]) for t, o in zip(truths, observed, strict=True) for n in ATTRIBUTE_NAMES)


def test_noisy_labels_change_the_returned_labels_only_never_the_pictures() -> None:
    exact = dataset_with_truth(30, seed=6)
    noisy = dataset_with_truth(30, seed=6, config=SyntheticConfig(label_noise=0.3, missing_rate=0.2))
    assert np.array_equal(noisy.data.images, exact.data.images)
    assert np.array_equal(noisy.true_labels(), exact.data.labels)
    labels, truth = noisy.data.labels, noisy.true_labels()
    known = labels != MISSING
    assert 0.1 < 1 - known.mean() < 0.3
    assert 0.2 < (labels[known] != truth[known]).mean() < 0.4


def test_prior_overrides_reshape_the_catalogue() -> None:
    def counts(config: SyntheticConfig, name: str) -> Counter[str | None]:
        return Counter(sample_truth(0, i, config).labels[name] for i in range(1300))

    lengths = BY_NAME["garment_length"].classes
    flat = counts(SyntheticConfig(priors=Priors(exponents={"garment_length": 0.0})), "garment_length")
    steep = counts(SyntheticConfig(), "garment_length")
    assert min(flat[c] for c in lengths) > 0.1 * 1300 > max(steep[c] for c in ("long", "extra_long"))
    assert max(flat.values()) < 0.5 * 1300 < steep["regular"]
    only = counts(SyntheticConfig(priors=Priors(weights={"main_colour": {"red": 1.0, "green": 3.0}})),
                  "main_colour")
    assert set(only) == {"red", "green"} and only["green"] > 2 * only["red"]


@pytest.mark.parametrize(("priors", "named"), [
    ({"exponents": {"colour": 1.0}}, "colour"),
    ({"weights": {"main_colour": {"magenta": 1.0}}}, "magenta"),
    ({"weights": {"main_colour": {"red": 0.0}}}, "main_colour"),
    ({"exponents": {"fit": 1.0}, "weights": {"fit": {"slim": 1.0}}}, "fit"),
    ({"exponents": {"fit": -1.0}}, "exponents"),
])
def test_bad_prior_overrides_are_refused_naming_what_is_wrong(priors: dict[str, object], named: str) -> None:
    with pytest.raises(ValidationError, match=named):
        Priors.model_validate(priors)


def test_a_config_whose_priors_and_drift_leave_no_class_is_refused() -> None:
    with pytest.raises(ValidationError, match="main_colour"):
        SyntheticConfig.model_validate({"priors": {"weights": {"main_colour": {"red": 1.0}}},
                                        "drift": {"colour_shift": {"red": 0.0}}})
