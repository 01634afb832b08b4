"""Preprocessing the model's input, shared bit for bit by training and serving: decode, shrink, batch.

Every failure caused by the image itself is an ``InputError``: hostile files end on the dead-letter
topic instead of stalling a partition, and a training catalogue names the bad file.
"""

from __future__ import annotations

import io
import logging
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from contracts import ErrorCode
from modelspec.errors import InputError
from modelspec.tensors import IMAGE_SIZE

logger = logging.getLogger(__name__)

#: The largest image, in pixels, that serving (``TAGSTREAM_IMAGE_MAX_PIXELS``) and training accept by default.
DEFAULT_MAX_PIXELS = 40_000_000

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


@dataclass(frozen=True)
class DecodedImage:
    pixels: np.ndarray  # uint8, (IMAGE_SIZE, IMAGE_SIZE, 3)
    width: int
    height: int
    nbytes: int


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
