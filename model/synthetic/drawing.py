"""A flat, product-photo-like picture of one top, drawn with Pillow in a merchant's house style.

:func:`render` cuts the cloth (main colour and pattern) to the silhouette, adds a hem band and cuffs in
the secondary pattern, a collar mark and the details for placket and trend element, then lights it: the
merchant's exposure and light gradient, and the fabric's surface cue on the garment. Each picture is
posed and lit a little differently, driven only by its generator.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from model.synthetic.cloth import fabric_surface, grid, make_cloth
from model.synthetic.colours import BLACK, COLOURS, RGB, WHITE, jitter, mix
from model.synthetic.frame import Frame
from model.synthetic.merchants import STUDIO, MerchantStyle


def _collar(draw: ImageDraw.ImageDraw, name: str, f: Frame, main: RGB, background: RGB) -> None:
    n, trim = f.neck, mix(main, BLACK, 0.25)
    if name in ("crew_neck", "peter_pan_collar", "hooded", "shirt_collar"):
        draw.ellipse(f.box(-n, -0.05, n, 0.05), fill=background, outline=trim, width=max(1, f.size // 64))
    elif name == "scoop_neck":
        draw.ellipse(f.box(-n * 1.3, -0.12, n * 1.3, 0.12), fill=background)
    elif name == "v_neck":
        draw.polygon([f.p(-n, -0.001), f.p(n, -0.001), f.p(0, 0.14)], fill=background, outline=trim)
    elif name == "square_neck":
        draw.rectangle(f.box(-n, -0.001, n, 0.08), fill=background)
    elif name in ("turtleneck", "mandarin_collar"):
        draw.rectangle(f.box(-n * 0.85, -0.07 if name == "turtleneck" else -0.035, n * 0.85, 0.01), fill=trim)
    elif name == "off_shoulder":
        draw.rectangle(f.box(-f.shoulder - 0.01, -0.01, f.shoulder + 0.01, 0.05), fill=background)
        draw.line((*f.p(-f.shoulder, 0.05), *f.p(f.shoulder, 0.05)), fill=trim, width=max(1, f.size // 48))
    if name == "hooded":
        draw.chord(f.box(-n * 1.5, -0.17, n * 1.5, 0.06), 180, 360, fill=trim)
        draw.chord(f.box(-n * 0.9, -0.12, n * 0.9, 0.06), 180, 360, fill=mix(main, BLACK, 0.6))
    elif name == "shirt_collar":
        for side in (-1, 1):
            draw.polygon([f.p(side * n, -0.01), f.p(0, 0.05), f.p(side * n * 1.25, 0.07)],
                         fill=mix(main, trim, 0.5), outline=trim)
    elif name == "peter_pan_collar":
        for side in (-1, 1):
            draw.ellipse(f.box(min(0, side * n), 0.0, max(0, side * n), 0.06),
                         fill=mix(main, WHITE, 0.7), outline=trim)


def _details(draw: ImageDraw.ImageDraw, attrs: Mapping[str, str], f: Frame, main: RGB, ink: RGB,
             background: RGB) -> None:
    trim, line = mix(main, BLACK, 0.4), max(1, f.size // 64)
    placket, trend = attrs["placket"], attrs["trend_element"]
    if placket in ("full_button", "half_button", "zip"):
        end, zip_ = f.hem if placket != "half_button" else 0.2, placket == "zip"
        draw.line((*f.p(0, 0.05), *f.p(0, end)), fill=(150, 150, 150) if zip_ else trim, width=line)
        for y in [] if zip_ else np.arange(0.08, end, 0.07).tolist():
            draw.ellipse(f.box(-0.012, y - 0.012, 0.012, y + 0.012), fill=mix(main, WHITE, 0.6))
    elif placket == "wrap":
        draw.line((*f.p(-f.neck, 0.01), *f.p(f.hem_half * 0.7, f.hem)), fill=trim, width=line)
    if trend == "ruffles":
        for x in np.linspace(-f.hem_half, f.hem_half, 7).tolist():
            draw.chord(f.box(x - 0.03, f.hem - 0.03, x + 0.03, f.hem + 0.03), 0, 180, fill=main, outline=trim)
    elif trend == "fringe":
        for x in np.linspace(-f.hem_half, f.hem_half, 11).tolist():
            draw.line((*f.p(x, f.hem), *f.p(x, f.hem + 0.05)), fill=trim, width=line)
    elif trend in ("cut_out", "puff_shoulder", "bow"):
        for side in (-1, 1):
            if trend == "cut_out":  # cold shoulders
                x = side * f.shoulder * 0.8
                draw.ellipse(f.box(x - 0.03, 0.03, x + 0.03, 0.09), fill=background)
            elif trend == "puff_shoulder":
                x = side * f.shoulder
                draw.ellipse(f.box(x - 0.05, -0.02, x + 0.05, 0.08), fill=main, outline=trim)
            else:
                draw.polygon([f.p(0, 0.07), f.p(side * 0.05, 0.04), f.p(side * 0.05, 0.1)], fill=ink)
    elif trend == "lace_up":
        for a in (0.03, 0.06, 0.09):
            draw.line((*f.p(-0.025, a), *f.p(0.025, a + 0.03)), fill=ink, width=line)
            draw.line((*f.p(0.025, a), *f.p(-0.025, a + 0.03)), fill=ink, width=line)
    elif trend == "embroidery":
        for x in np.linspace(-f.neck * 1.6, f.neck * 1.6, 6).tolist():
            draw.ellipse(f.box(x - 0.012, 0.07, x + 0.012, 0.094), fill=ink)


def _lighting(style: MerchantStyle, rng: np.random.Generator, size: int) -> np.ndarray:
    """A factor on every pixel, (size, size) float32: the exposure, and a light gradient across the picture."""
    u, v = grid(size)
    angle = style.light_angle + rng.normal(0.0, 0.6)
    strength = 2.0 * (style.light + 0.06 * rng.random())
    exposure = style.exposure * (0.98 + 0.04 * rng.random())
    return exposure * (1.0 + strength * (math.cos(angle) * u + math.sin(angle) * v))


def _expose(image: Image.Image, gain: np.ndarray, garment: Image.Image, surface: np.ndarray | None) -> Image.Image:
    """The picture with ``gain`` on every pixel and the fabric's ``surface`` on the garment's."""
    if surface is not None:
        gain = gain * (1.0 + np.asarray(garment, dtype=np.float32) / 255.0 * (surface - 1.0))
    pixels = np.asarray(image, dtype=np.float32)
    pixels *= gain[..., None]  # gain is positive: only the top needs clipping
    return Image.fromarray(np.minimum(pixels, 255.0, out=pixels).astype(np.uint8))


def render(attrs: Mapping[str, str], rng: np.random.Generator, size: int = 128,
           style: MerchantStyle = STUDIO) -> Image.Image:
    """A ``size`` x ``size`` RGB picture of a top with these attributes, in a merchant's house ``style``.

    ``attrs["main_pattern"]`` may also name a pattern outside the taxonomy (``drift.NOVEL_PATTERNS``).
    """
    background = jitter(style.background, rng, 10)
    main = jitter(COLOURS[attrs["main_colour"]], rng, 8)
    if attrs["secondary_colour"] == "none":  # a pattern still needs a second tone: one of the main colour
        ink = mix(main, BLACK, 0.45) if sum(main) > 240 else mix(main, WHITE, 0.45)
    else:
        ink = jitter(COLOURS[attrs["secondary_colour"]], rng, 8)
    frame = Frame(attrs, rng, size, style.scale)
    fabric, texture, second = attrs["fabric"], attrs["texture"], attrs["secondary_pattern"]
    cloth = make_cloth(size, main, attrs["main_pattern"], main, ink, texture, rng, frame)
    mask = Image.new("L", (size, size), 0)
    for polygon in frame.polygons:
        ImageDraw.Draw(mask).polygon(polygon, fill=255)
    if fabric == "wool":  # fuzzy cloth, fuzzy outline
        fuzz = ImageFilter.GaussianBlur(size / 90)
        cloth, mask = cloth.filter(fuzz), mask.filter(fuzz)
    image = Image.new("RGB", (size, size), background)
    image.paste(cloth, mask=mask)
    draw = ImageDraw.Draw(image)
    trim = mix(main, BLACK, 0.3)
    if second != "none":  # a hem band and cuffs in the secondary pattern, on a seam
        panel = make_cloth(size, ink if second == "solid" else main, second, main, ink, texture, rng, frame,
                           frame.band_box)
        panel_mask = Image.new("L", (size, size), 0)
        for polygon in frame.panel:
            ImageDraw.Draw(panel_mask).polygon(polygon, fill=255)
        image.paste(panel, mask=panel_mask)
        draw.line((*frame.p(-frame.band_side, frame.band_top), *frame.p(frame.band_side, frame.band_top)),
                  fill=trim, width=max(1, size // 64))
    if fabric != "wool":
        for polygon in frame.polygons:
            draw.polygon(polygon, outline=trim)
    _collar(draw, attrs["collar"], frame, main, background)
    _details(draw, attrs, frame, main, ink, background)
    gain = _lighting(style, rng, size)
    return _expose(image, gain, mask, fabric_surface(fabric, rng, size))
