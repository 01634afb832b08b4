"""Non-garment pictures: every kind drawn, reproducible by seed, and shaped like the model's input."""

from __future__ import annotations

import numpy as np
import pytest

from model.nongarment import NONGARMENT_KINDS, nongarment_dataset, render_nongarment


@pytest.mark.parametrize("kind", NONGARMENT_KINDS)
def test_every_kind_draws_a_picture_of_the_asked_size_from_its_generator(kind: str) -> None:
    first = render_nongarment(np.random.default_rng(1), 96, kind)
    assert first.mode == "RGB" and first.size == (96, 96)
    assert first.tobytes() == render_nongarment(np.random.default_rng(1), 96, kind).tobytes()
    assert first.tobytes() != render_nongarment(np.random.default_rng(2), 96, kind).tobytes()
    assert len(np.unique(np.asarray(first).reshape(-1, 3), axis=0)) >= 3  # something is drawn on it


def test_the_kind_is_drawn_from_the_generator_when_not_named() -> None:
    pictures = {render_nongarment(np.random.default_rng(seed), 64).tobytes() for seed in range(12)}
    assert len(pictures) == 12


def test_an_unknown_kind_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="landscape"):
        render_nongarment(np.random.default_rng(0), 64, "handbag")


def test_the_dataset_is_model_input_with_every_kind_in_turn_and_reproducible_row_by_row() -> None:
    images = nongarment_dataset(2 * len(NONGARMENT_KINDS), seed=3)
    assert images.shape == (2 * len(NONGARMENT_KINDS), 64, 64, 3) and images.dtype == np.uint8
    assert np.array_equal(nongarment_dataset(5, seed=3), images[:5])
    assert not np.array_equal(nongarment_dataset(5, seed=4), images[:5])
    assert len({row.tobytes() for row in images}) == len(images)
