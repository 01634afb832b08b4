"""The colours garments are drawn in: the taxonomy's colour names as RGB, and how tones are mixed and jittered."""

from __future__ import annotations

import numpy as np

#: The colour names of the taxonomy and the RGB each is drawn in; far enough apart that the mean
#: colour of a garment, jittered and shaded, is still nearest to its own name.
COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (28, 28, 30), "white": (246, 246, 242), "grey": (130, 130, 134), "navy": (24, 34, 92),
    "blue": (46, 100, 205), "red": (200, 32, 44), "pink": (238, 150, 182), "green": (44, 138, 64),
    "yellow": (240, 208, 52), "beige": (216, 196, 156), "brown": (116, 72, 40), "purple": (118, 52, 150),
    "orange": (238, 128, 32),
}
RGB = tuple[int, int, int]
WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(int(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def jitter(rgb: RGB, rng: np.random.Generator, amount: int) -> RGB:
    shift = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(min(255, max(0, c + d))) for c, d in zip(rgb, shift, strict=True))  # type: ignore[return-value]
