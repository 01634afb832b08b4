"""The image-quality check: blank, blurred and tiny pictures get their reason, garments get none."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
import pytest
from PIL import Image, ImageFilter

from contracts import ReviewReason
from model.synthetic import dataset, render, sample_attributes
from modelspec.features import measure
from modelspec.preprocess import DecodedImage, decode
from modelspec.quality import QualityThresholds, assess
from services.tagger.settings import TaggerSettings

DEFAULTS = TaggerSettings().quality
BLANK, BLURRED, TINY = ReviewReason.IMAGE_BLANK, ReviewReason.IMAGE_BLURRED, ReviewReason.IMAGE_TINY


def _decoded(image: Image.Image, quality: int = 85) -> DecodedImage:
    """What the tagger would see of this picture sent as a JPEG."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return decode(buffer.getvalue(), max_pixels=1 << 22)


def _garment(seed: int, size: int = 128, **attributes: str) -> Image.Image:
    rng = np.random.default_rng((seed,))
    return render({**sample_attributes(rng), **attributes}, rng, size=size)


def _flat(colour: tuple[int, int, int], *, noise: float = 0.0, gradient: float = 0.0) -> Image.Image:
    rng = np.random.default_rng(1)
    pixels = np.broadcast_to(np.asarray(colour, dtype=np.float64), (128, 128, 3)).copy()
    pixels += rng.normal(0.0, noise, pixels.shape) if noise else 0.0
    pixels += np.linspace(-gradient, gradient, 128)[None, :, None]
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _reasons(images: list[DecodedImage], thresholds: QualityThresholds = DEFAULTS) -> list[list[ReviewReason]]:
    stats = measure(np.stack([d.pixels for d in images]))
    return assess(stats, [d.width for d in images], [d.height for d in images], thresholds)


CASES: list[tuple[str, Callable[[], Image.Image], list[ReviewReason]]] = [
    ("garment", lambda: _garment(1), []),
    ("garment photographed large", lambda: _garment(2, size=400), []),
    ("garment just at the smallest side", lambda: _garment(3, size=32), []),
    ("plain white top on a light backdrop", lambda: _garment(4, main_colour="white", main_pattern="solid",
                                                           secondary_colour="none", secondary_pattern="none",
                                                           texture="smooth"), []),
    ("white square", lambda: _flat((255, 255, 255)), [BLANK]),
    ("black square", lambda: _flat((0, 0, 0)), [BLANK]),
    ("grey with faint noise", lambda: _flat((128, 128, 128), noise=4.0), [BLANK]),
    ("beige with a faint gradient", lambda: _flat((216, 196, 156), gradient=4.0), [BLANK]),
    ("smooth gradient, nothing sharp", lambda: _flat((120, 60, 200), gradient=30.0), [BLURRED]),
    ("garment blurred, radius 3", lambda: _garment(5).filter(ImageFilter.GaussianBlur(3)), [BLURRED]),
    ("garment blurred, radius 6", lambda: _garment(6).filter(ImageFilter.GaussianBlur(6)), [BLURRED]),
    ("tiny garment, 20 px", lambda: _garment(7, size=20), [TINY]),
    ("tiny blank thumbnail", lambda: _flat((250, 250, 250)).resize((16, 16)), [BLANK, TINY]),
    ("narrow strip", lambda: _garment(8).resize((128, 24)), [TINY]),
]


@pytest.mark.parametrize(("make", "expected"), [(make, expected) for _, make, expected in CASES],
                         ids=[name for name, _, _ in CASES])
def test_quality_reasons_when_image_is(make: Callable[[], Image.Image], expected: list[ReviewReason]) -> None:
    assert _reasons([_decoded(make())]) == [expected]


def test_a_batch_is_judged_image_by_image() -> None:
    images = [_decoded(make()) for _, make, _ in CASES]
    assert _reasons(images) == [expected for _, _, expected in CASES]


def test_thresholds_are_the_settings() -> None:
    garment = _decoded(_garment(9))
    strict = QualityThresholds(min_side=10_000, min_contrast=0.99, min_edge_sharpness=100.0)
    off = QualityThresholds(min_side=0, min_contrast=0.0, min_edge_sharpness=0.0)
    blank = _decoded(_flat((255, 255, 255)))
    assert _reasons([garment, blank], strict) == [[BLANK, TINY], [BLANK, TINY]]
    assert _reasons([garment, blank], off) == [[], []]


def test_an_empty_batch_has_no_reasons() -> None:
    assert assess(measure(np.zeros((0, 64, 64, 3), dtype=np.uint8)), [], [], DEFAULTS) == []


def test_sizes_must_match_the_batch() -> None:
    stats = measure(np.zeros((2, 64, 64, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="widths"):
        assess(stats, [64], [64, 64], DEFAULTS)


def test_synthetic_garments_are_almost_never_flagged_and_heavy_blur_almost_always() -> None:
    garments = dataset(300, seed=31).images  # the pixels the tagger sees, originals 96 to 160 px
    stats = measure(garments)
    flagged = sum(bool(r) for r in assess(stats, [128] * 300, [128] * 300, DEFAULTS))
    assert flagged <= 1
    blurred = [_decoded(_garment(100 + i).filter(ImageFilter.GaussianBlur(3)), quality=80) for i in range(60)]
    caught = sum(r == [BLURRED] for r in _reasons(blurred))
    assert caught >= 57
