"""The garment's frame: its silhouette by category, fit, garment and sleeve length, posed on the canvas.

:class:`Frame` maps garment coordinates to pixels with the pose of one picture (scale, offset, a small tilt)
and holds the garment's key measures and shapes, which the cloth, the collar and the details are drawn on.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

#: A point in garment coordinates or in pixels.
Point = tuple[float, float]

_SHOULDER = {"slim": 0.16, "regular": 0.19, "loose": 0.22, "oversized": 0.25}
_HEM_FLARE = {"slim": 0.92, "regular": 1.0, "loose": 1.08, "oversized": 1.12}
_HEM = {"cropped": 0.32, "regular": 0.48, "hip": 0.56, "long": 0.66, "extra_long": 0.72}
_SLEEVE = {"sleeveless": 0.0, "cap": 0.05, "short": 0.13, "elbow": 0.22, "three_quarter": 0.29, "long": 0.38}
_MAX_TILT = math.radians(5.0)


def _lerp(a: Point, b: Point, t: float) -> Point:
    return (a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t)


class Frame:
    """Garment coordinates (x across from the centre line, y down from the shoulders, in units of the
    canvas) mapped to pixels with the pose of one picture (scale, offset, a small tilt); and the garment's
    key measures and shapes: the silhouette, and the panel the secondary pattern fills."""

    def __init__(self, attrs: Mapping[str, str], rng: np.random.Generator, size: int, scale: float = 1.0) -> None:
        jitter = rng.random(4)
        self.size = size
        self.scale = size * (0.92 + 0.12 * jitter[0]) * scale
        self.cx = size * (0.48 + 0.04 * jitter[1])
        self.y0 = size * (0.205 + 0.03 * jitter[2] + 0.35 * (1.0 - scale))  # a smaller garment sits lower
        tilt = _MAX_TILT * (2.0 * jitter[3] - 1.0)
        self.cos, self.sin = math.cos(tilt), math.sin(tilt)
        fit = attrs["fit"]
        self.chest = _SHOULDER[fit]
        self.shoulder = self.chest * (0.8 if attrs["category"] == "tank_top" else 1.0)
        self.hem_half = _SHOULDER[fit] * _HEM_FLARE[fit] * (1.15 if attrs["category"] == "tunic" else 1.0)
        self.hem = _HEM[attrs["garment_length"]]
        self.neck = self.shoulder * 0.35
        self.pivot = self.hem / 2  # the garment tilts about its middle
        self.sleeves = self._sleeves(attrs)
        s, c, h = self.shoulder, self.chest * 0.97, self.hem_half
        torso = [(-self.neck, 0.0), (self.neck, 0.0), (s, 0.03), (c, 0.16), (h, self.hem), (-h, self.hem),
                 (-c, 0.16), (-s, 0.03)]
        self.polygons = [[self.p(x, y) for x, y in shape] for shape in (torso, *self.sleeves)]
        self.band_top = self.hem - max(0.1, 0.34 * self.hem)
        side = c + (h - c) * (self.band_top - 0.16) / (self.hem - 0.16)
        band = [(-side, self.band_top), (side, self.band_top), (h, self.hem), (-h, self.hem)]
        cuffs = [[_lerp(a, b, 0.5), b, cc, _lerp(d, cc, 0.5)] for a, b, cc, d in self.sleeves]
        self.panel = [[self.p(x, y) for x, y in shape] for shape in (band, *cuffs)]
        self.band_side = side
        xs, ys = zip(*self.panel[0], strict=True)
        self.band_box = (min(xs), min(ys), max(xs), max(ys))  # in pixels

    def _sleeves(self, attrs: Mapping[str, str]) -> list[list[Point]]:
        """Each sleeve as (shoulder, outer cuff corner, inner cuff corner, armpit)."""
        s, c, length = self.shoulder, self.chest * 0.97, _SLEEVE[attrs["sleeve_length"]]
        cuff = 0.1 if attrs["fit"] in ("loose", "oversized") else 0.08
        ex, ey = s + 0.5 * length, 0.03 + 0.87 * length  # down and out at 60 degrees, cuff square to it
        return [[(side * s, 0.03), (side * ex, ey), (side * (ex - 0.87 * cuff), ey + 0.5 * cuff), (side * c, 0.16)]
                for side in ((1.0, -1.0) if length else ())]

    def p(self, x: float, y: float) -> Point:
        dy = y - self.pivot
        x, y = x * self.cos - dy * self.sin, x * self.sin + dy * self.cos + self.pivot
        return (self.cx + x * self.scale, self.y0 + y * self.scale)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        """An upright pixel box of the same size, centred where the garment box's centre lands."""
        u, v = self.p((x0 + x1) / 2, (y0 + y1) / 2)
        half_w, half_h = (x1 - x0) / 2 * self.scale, (y1 - y0) / 2 * self.scale
        return (u - half_w, v - half_h, u + half_w, v + half_h)
