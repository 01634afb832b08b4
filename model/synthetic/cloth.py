"""The garment's cloth: its colour patterned in a second tone, a surface texture, and the fabric's cue.

:func:`make_cloth` paints a canvas-sized piece of cloth (cut out by the silhouette's mask later), in any
pattern of the taxonomy or a novel one outside it (``drift.NOVEL_PATTERNS``); :func:`fabric_surface` is
the fabric's light on it (sheen, twill, slubs, drape, fuzz, heather), a factor on the garment's pixels.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image, ImageDraw

from model.synthetic.colours import BLACK, RGB, WHITE, mix
from model.synthetic.frame import Frame


@functools.lru_cache(maxsize=16)
def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres in canvas units from the middle, -0.5 to 0.5: a row (1, size) and a column (size, 1)."""
    ramp = ((np.arange(size, dtype=np.float32) + 0.5) / size - 0.5)
    return ramp[None, :], ramp[:, None]


def _novel(cloth: Image.Image, name: str, main: RGB, ink: RGB, rng: np.random.Generator) -> None:
    """A pattern outside the taxonomy (``Drift.new_pattern``), painted over the whole cloth."""
    size = cloth.width
    u, v = grid(size)
    if name == "houndstooth":  # a 4-and-4 warp and weft woven in 2/2 twill
        a, b = np.floor((u + 0.5) * 48).astype(int), np.floor((v + 0.5) * 48).astype(int)
        ink_share = np.where((a + b) % 4 < 2, a % 8 < 4, b % 8 < 4).astype(np.float32)
    elif name == "argyle":  # diamonds in turn, crossed by thin diagonals
        x, y = (u + rng.random()) / 0.16, (v + rng.random()) / 0.22
        diamond = (np.abs(x % 2 - 1) + np.abs(y % 2 - 1)) < 1
        lines = ((x + y) % 2 < 0.08) | ((x - y) % 2 < 0.08)
        ink_share = np.where(lines, 0.5, diamond).astype(np.float32)
    else:  # tie_dye: wobbly rings around a knot
        du, dv = u - (rng.random() - 0.5) * 0.4, v - (rng.random() - 0.5) * 0.4
        rings = np.hypot(du, dv) * 9 + 0.12 * np.sin(np.arctan2(dv, du) * 6 + 6.3 * rng.random())
        ink_share = (0.5 + 0.5 * np.sin(2 * math.pi * rings)).astype(np.float32)
    share = ink_share[..., None]
    pixels = np.array(main, np.float32) * (1 - share) + np.array(ink, np.float32) * share
    cloth.paste(Image.fromarray(pixels.astype(np.uint8)))


def _pattern(cloth: Image.Image, name: str, main: RGB, ink: RGB, rng: np.random.Generator, frame: Frame,
             panel: tuple[float, float, float, float] | None = None) -> None:
    """Paints pattern ``name`` in ``ink`` over the cloth (of colour ``main``). For a ``panel`` (a pixel box),
    a graphic print sits in its middle and scattered motifs crowd into it, so that a few show."""
    if name == "solid":
        return
    draw = ImageDraw.Draw(cloth)
    size = frame.size
    step = size * (0.08 + 0.04 * rng.random())
    width = max(1, round(step / 2.5))
    marks = np.arange(-step * rng.random(), size, step).tolist()
    if name == "striped":
        for v in marks:
            draw.rectangle((0, v, size, v + width), fill=ink)
    elif name == "checked":
        for v in marks:
            draw.rectangle((0, v, size, v + width), fill=mix(main, ink, 0.6))
            draw.rectangle((v, 0, v + width, size), fill=mix(main, ink, 0.6))
    elif name in ("dotted", "geometric"):  # dots or triangles on a staggered grid
        r = step * 0.22
        for u, v in ((u + step / 2 * (row % 2), v) for row, v in enumerate(marks) for u in marks):
            if name == "dotted":
                draw.ellipse((u - r, v - r, u + r, v + r), fill=ink)
            else:
                draw.polygon([(u - r * 1.4, v + r), (u + r * 1.4, v + r), (u, v - r * 1.4)], fill=ink)
    elif name == "graphic":  # a ring with a square in it, on the chest or in the panel's middle
        u, v = frame.p(0.0, 0.19) if panel is None else ((panel[0] + panel[2]) / 2, (panel[1] + panel[3]) / 2)
        r, half = 0.09 * frame.scale, 0.035 * frame.scale
        draw.ellipse((u - r, v - r, u + r, v + r), fill=ink)
        draw.rectangle((u - half, v - half, u + half, v + half), fill=main)
    elif name in ("camouflage", "animal", "floral", "paisley"):  # scattered motifs
        count = {"camouflage": 20, "animal": 40, "floral": 28, "paisley": 24}[name]
        x0, y0, x1, y1 = panel or (0.0, 0.0, size, size)
        if panel is not None:  # five times as dense as on the whole cloth
            count = max(6, round(count * 5 * (x1 - x0) * (y1 - y0) / size**2))
        for u, v, a, b in (rng.random((count, 4)) * [x1 - x0, y1 - y0, 1.0, 1.0] + [x0, y0, 0, 0]).tolist():
            if name == "camouflage":
                rx, ry = step * (0.6 + a), step * (0.4 + b * 0.6)
                draw.ellipse((u - rx, v - ry, u + rx, v + ry), fill=ink if a > 0.4 else mix(main, ink, 0.5))
            elif name == "animal":
                rx, ry = step * (0.2 + 0.2 * a), step * (0.15 + 0.15 * b)
                draw.ellipse((u - rx, v - ry, u + rx, v + ry), outline=ink, width=max(1, width // 2))
            elif name == "floral":
                r = step * (0.14 + 0.08 * a)
                for pu, pv in ((u, v - r * 1.3), (u + r * 1.3, v), (u, v + r * 1.3), (u - r * 1.3, v)):
                    draw.ellipse((pu - r, pv - r, pu + r, pv + r), fill=ink)
            else:  # paisley: a drop and its curl
                r = step * (0.2 + 0.1 * a)
                draw.ellipse((u - r, v - r, u + r, v + r), fill=ink)
                draw.ellipse((u + r * 0.5, v - r * 1.9, u + r * 1.1, v - r * 0.9), fill=ink)
    else:
        _novel(cloth, name, main, ink, rng)


def _texture(draw: ImageDraw.ImageDraw, name: str, main: RGB, size: int) -> None:
    if name == "smooth":
        return
    tone = mix(main, WHITE, 0.15) if name in ("lace", "sequined", "mesh") else mix(main, BLACK, 0.14)
    step = max(4, size // 20)
    for v in range(0, size, step):
        if name in ("ribbed", "mesh"):
            draw.line((v, 0, v, size), fill=tone)
        if name in ("knitted", "mesh"):
            draw.line((0, v, size, v), fill=tone)
        if name == "quilted":
            draw.line((v - size, 0, v, size), fill=tone)
            draw.line((v, 0, v - size, size), fill=tone)
        if name in ("lace", "sequined"):
            for u in range(v % (2 * step), size, 2 * step):
                draw.point((u, v), fill=tone)


def _streaks(rng: np.random.Generator, rows: int, cols: int, size: int) -> np.ndarray:
    """Gaussian noise on ``rows`` of ``cols`` cells stretched over the canvas, each row shifted a little."""
    noise = rng.standard_normal((rows, cols + 1)).astype(np.float32)
    y = (np.arange(size) * rows) // size
    x = np.arange(size, dtype=np.float32) * cols / size
    offset = rng.random((rows, 1)).astype(np.float32)
    return np.take_along_axis(noise[y], (x[None, :] + offset[y]).astype(int), axis=1)


def _smooth_noise(rng: np.random.Generator, cells: int, size: int) -> np.ndarray:
    """Gaussian noise on a ``cells`` x ``cells`` grid, smoothly stretched over the canvas."""
    noise = Image.fromarray(rng.standard_normal((cells, cells)).astype(np.float32), mode="F")
    return np.asarray(noise.resize((size, size), Image.Resampling.BILINEAR))


def fabric_surface(name: str, rng: np.random.Generator, size: int) -> np.ndarray | None:
    """The fabric's surface cue: a factor on the garment's pixels, (size, size) float32; None for plain cotton."""
    u, v = grid(size)
    if name == "silk":  # a bright sheen falling diagonally across the lower body, and a fainter second one
        d = (u + v) * 0.7071 - (0.02 + 0.2 * rng.random())
        return 1.0 + 0.24 * np.exp(-((d / 0.05) ** 2)) + 0.1 * np.exp(-(((d - 0.2) / 0.05) ** 2))
    if name == "polyester":  # a level band of gloss below the chest
        return np.broadcast_to(1.0 + 0.2 * np.exp(-(((v - 0.05 - 0.2 * rng.random()) / 0.05) ** 2)), (size, size))
    if name == "denim":  # twill: fine diagonal ridges
        return 1.0 + 0.12 * np.sin(2 * math.pi * 14 * (u - v) + 6.3 * rng.random())
    if name == "linen":  # slubs: short thick streaks along the weft
        return 1.0 + np.clip(0.12 * _streaks(rng, 32, 10, size), -0.2, 0.2)
    if name == "viscose":  # soft vertical drape folds, deeper towards the hem
        return 1.0 + 0.1 * np.clip((v + 0.25) / 0.5, 0, 1) * np.sin(2 * math.pi * 7 * u + 6.3 * rng.random())
    if name == "wool":  # a fine, soft fuzz (the cloth and its outline are blurred besides)
        return 1.0 + np.clip(0.06 * _smooth_noise(rng, 24, size), -0.15, 0.15)
    if name == "knit_blend":  # heather: a broad mottle of two yarns
        return 1.0 + np.clip(0.1 * _smooth_noise(rng, 10, size), -0.2, 0.2)
    return None


def make_cloth(size: int, base: RGB, pattern: str, main: RGB, ink: RGB, texture: str, rng: np.random.Generator,
               frame: Frame, panel: tuple[float, float, float, float] | None = None) -> Image.Image:
    """A piece of cloth the size of the canvas: ``base``, patterned, textured; cut out by a mask later."""
    cloth = Image.new("RGB", (size, size), base)
    _pattern(cloth, pattern, main, ink, rng, frame, panel)
    _texture(ImageDraw.Draw(cloth), texture, base, size)
    return cloth
