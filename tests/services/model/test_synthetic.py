"""The synthetic catalogue: reproducible, inside the taxonomy, long-tailed, and drawn in its colours."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from services.model.synthetic import COLOURS, PRIORS, render, sample_attributes
from services.model.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES, BY_NAME


def _sample(seed: int, n: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    return [sample_attributes(rng) for _ in range(n)]


def _nearest_colour(rgb: np.ndarray) -> str:
    return min(COLOURS, key=lambda name: float(np.sum((np.array(COLOURS[name]) - rgb) ** 2)))


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


def test_the_garment_is_drawn_in_its_main_colour_when_solid() -> None:
    rng = np.random.default_rng(11)
    for colour in COLOURS:
        for _ in range(3):
            attrs = {**sample_attributes(rng), "main_colour": colour, "main_pattern": "solid"}
            pixels = np.asarray(render(attrs, rng, size=128), dtype=np.float64)
            # Inside the torso for every fit and length, left of the placket, below any neckline.
            chest = pixels[int(0.38 * 128):int(0.48 * 128), int(0.39 * 128):int(0.46 * 128)]
            assert _nearest_colour(chest.reshape(-1, 3).mean(axis=0)) == colour, attrs
