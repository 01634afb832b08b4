"""Drift knobs: read from command-line text with errors that name the knob, and each one moves what it
names (and nothing else) in the synthetic catalogue."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from pydantic import ValidationError

from model.dataset import MISSING
from model.drift import NOVEL_PATTERNS, Drift, DriftKnobError, parse_drift
from model.nongarment import NONGARMENT_KINDS
from model.synthetic import (
    MERCHANTS,
    SyntheticConfig,
    SyntheticDataset,
    dataset_with_truth,
    merchant_style,
    sample_truth,
)
from modelspec.features import summarise
from modelspec.taxonomy import ATTRIBUTE_NAMES

N = 16


def _drifted(n: int = N, seed: int = 1, **knobs: object) -> SyntheticDataset:
    return dataset_with_truth(n, seed=seed, config=SyntheticConfig(drift=Drift.model_validate(knobs)))


def _feature(data: SyntheticDataset, name: str) -> float:
    """The mean of one of the tagger's per-image features (what drift monitoring watches)."""
    ones = [1] * len(data)
    return float(np.mean([getattr(f, name) for f in summarise(data.data.images, ones, ones, ones)]))


def _labels(name: str, n: int, **knobs: object) -> Counter[str | None]:
    config = SyntheticConfig(drift=Drift.model_validate(knobs))
    return Counter(sample_truth(2, i, config).labels[name] for i in range(n))


@pytest.fixture(scope="module")
def plain() -> SyntheticDataset:
    return _drifted()


def test_knobs_are_read_from_text_and_mapping_knobs_merge() -> None:
    drift = parse_drift(["brightness=0.6", " non_garment = 0.2 ", "colour_shift=red:3,blue:0.5",
                         "colour_shift=green:0", "new_pattern=houndstooth", "merchant_mix=m-017:1,m-900:3"])
    assert drift.brightness == 0.6 and drift.non_garment == 0.2 and drift.new_pattern == "houndstooth"
    assert drift.colour_shift == {"red": 3.0, "blue": 0.5, "green": 0.0}
    assert drift.merchant_mix == {"m-017": 1.0, "m-900": 3.0}
    assert parse_drift([]) == Drift() and Drift().knobs() == {} and not Drift().camera


@pytest.mark.parametrize(("items", "knob", "says"), [
    (["brigthness=0.5"], "brigthness", "known knobs"),
    (["brightness"], "brightness", "needs a value"),
    (["brightness=dark"], "brightness", "valid number"),
    (["brightness=0"], "brightness", "greater than 0"),
    (["blur=1", "blur=2"], "blur", "given twice"),
    (["non_garment=1.5"], "non_garment", "less than or equal to 1"),
    (["colour_shift=magenta:2"], "colour_shift", "magenta"),
    (["colour_shift=red"], "colour_shift", "NAME:WEIGHT"),
    (["colour_shift=red:much"], "colour_shift", "red:much"),
    (["pattern_shift=floral:-1"], "pattern_shift", "greater than or equal to 0"),
    (["new_pattern=plaid"], "new_pattern", "houndstooth"),
    (["merchant_mix=m-017:0"], "merchant_mix", "positive weight"),
    (["merchant_mix=bad id:1"], "merchant_mix", "bad id"),
])
def test_bad_knobs_are_refused_naming_the_knob(items: list[str], knob: str, says: str) -> None:
    with pytest.raises(DriftKnobError, match=says) as info:
        parse_drift(items)
    assert info.value.knob == knob and repr(knob) in str(info.value)


def test_a_shift_that_zeroes_every_class_is_refused() -> None:
    with pytest.raises(ValidationError, match="leave at least one"):
        Drift(colour_shift=dict.fromkeys(("black", "white", "grey", "navy", "blue", "red", "pink", "green",
                                          "yellow", "beige", "brown", "purple", "orange"), 0.0))


def test_camera_knobs_change_the_pixels_not_the_products(plain: SyntheticDataset) -> None:
    dark = _drifted(brightness=0.6)
    assert dark.truth == plain.truth and np.array_equal(dark.data.labels, plain.data.labels)
    assert _feature(dark, "brightness") == pytest.approx(0.6 * _feature(plain, "brightness"), rel=0.05)
    assert _feature(_drifted(contrast=1.6), "contrast") > 1.2 * _feature(plain, "contrast")  # light ones clip
    assert _feature(_drifted(contrast=0.5), "contrast") < 0.6 * _feature(plain, "contrast")
    assert _feature(_drifted(blur=1.5), "sharpness") < 0.5 * _feature(plain, "sharpness")


def test_colour_and_pattern_shifts_move_the_priors() -> None:
    before, after = _labels("main_colour", 1500), _labels("main_colour", 1500, colour_shift={"red": 6, "black": 0})
    assert after["red"] > 3 * before["red"] and after["black"] == 0 < before["black"]
    before, after = _labels("main_pattern", 1500), _labels("main_pattern", 1500, pattern_shift={"floral": 20})
    assert after["floral"] > 5 * max(before["floral"], 1)


def test_a_new_pattern_is_drawn_but_never_labelled(plain: SyntheticDataset) -> None:
    assert set(NOVEL_PATTERNS) == {"houndstooth", "tie_dye", "argyle"}
    shares = _labels("main_pattern", 1000, new_pattern="tie_dye", new_pattern_share=0.3)
    assert shares[None] / 1000 == pytest.approx(0.3, abs=0.05)
    novel = _drifted(40, new_pattern="houndstooth", new_pattern_share=0.5)
    rows = np.flatnonzero(novel.novel)
    assert 8 < len(rows) < 32
    main_pattern = ATTRIBUTE_NAMES.index("main_pattern")
    assert (novel.data.labels[rows, main_pattern] == MISSING).all()
    assert (np.delete(novel.data.labels[rows], main_pattern, axis=1) != MISSING).all()
    assert all(novel.truth[i].novelty == {"main_pattern": "houndstooth"} for i in rows)
    assert all(novel.truth[i].shown["main_pattern"] == "houndstooth" for i in rows)
    assert (novel.data.labels[~novel.novel] != MISSING).all()


def test_a_merchant_mix_moves_merchant_frequencies_and_the_pictures() -> None:
    mix = Counter(sample_truth(3, i, SyntheticConfig(drift=Drift(merchant_mix={"m-900": 3, "m-017": 1}))).merchant_id
                  for i in range(1000))
    assert set(mix) == {"m-900", "m-017"} and mix["m-900"] / 1000 == pytest.approx(0.75, abs=0.05)
    default = Counter(sample_truth(3, i).merchant_id for i in range(1000))
    assert default[MERCHANTS[0]] > 5 * default[MERCHANTS[-1]]
    dark, light = (min(MERCHANTS, key=lambda m: sum(merchant_style(m).background) * sign) for sign in (1, -1))
    assert _feature(_drifted(merchant_mix={dark: 1}), "brightness") < _feature(
        _drifted(merchant_mix={light: 1}), "brightness") - 0.03


def test_non_garment_pictures_come_at_the_asked_share_unlabelled(plain: SyntheticDataset) -> None:
    kinds = Counter(sample_truth(4, i, SyntheticConfig(drift=Drift(non_garment=0.25))).non_garment for i in range(1000))
    assert (1000 - kinds[None]) / 1000 == pytest.approx(0.25, abs=0.04)
    assert set(kinds) - {None} == set(NONGARMENT_KINDS)
    mixed = _drifted(non_garment=0.5)
    ood = mixed.out_of_distribution
    assert 0 < ood.sum() < N
    assert (mixed.data.labels[ood] == MISSING).all() and (mixed.data.labels[~ood] != MISSING).all()
    assert all(mixed.truth[i].non_garment in NONGARMENT_KINDS for i in np.flatnonzero(ood))
    assert np.array_equal(mixed.data.images[~ood], plain.data.images[~ood])  # the garments stay the same
    assert not np.array_equal(mixed.data.images[ood], plain.data.images[ood])
