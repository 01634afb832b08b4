"""Load, decode and shrink product images, and measure batches of them (drift monitoring, image quality).

Every failure caused by the image itself is an ``InputError``: hostile files end on the dead-letter
topic instead of stalling a partition.
"""

from __future__ import annotations

import base64
import binascii
import io
import logging
import struct
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from contracts import ErrorCode, FeatureSummary, ImageRef
from services.model.serving import IMAGE_SIZE
from services.tagger.errors import InputError
from services.tagger.fetch import SafeFetcher

logger = logging.getLogger(__name__)

#: Formats we open (phone MPO files open as JPEG). The rest of Pillow's plugins (EPS runs Ghostscript,
#: among others) are attack surface that product photos do not need.
_WANTED = ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF")
Image.init()
FORMATS = tuple(name for name in _WANTED if name in Image.OPEN)  # WebP can be missing from a build
#: What Pillow's parsers raise on hostile input (its own fuzz tests accept most of these). Every one
#: of them is the file's fault; anything else from our own code still surfaces as a bug.
_PILLOW_FAILURES = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError,
                    ArithmeticError, NotImplementedError, MemoryError)
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_WHITE = (255, 255, 255)
#: ITU-R BT.601 luma weights, as Pillow's own RGB -> L conversion.
_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # uint8, (IMAGE_SIZE, IMAGE_SIZE, 3)
    width: int
    height: int
    nbytes: int


def image_bytes(ref: ImageRef, fetcher: SafeFetcher, max_bytes: int) -> bytes:
    """The image file named by ``ref``: inline base64 decoded, or a URL fetched under the fetcher's policy."""
    if ref.inline is not None:
        field = "data.image.inline"
        if len(ref.inline) > 4 * -(-max_bytes // 3):  # size the text before decoding any of it
            raise InputError(ErrorCode.IMAGE_TOO_LARGE,
                             f"inline image is {len(ref.inline)} base64 characters, more than {max_bytes} "
                             "bytes (TAGSTREAM_IMAGE_MAX_BYTES)", field=field)
        try:
            raw = base64.b64decode(ref.inline, validate=True)
        except (binascii.Error, ValueError) as e:
            raise InputError(ErrorCode.IMAGE_UNDECODABLE, f"inline image is not base64: {e}",
                             field=field) from e
    elif ref.url is not None:
        field = "data.image.url"
        raw = fetcher.fetch(ref.url)
    else:  # the contract forbids it; kept for type checkers and hand-built refs
        raise InputError(ErrorCode.IMAGE_MISSING, "image has neither url nor inline", field="data.image")
    if len(raw) > max_bytes:
        raise InputError(ErrorCode.IMAGE_TOO_LARGE, f"image is {len(raw)} bytes, more than {max_bytes}",
                         field=field)
    return raw


def decode(raw: bytes, *, max_pixels: int, field: str = "data.image") -> DecodedImage:
    """Decode any supported image to ``(IMAGE_SIZE, IMAGE_SIZE, 3)`` uint8 RGB (plain squash, alpha on white).

    The pixel count is checked from the header, before any pixel data is decompressed.
    """
    if not raw:
        raise InputError(ErrorCode.IMAGE_UNDECODABLE, "image file is empty", field=field)
    # catch_warnings is not thread-safe on 3.11 and decode runs in worker threads: a race can leave this
    # filter in place after the call (harmless: it is what we want) or drop it during one; then our own
    # max_pixels check below still holds, and Pillow's hard DecompressionBombError still applies.
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(raw), formats=FORMATS) as img:
                width, height = img.size
                if width < 1 or height < 1:
                    raise InputError(ErrorCode.IMAGE_UNDECODABLE, f"image is {width}x{height}", field=field)
                if width * height > max_pixels:
                    raise _too_many_pixels(width, height, max_pixels, field)
                img.draft("RGB", (IMAGE_SIZE, IMAGE_SIZE))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
                pixels = _rgb_pixels(img)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            raise InputError(ErrorCode.IMAGE_TOO_MANY_PIXELS, f"image refused as a decompression bomb: {e}",
                             field=field) from e
        except Image.UnidentifiedImageError as e:
            raise InputError(ErrorCode.IMAGE_UNDECODABLE, f"not a {', '.join(FORMATS)} image",
                             field=field) from e
        except _PILLOW_FAILURES as e:
            raise InputError(ErrorCode.IMAGE_UNDECODABLE,
                             f"cannot decode image: {type(e).__name__}: {e}"[:300], field=field) from e
    return DecodedImage(pixels=pixels, width=width, height=height, nbytes=len(raw))


def _too_many_pixels(width: int, height: int, max_pixels: int, field: str) -> InputError:
    return InputError(ErrorCode.IMAGE_TOO_MANY_PIXELS,
                      f"image is {width}x{height} = {width * height} pixels, more than {max_pixels} "
                      "(TAGSTREAM_IMAGE_MAX_PIXELS)", field=field)


def _rgb_pixels(img: Image.Image) -> np.ndarray:
    """Any Pillow mode to (IMAGE_SIZE, IMAGE_SIZE, 3) uint8. Shrinks before converting where it can."""
    size = (IMAGE_SIZE, IMAGE_SIZE)
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):  # 16-bit and float greyscale
        small = img.convert("F").resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        grey = np.nan_to_num(np.asarray(small, dtype=np.float64))
        peak = grey.max(initial=0.0)
        if img.mode.startswith("I;16") or (img.mode == "I" and peak > 255):
            grey = grey / 257.0
        elif img.mode == "F" and peak <= 1.0:
            grey = grey * 255.0
        grey8 = np.clip(grey, 0, 255).round().astype(np.uint8)
        return np.repeat(grey8[:, :, None], 3, axis=2)
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA").resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
        canvas = Image.new("RGB", size, _WHITE)
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return np.asarray(canvas, dtype=np.uint8)
    if img.mode not in ("L", "RGB"):  # 1 and P resize only by nearest; CMYK, YCbCr, LAB need converting
        img = img.convert("RGB")
    small = img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(small.convert("RGB"), dtype=np.uint8)


def stack(images: list[DecodedImage]) -> np.ndarray:
    """The batch tensor: (N, IMAGE_SIZE, IMAGE_SIZE, 3) uint8, C-contiguous."""
    if not images:
        return np.empty((0, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.stack([image.pixels for image in images]), dtype=np.uint8)


#: The quantile of |Laplacian| that :attr:`ImageStats.edge_sharpness` takes: at 64 x 64 the 5th strongest
#: of 4,096 pixels, steadier than the maximum (a stray pixel counts a quarter as much) and still set by the
#: few pixels along an outline, whatever the share of plain background.
EDGE_QUANTILE = 0.999


@dataclass(frozen=True)
class ImageStats:
    """Per-image measures of a batch, each an (N,) float64 array.

    In units of full scale (255 = 1.0): ``brightness`` (mean BT.601 luma), ``contrast`` (its standard
    deviation), ``saturation`` (HSV's (max - min) / max per pixel, averaged), ``sharpness`` (the mean
    absolute 4-neighbour Laplacian of luma, edges repeated) and ``mean_rgb`` ((N, 3)).

    ``edge_sharpness`` is how steep the sharpest edges are for the picture's tonal range: the
    :data:`EDGE_QUANTILE` quantile of |Laplacian| divided by the luma range (max - min), 0 for a flat
    picture. It does not depend on contrast or on how much of the picture is plain background, so a pale
    top on a pale backdrop is as sharp as a black one on white, and blur lowers it. (Measured on synthetic
    garments, the mean |Laplacian| and the unscaled quantile both confuse low contrast with blur.)
    """

    brightness: np.ndarray
    contrast: np.ndarray
    saturation: np.ndarray
    sharpness: np.ndarray
    edge_sharpness: np.ndarray
    mean_rgb: np.ndarray  # (N, 3)

    def __len__(self) -> int:
        return len(self.contrast)


def measure(pixels: np.ndarray) -> ImageStats:
    """Every measure of a (N, IMAGE_SIZE, IMAGE_SIZE, 3) uint8 batch at once, each computed once."""
    if pixels.ndim != 4 or pixels.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3) or pixels.dtype != np.uint8:
        raise ValueError(f"expected (N, {IMAGE_SIZE}, {IMAGE_SIZE}, 3) uint8, got {pixels.shape} "
                         f"{pixels.dtype}")
    # float32 in units of 0..255 throughout (half the memory traffic of float64), scaled once at the end
    rgb = pixels.astype(np.float32)
    luma = rgb @ _LUMA.astype(np.float32)  # (N, H, W)
    r, g, b = pixels[..., 0], pixels[..., 1], pixels[..., 2]  # elementwise: far faster than max(axis=3)
    top, bottom = np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)
    spread = (top - bottom).astype(np.float32)
    saturation = np.divide(spread, top, out=np.zeros_like(spread), where=top > 0).mean(axis=(1, 2))
    padded = np.pad(luma, ((0, 0), (1, 1), (1, 1)), mode="edge")
    laplacian = np.abs(padded[:, :-2, 1:-1] + padded[:, 2:, 1:-1] + padded[:, 1:-1, :-2] + padded[:, 1:-1, 2:]
                       - 4.0 * luma).reshape(len(pixels), IMAGE_SIZE * IMAGE_SIZE)
    kth = int(np.ceil(EDGE_QUANTILE * (laplacian.shape[1] - 1)))
    edges = np.partition(laplacian, kth, axis=1)[:, kth].astype(np.float64)
    tonal_range = (luma.max(axis=(1, 2)) - luma.min(axis=(1, 2))).astype(np.float64)
    edge_sharpness = np.divide(edges, tonal_range, out=np.zeros_like(edges), where=tonal_range > 0)

    def unit(values: np.ndarray) -> np.ndarray:
        return values.astype(np.float64) / 255.0

    return ImageStats(brightness=unit(luma.mean(axis=(1, 2))), contrast=unit(luma.std(axis=(1, 2))),
                      saturation=saturation.astype(np.float64), sharpness=unit(laplacian.mean(axis=1)),
                      edge_sharpness=edge_sharpness, mean_rgb=unit(rgb.mean(axis=(1, 2))))


def feature_summaries(stats: ImageStats, widths: Sequence[int], heights: Sequence[int],
                      nbytes: Sequence[int]) -> list[FeatureSummary]:
    """One :class:`FeatureSummary` per measured image, with its original size in pixels and bytes."""
    if not len(stats) == len(widths) == len(heights) == len(nbytes):
        raise ValueError("pixels, widths, heights and nbytes must have one entry per image")
    # (N, 6) in [0, 1], clipped against float rounding: brightness, contrast, saturation, mean r, g, b
    unit = np.clip(np.column_stack([stats.brightness, stats.contrast, stats.saturation, stats.mean_rgb]),
                   0.0, 1.0).tolist()
    return [
        FeatureSummary(width=int(w), height=int(h), bytes=int(n), brightness=u[0], contrast=u[1],
                       saturation=u[2], sharpness=sharp, mean_r=u[3], mean_g=u[4], mean_b=u[5])
        for w, h, n, u, sharp in zip(widths, heights, nbytes, unit, stats.sharpness.tolist(), strict=True)
    ]


def summarise(pixels: np.ndarray, widths: Sequence[int], heights: Sequence[int],
              nbytes: Sequence[int]) -> list[FeatureSummary]:
    """One :class:`FeatureSummary` per image of a (N, IMAGE_SIZE, IMAGE_SIZE, 3) uint8 batch, all at once
    (:func:`measure`, then :func:`feature_summaries`; measures as :class:`ImageStats` describes them)."""
    return feature_summaries(measure(pixels), widths, heights, nbytes)
