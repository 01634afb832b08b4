"""Pictures that show no garment, for out-of-distribution tests: what a catalogue feed sometimes carries.

Eight kinds (:data:`NONGARMENT_KINDS`): a landscape, a text or label card, random noise, a shoe, a chair,
a cartoon face, a screenshot of a table and solid colour blocks. Some are far from a product photo
(noise, screenshots), some near it (a shoe or a chair on a studio backdrop). Every picture is driven by
the ``numpy`` generator passed in, and takes the garments' way to the model (:func:`to_model_input`:
JPEG, then the tagger's decode), so it differs from a garment in content, not in compression.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from model.drift import to_model_input
from model.errors import ModelArgumentError
from modelspec.tensors import IMAGE_SIZE

log = logging.getLogger(__name__)

RGB = tuple[int, int, int]
_BACKDROPS: tuple[RGB, ...] = ((236, 234, 230), (248, 248, 246), (226, 222, 214), (214, 220, 228))


def _colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> RGB:
    r, g, b = rng.integers(low, high, size=3).tolist()
    return (r, g, b)


def _between(a: RGB, b: RGB, t: float) -> RGB:
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return (r, g, bl)


def _landscape(image: Image.Image, draw: ImageDraw.ImageDraw, rng: np.random.Generator, s: int) -> None:
    sky, haze = _colour(rng, 60, 200), _colour(rng, 180, 256)
    ramp = np.linspace(0.0, 1.0, s, dtype=np.float32)[:, None, None]
    gradient = np.broadcast_to(np.array(sky, np.float32) * (1 - ramp) + np.array(haze, np.float32) * ramp, (s, s, 3))
    image.paste(Image.fromarray(gradient.astype(np.uint8)))
    u, v, r = (rng.random(3) * [s, s * 0.4, s * 0.08] + [0, s * 0.05, s * 0.04]).tolist()
    draw.ellipse((u - r, v - r, u + r, v + r), fill=(252, 236, 160))
    for layer in range(int(rng.integers(2, 4))):  # mountain ranges, nearer ones lower and darker
        base = s * (0.5 + 0.12 * layer)
        peaks = [(x, base - rng.random() * s * 0.3) for x in np.linspace(-s * 0.1, s * 1.1, 6).tolist()]
        draw.polygon([(-1, s), *peaks, (s + 1, s)], fill=_colour(rng, 30, 140 - 30 * layer))
    draw.rectangle((0, s * 0.85, s, s), fill=_colour(rng, 40, 150))


def _text_card(image: Image.Image, draw: ImageDraw.ImageDraw, rng: np.random.Generator, s: int) -> None:
    paper, ink = _colour(rng, 200, 256), _colour(rng, 0, 90)
    draw.rectangle((s * 0.06, s * 0.06, s * 0.94, s * 0.94), fill=paper, outline=ink, width=max(1, s // 48))
    draw.rectangle((s * 0.12, s * 0.12, s * 0.88, s * 0.24), fill=_colour(rng, 0, 200))  # a heading band
    y = s * 0.3
    while y < s * 0.72:  # lines of words
        x = s * 0.12
        while x < s * 0.8:
            word = s * (0.04 + 0.1 * rng.random())
            draw.rectangle((x, y, min(x + word, s * 0.88), y + s * 0.035), fill=ink)
            x += word + s * 0.025
        y += s * 0.07
    x = s * 0.14
    while x < s * 0.86:  # a barcode
        bar = max(1, round(s * 0.008 * int(rng.integers(1, 4))))
        draw.rectangle((x, s * 0.76, x + bar, s * 0.88), fill=(0, 0, 0))
        x += bar + max(1, round(s * 0.008 * int(rng.integers(1, 3))))


def _noise(image: Image.Image, draw: ImageDraw.ImageDraw, rng: np.random.Generator, s: int) -> None:
    cells = int(rng.choice([4, 8, 16, 32, s]))
    noise = Image.fromarray(rng.integers(0, 256, size=(cells, cells, 3), dtype=np.uint8))
    image.paste(noise.resize((s, s), Image.Resampling.NEAREST if rng.random() < 0.5 else Image.Resampling.BILINEAR))


def _shoe(image: Image.Image, draw: ImageDraw.ImageDraw, rng: np.random.Generator, s: int) -> None:
    upper, sole = _colour(rng, 20, 230), _colour(rng, 20, 250)
    y, h = s * (0.5 + 0.1 * rng.random()), s * (0.18 + 0.06 * rng.random())
    heel = s * 0.15 * rng.random()  # a heel lifts the back
    draw.polygon([(s * 0.12, y - h - heel), (s * 0.3, y - h - heel), (s * 0.45, y - h * 0.55), (s * 0.8, y - h * 0.4),
                  (s * 0.9, y), (s * 0.12, y)], fill=upper)
    draw.rounded_rectangle((s * 0.1, y, s * 0.92, y + s * 0.05), radius=s * 0.02, fill=sole)
    for i in range(4):  # laces
        x = s * (0.42 + 0.06 * i)
        draw.line((x, y - h * 0.55, x + s * 0.04, y - h * 0.35), fill=sole, width=max(1, s // 64))


def _chair(image: Image.Image, draw: ImageDraw.ImageDraw, rng: np.random.Generator, s: int) -> None:
    wood, seat = _colour(rng, 60, 200), _colour(rng, 20, 240)
    leg = max(2, s // 32)
    x0, x1, y = s * 0.28, s * 0.72, s * (0.52 + 0.06 * rng.random())
    draw.rectangle((x0, s * 0.15, x0 + leg, y), fill=wood)  # the back's posts
    draw.rectangle((x1 - leg, s * 0.15, x1, y), fill=wood)
    draw.rectangle((x0, s * 0.15, x1, s * 0.3), fill=seat)  # the backrest
    draw.polygon([(x0 - s * 0.06, y), (x1 + s * 0.06, y), (x1, y + s * 0.08), (x0, y + s * 0.08)], fill=seat)
    for x in (x0 - s * 0.05, x0 + s * 0.04, x1 - s * 0.04, x1 + s * 0.05):
        draw.rectangle((x - leg / 2, y + s * 0.08, x + leg / 2, s * 0.9), fill=wood)


def _face(image: Image.Image, draw: ImageDraw.ImageDraw, rng: np.random.Generator, s: int) -> None:
    skin = _between((110, 70, 45), (255, 224, 189), rng.random())  # a skin tone, dark to light
    cx, cy, r = s * (0.45 + 0.1 * rng.random()), s * (0.45 + 0.1 * rng.random()), s * (0.28 + 0.1 * rng.random())
    draw.chord((cx - r * 1.1, cy - r * 1.15, cx + r * 1.1, cy + r * 0.6), 180, 360, fill=_colour(rng, 0, 160))
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=skin)
    for side in (-1, 1):
        ex, er = cx + side * r * 0.38, r * 0.12
        draw.ellipse((ex - er, cy - r * 0.3 - er, ex + er, cy - r * 0.3 + er), fill=(255, 255, 255))
        draw.ellipse((ex - er / 2, cy - r * 0.3 - er / 2, ex + er / 2, cy - r * 0.3 + er / 2), fill=(20, 20, 20))
    draw.arc((cx - r * 0.45, cy - r * 0.1, cx + r * 0.45, cy + r * 0.55), 20, 160, fill=(150, 40, 40),
             width=max(1, s // 40))


def _table(image: Image.Image, draw: ImageDraw.ImageDraw, rng: np.random.Generator, s: int) -> None:
    chrome, text = _colour(rng, 30, 120), _colour(rng, 0, 80)
    draw.rectangle((0, 0, s, s), fill=(250, 250, 250))
    draw.rectangle((0, 0, s, s * 0.1), fill=chrome)  # a window's title bar
    rows, cols = int(rng.integers(6, 12)), int(rng.integers(2, 5))
    height = s * 0.85 / rows
    for row in range(rows):
        top = s * 0.12 + row * height
        if row % 2:
            draw.rectangle((0, top, s, top + height), fill=(232, 236, 242))
        for col in range(cols):
            left = s * col / cols + s * 0.02
            width = (s / cols - s * 0.06) * (0.4 + 0.6 * rng.random())
            draw.rectangle((left, top + height * 0.3, left + width, top + height * 0.65),
                           fill=chrome if row == 0 else text)
    for col in range(1, cols):
        draw.line((s * col / cols, s * 0.1, s * col / cols, s), fill=(190, 190, 190))


def _blocks(image: Image.Image, draw: ImageDraw.ImageDraw, rng: np.random.Generator, s: int) -> None:
    draw.rectangle((0, 0, s, s), fill=_colour(rng))
    for _ in range(int(rng.integers(2, 7))):
        left, right = sorted((rng.random(2) * s).tolist())
        top, bottom = sorted((rng.random(2) * s).tolist())
        draw.rectangle((left, top, right, bottom), fill=_colour(rng))


_Painter = Callable[[Image.Image, ImageDraw.ImageDraw, np.random.Generator, int], None]
_PAINTERS: dict[str, _Painter] = {
    "landscape": _landscape, "text_card": _text_card, "noise": _noise, "shoe": _shoe, "chair": _chair,
    "face": _face, "table": _table, "blocks": _blocks,
}
#: Every kind of non-garment picture, in a fixed order.
NONGARMENT_KINDS: tuple[str, ...] = tuple(_PAINTERS)


def render_nongarment(rng: np.random.Generator, size: int = 128, kind: str | None = None) -> Image.Image:
    """A ``size`` x ``size`` RGB picture of ``kind`` (one of :data:`NONGARMENT_KINDS`, drawn from ``rng``
    when not given)."""
    if kind is None:
        kind = NONGARMENT_KINDS[int(rng.integers(len(NONGARMENT_KINDS)))]
    if kind not in _PAINTERS:
        raise ModelArgumentError(f"unknown non-garment kind {kind!r}; known: {', '.join(NONGARMENT_KINDS)}")
    image = Image.new("RGB", (size, size), _BACKDROPS[int(rng.integers(len(_BACKDROPS)))])
    _PAINTERS[kind](image, ImageDraw.Draw(image), rng, size)
    return image


def nongarment_dataset(n: int, *, seed: int) -> np.ndarray:
    """``n`` non-garment model inputs, uint8 ``(n, IMAGE_SIZE, IMAGE_SIZE, 3)``, the kinds in turn.

    Row ``i`` shows ``NONGARMENT_KINDS[i % len(NONGARMENT_KINDS)]`` and depends only on ``(seed, i)``;
    it is rendered at a product-photo size (96 to 160 pixels) and takes the garments' JPEG and decode path.
    """
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    for i in range(n):
        rng = np.random.default_rng((seed, i))
        kind = NONGARMENT_KINDS[i % len(NONGARMENT_KINDS)]
        images[i] = to_model_input(render_nongarment(rng, int(rng.integers(96, 161)), kind), rng)
    return images
