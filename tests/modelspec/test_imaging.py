"""Decoding hostile and ordinary images, and the batch feature summary."""

from __future__ import annotations

import io
import struct
import time
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from contracts import ErrorCode, FeatureSummary
from modelspec.errors import InputError
from modelspec.features import feature_summaries, measure, summarise
from modelspec.preprocess import DecodedImage, decode, stack
from modelspec.tensors import IMAGE_SIZE

pytestmark = pytest.mark.timeout(30)

MAX_PIXELS = 40_000_000
SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _photo(width: int = 120, height: int = 90) -> Image.Image:
    rng = np.random.default_rng(7)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _bomb_png(width: int, height: int) -> bytes:
    """A valid, all-black 1-bit PNG: a few kilobytes on disk, width x height pixels once decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = bytes(1 + (width + 7) // 8)  # filter byte, then the packed bits
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row * 100) for _ in range(height // 100)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def _error(call: Callable[[], object]) -> InputError:
    with pytest.raises(InputError) as caught:
        call()
    return caught.value


SAMPLES = {
    "png": _encode(_photo(), "PNG"),
    "jpeg": _encode(_photo(), "JPEG"),
    "cmyk-jpeg": _encode(_photo().convert("CMYK"), "JPEG"),
    "greyscale": _encode(_photo().convert("L"), "PNG"),
    "bilevel": _encode(_photo().convert("1"), "PNG"),
    "rgba": _encode(_photo().convert("RGBA"), "PNG"),
    "grey-alpha": _encode(_photo().convert("LA"), "PNG"),
    "palette": _encode(_photo().convert("P"), "PNG"),
    "palette-transparent": _encode(_photo().convert("P"), "PNG", transparency=0),
    "gif": _encode(_photo().convert("P"), "GIF"),
    "16-bit": _encode(Image.fromarray(np.full((90, 120), 40_000, dtype=np.uint16)), "PNG"),
    "bmp": _encode(_photo(), "BMP"),
    "tiff": _encode(_photo(), "TIFF"),
    "webp": _encode(_photo(), "WEBP"),
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_decode_gives_small_rgb_when_image_is_valid(name: str) -> None:
    image = decode(SAMPLES[name], max_pixels=MAX_PIXELS)
    assert image.pixels.shape == SHAPE
    assert image.pixels.dtype == np.uint8
    assert (image.width, image.height) == (120, 90)
    assert image.nbytes == len(SAMPLES[name])


def test_decode_reports_original_size_when_jpeg_is_drafted_down() -> None:
    image = decode(_encode(_photo(1600, 1200), "JPEG"), max_pixels=MAX_PIXELS)
    assert (image.width, image.height) == (1600, 1200)
    assert image.pixels.shape == SHAPE


def test_decode_puts_alpha_on_white_when_image_is_transparent() -> None:
    clear = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    assert (decode(_encode(clear, "PNG"), max_pixels=MAX_PIXELS).pixels == 255).all()


def test_decode_scales_16_bit_when_image_is_deep_greyscale() -> None:
    pixels = decode(SAMPLES["16-bit"], max_pixels=MAX_PIXELS).pixels
    assert np.allclose(pixels, 40_000 / 257, atol=1)


@pytest.mark.parametrize(("width", "height", "max_pixels"), [
    (20_000, 20_000, MAX_PIXELS),  # past Pillow's own hard limit
    (10_000, 10_000, 10**9),  # past Pillow's warning, which must count as an error
    (8_000, 8_000, MAX_PIXELS),  # under Pillow's limits, over ours
])
def test_decode_refuses_before_decoding_when_image_has_too_many_pixels(
        width: int, height: int, max_pixels: int, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _bomb_png(width, height)
    assert len(raw) < 200_000
    loads: list[tuple[int, int]] = []
    load = ImageFile.ImageFile.load

    def counting_load(self: ImageFile.ImageFile) -> object:
        loads.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    started = time.monotonic()
    error = _error(lambda: decode(raw, max_pixels=max_pixels, field="data.image.url"))
    assert error.error_code == ErrorCode.IMAGE_TOO_MANY_PIXELS
    assert error.field == "data.image.url"
    assert loads == []
    assert time.monotonic() - started < 1.0


def test_decode_refuses_when_pixels_exceed_a_small_limit() -> None:
    error = _error(lambda: decode(SAMPLES["png"], max_pixels=120 * 90 - 1))
    assert error.error_code == ErrorCode.IMAGE_TOO_MANY_PIXELS
    assert "120x90" in str(error)


@pytest.mark.parametrize("raw", [
    b"", b"definitely not an image", b"\x89PNG\r\n\x1a\n" + bytes(40),
    SAMPLES["png"][: len(SAMPLES["png"]) // 2], SAMPLES["jpeg"][:300], SAMPLES["gif"][:-40],
    b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",  # a format we do not open at all
], ids=["empty", "text", "png-magic-only", "truncated-png", "truncated-jpeg", "truncated-gif", "eps"])
def test_decode_says_undecodable_when_bytes_are_not_a_whole_image(raw: bytes) -> None:
    error = _error(lambda: decode(raw, max_pixels=MAX_PIXELS))
    assert error.error_code == ErrorCode.IMAGE_UNDECODABLE
    assert error.field == "data.image"


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow remarks on the damage it reads
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_decode_only_raises_input_error_when_bytes_are_random(raw: bytes) -> None:
    try:
        image = decode(raw, max_pixels=1_000_000)
    except InputError:
        return
    assert image.pixels.shape == SHAPE


@pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow remarks on the damage it reads
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SAMPLES)), st.integers(min_value=0, max_value=4000),
       st.binary(min_size=1, max_size=64))
def test_decode_only_raises_input_error_when_real_image_is_corrupted(name: str, at: int, junk: bytes) -> None:
    sample = SAMPLES[name]
    at %= len(sample)
    try:
        image = decode(sample[:at] + junk + sample[at + len(junk):], max_pixels=1_000_000)
    except InputError:
        return
    assert image.pixels.shape == SHAPE


def _flat(value: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(value, dtype=np.uint8), SHAPE).copy()


def _checkerboard() -> np.ndarray:
    board = (np.indices((IMAGE_SIZE, IMAGE_SIZE)).sum(axis=0) % 2 * 255).astype(np.uint8)
    return np.repeat(board[:, :, None], 3, axis=2)


def _summaries(*images: np.ndarray) -> list[FeatureSummary]:
    n = len(images)
    return summarise(np.stack(images), [640] * n, [480] * n, [1234] * n)


def test_summarise_orders_brightness_when_images_are_white_and_black() -> None:
    white, black = _summaries(_flat((255, 255, 255)), _flat((0, 0, 0)))
    assert white.brightness == pytest.approx(1.0)
    assert black.brightness == 0.0
    assert black.saturation == 0.0  # max is 0: defined as unsaturated, not NaN


def test_summarise_finds_checkerboard_sharper_and_contrastier_when_compared_with_flat_grey() -> None:
    board, grey = _summaries(_checkerboard(), _flat((128, 128, 128)))
    assert grey.sharpness < 1e-9 < board.sharpness
    assert grey.contrast < 1e-9 < board.contrast
    assert board.brightness == pytest.approx(0.5)


def test_summarise_measures_colour_when_image_is_pure_red() -> None:
    (red,) = _summaries(_flat((255, 0, 0)))
    assert (red.mean_r, red.mean_g, red.mean_b) == (pytest.approx(1.0), 0.0, 0.0)
    assert red.saturation == pytest.approx(1.0)
    assert (red.width, red.height, red.bytes) == (640, 480, 1234)


def test_summarise_stays_in_bounds_and_matches_one_by_one_when_batch_is_random() -> None:
    batch = np.random.default_rng(3).integers(0, 256, (16, *SHAPE), dtype=np.uint8)
    batch[0] = _checkerboard()
    together = summarise(batch, [1] * 16, [1] * 16, [1] * 16)
    assert together == [summarise(image[None], [1], [1], [1])[0] for image in batch]
    for summary in together:
        FeatureSummary.model_validate(summary.model_dump())
        for name in ("brightness", "contrast", "saturation", "mean_r", "mean_g", "mean_b"):
            value = getattr(summary, name)
            assert type(value) is float
            assert 0.0 <= value <= 1.0
        assert type(summary.sharpness) is float
        assert summary.sharpness >= 0.0


def test_summarise_rejects_batch_when_shape_or_lengths_are_wrong() -> None:
    with pytest.raises(ValueError, match="uint8"):
        summarise(np.zeros((1, 32, 32, 3), dtype=np.uint8), [1], [1], [1])
    with pytest.raises(ValueError, match="one entry per image"):
        summarise(np.zeros((2, *SHAPE), dtype=np.uint8), [1], [1], [1])


def test_stack_gives_contiguous_batch_when_images_are_decoded() -> None:
    images = [decode(SAMPLES[name], max_pixels=MAX_PIXELS) for name in ("png", "jpeg", "gif")]
    batch = stack(images)
    assert batch.shape == (3, *SHAPE)
    assert batch.dtype == np.uint8
    assert batch.flags.c_contiguous
    assert (batch[1] == images[1].pixels).all()
    assert stack([]).shape == (0, *SHAPE)


def test_decoded_image_is_frozen_when_built() -> None:
    image = decode(SAMPLES["png"], max_pixels=MAX_PIXELS)
    with pytest.raises(AttributeError):
        image.width = 1  # type: ignore[misc]
    assert isinstance(image, DecodedImage)


def _edge(width: int) -> np.ndarray:
    """Black left half, white right half, the step spread over ``width`` pixels."""
    ramp = np.clip((np.arange(IMAGE_SIZE) - IMAGE_SIZE / 2) / width + 0.5, 0.0, 1.0) * 255
    return np.repeat(np.broadcast_to(ramp.round().astype(np.uint8), (IMAGE_SIZE, IMAGE_SIZE))[:, :, None], 3, axis=2)


def test_edge_sharpness_falls_as_an_edge_softens_while_contrast_stays() -> None:
    stats = measure(np.stack([_edge(1), _edge(4), _edge(16), _flat((128, 128, 128))]))
    assert stats.edge_sharpness[0] > stats.edge_sharpness[1] > stats.edge_sharpness[2] > stats.edge_sharpness[3] == 0
    assert min(stats.contrast[:3]) > 0.4


def test_edge_sharpness_is_the_same_when_a_sharp_edge_is_faint() -> None:
    strong = _edge(1)
    faint = (strong // 16 + 100).astype(np.uint8)  # a step of 16 levels instead of 255
    stats = measure(np.stack([strong, faint]))
    assert stats.contrast[1] < stats.contrast[0] / 10
    assert stats.edge_sharpness[1] == pytest.approx(stats.edge_sharpness[0], rel=0.15)


def test_summarise_is_measure_then_feature_summaries() -> None:
    batch = np.random.default_rng(4).integers(0, 256, (5, *SHAPE), dtype=np.uint8)
    sizes = [10, 20, 30, 40, 50]
    assert summarise(batch, sizes, sizes, sizes) == feature_summaries(measure(batch), sizes, sizes, sizes)
    assert len(measure(batch[:0])) == 0
