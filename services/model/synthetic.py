"""A synthetic catalogue: long-tailed, correlated attributes and a garment-like picture of each.

``sample_attributes`` draws the 13 attributes of one top from Zipf-like priors with a few of the
correlations real catalogues show (hoodies are hooded, shirts have collars and buttons, the secondary
colour differs from the main one, knitted tops fit loosely). ``render`` draws a flat, product-photo-like
picture of it with Pillow: a silhouette shaped by category, fit, garment and sleeve length, a collar
mark, the main colour patterned in the secondary colour, on a light background.

Everything is driven by the ``numpy`` generator passed in: the same generator state gives the same
attributes and the same pixels.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping

import numpy as np
from PIL import Image, ImageDraw
from rich.progress import track

from services.model.dataset import LabelledImages, encode_labels
from services.model.serving import IMAGE_SIZE
from services.model.taxonomy import ATTRIBUTE_NAMES, BY_NAME

log = logging.getLogger(__name__)

#: The colour names of the taxonomy and the RGB each is drawn in; far enough apart that the mean
#: colour of a garment, jittered and shaded, is still nearest to its own name.
COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (28, 28, 30), "white": (246, 246, 242), "grey": (130, 130, 134), "navy": (24, 34, 92),
    "blue": (46, 100, 205), "red": (200, 32, 44), "pink": (238, 150, 182), "green": (44, 138, 64),
    "yellow": (240, 208, 52), "beige": (216, 196, 156), "brown": (116, 72, 40), "purple": (118, 52, 150),
    "orange": (238, 128, 32),
}
RGB = tuple[int, int, int]
Point = tuple[float, float]
_WHITE: RGB = (255, 255, 255)
_BLACK: RGB = (0, 0, 0)

#: How steep each prior is: the weight of the class of rank r is 1 / (r + 1) ** exponent.
#: Garment length, main colour and main pattern are the extreme long tails of the brief.
_EXPONENT: dict[str, float] = {
    "category": 1.0, "main_colour": 1.4, "secondary_colour": 1.0, "main_pattern": 2.2,
    "secondary_pattern": 1.6, "texture": 1.4, "trend_element": 1.3, "collar": 1.1,
    "sleeve_length": 1.0, "garment_length": 2.4, "fit": 1.2, "placket": 1.3, "fabric": 1.1,
}

#: Classes from most to least common where the taxonomy's order is not already that.
_RANK: dict[str, tuple[str, ...]] = {
    "category": ("t_shirt", "blouse", "sweater", "shirt", "tank_top", "hoodie", "cardigan", "polo", "tunic"),
    "sleeve_length": ("long", "short", "sleeveless", "three_quarter", "elbow", "cap"),
    "garment_length": ("regular", "hip", "cropped", "long", "extra_long"),
    "fit": ("regular", "slim", "loose", "oversized"),
    "fabric": ("cotton", "polyester", "viscose", "knit_blend", "wool", "linen", "silk", "denim"),
}

#: (given attribute, given class) -> attribute -> class -> factor on its prior weight.
_BOOST: dict[tuple[str, str], dict[str, dict[str, float]]] = {
    ("category", "hoodie"): {"collar": {"hooded": 60.0}, "sleeve_length": {"long": 6.0},
                             "placket": {"zip": 8.0}, "fit": {"loose": 3.0, "oversized": 4.0},
                             "fabric": {"cotton": 3.0}},
    ("category", "shirt"): {"collar": {"shirt_collar": 40.0, "mandarin_collar": 6.0},
                            "placket": {"full_button": 60.0}, "fabric": {"cotton": 2.0, "linen": 6.0}},
    ("category", "polo"): {"collar": {"shirt_collar": 40.0}, "placket": {"half_button": 60.0},
                           "sleeve_length": {"short": 8.0}},
    ("category", "blouse"): {"collar": {"v_neck": 3.0, "peter_pan_collar": 6.0, "off_shoulder": 4.0},
                             "trend_element": {"ruffles": 5.0, "bow": 5.0, "puff_shoulder": 5.0},
                             "fabric": {"viscose": 4.0, "silk": 6.0}},
    ("category", "sweater"): {"collar": {"turtleneck": 12.0}, "sleeve_length": {"long": 10.0},
                              "texture": {"knitted": 25.0, "ribbed": 8.0},
                              "fabric": {"wool": 15.0, "knit_blend": 15.0}},
    ("category", "cardigan"): {"placket": {"full_button": 40.0}, "sleeve_length": {"long": 8.0},
                               "texture": {"knitted": 20.0}, "fabric": {"wool": 10.0, "knit_blend": 12.0},
                               "collar": {"v_neck": 8.0}},
    ("category", "tank_top"): {"sleeve_length": {"sleeveless": 80.0}, "collar": {"scoop_neck": 8.0,
                               "square_neck": 4.0}, "garment_length": {"cropped": 6.0}},
    ("category", "t_shirt"): {"sleeve_length": {"short": 8.0}, "collar": {"crew_neck": 3.0, "v_neck": 2.0},
                              "garment_length": {"cropped": 2.0}, "fabric": {"cotton": 3.0}},
    ("category", "tunic"): {"garment_length": {"long": 40.0, "extra_long": 25.0}, "fit": {"loose": 4.0},
                            "placket": {"half_button": 4.0}},
    ("texture", "knitted"): {"fit": {"loose": 3.0, "oversized": 3.0}},
    ("texture", "ribbed"): {"fit": {"slim": 5.0}},
    ("fabric", "denim"): {"main_colour": {"blue": 20.0, "navy": 10.0}},
}

#: The order attributes are drawn in, so that every boost's condition is drawn before its target.
_DRAW_ORDER = ("category", "texture", "fit", "collar", "sleeve_length", "garment_length", "placket",
               "fabric", "main_colour", "main_pattern", "secondary_colour", "secondary_pattern",
               "trend_element")


def _prior(name: str) -> np.ndarray:
    classes = BY_NAME[name].classes
    rank = {c: r for r, c in enumerate(_RANK.get(name, classes))}
    weights = np.array([1.0 / (rank[c] + 1) ** _EXPONENT[name] for c in classes])
    return weights / weights.sum()


#: Each attribute's marginal prior before correlations, in the taxonomy's class order.
PRIORS: dict[str, np.ndarray] = {name: _prior(name) for name in ATTRIBUTE_NAMES}


def _draw(rng: np.random.Generator, name: str, drawn: Mapping[str, str],
          exclude: frozenset[str] = frozenset(), extra: Mapping[str, float] | None = None) -> str:
    classes = BY_NAME[name].classes
    weights = PRIORS[name].copy()
    for given, value in drawn.items():
        for label, factor in _BOOST.get((given, value), {}).get(name, {}).items():
            weights[classes.index(label)] *= factor
    for label, factor in (extra or {}).items():
        weights[classes.index(label)] *= factor
    for label in exclude:
        weights[classes.index(label)] = 0.0
    cumulative = np.cumsum(weights)
    return classes[int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))]


def sample_attributes(rng: np.random.Generator) -> dict[str, str]:
    """One product's 13 labels, in the taxonomy's attribute order."""
    drawn: dict[str, str] = {}
    for name in _DRAW_ORDER:
        if name == "secondary_colour":
            solid = drawn["main_pattern"] == "solid"
            exclude = frozenset({drawn["main_colour"]} | (set() if solid else {"none"}))
            drawn[name] = _draw(rng, name, drawn, exclude, extra={"none": 12.0} if solid else None)
        elif name == "secondary_pattern":
            drawn[name] = _draw(rng, name, drawn, frozenset({drawn["main_pattern"]}), extra={"none": 6.0})
        else:
            drawn[name] = _draw(rng, name, drawn)
    return {name: drawn[name] for name in ATTRIBUTE_NAMES}


_SHOULDER = {"slim": 0.16, "regular": 0.19, "loose": 0.22, "oversized": 0.25}
_HEM_FLARE = {"slim": 0.92, "regular": 1.0, "loose": 1.08, "oversized": 1.12}
_HEM = {"cropped": 0.32, "regular": 0.48, "hip": 0.56, "long": 0.66, "extra_long": 0.72}
_SLEEVE = {"sleeveless": 0.0, "cap": 0.05, "short": 0.13, "elbow": 0.22, "three_quarter": 0.29, "long": 0.38}


class _Frame:
    """Garment coordinates (x across from the centre line, y down from the shoulders, in units of the
    canvas) mapped to pixels, with the jitter of one picture; and the garment's key measures."""

    def __init__(self, attrs: Mapping[str, str], rng: np.random.Generator, size: int) -> None:
        jitter = rng.random(3)
        self.size = size
        self.scale = size * (0.92 + 0.12 * jitter[0])
        self.cx = size * (0.48 + 0.04 * jitter[1])
        self.y0 = size * (0.205 + 0.03 * jitter[2])
        fit = attrs["fit"]
        self.chest = _SHOULDER[fit]
        self.shoulder = self.chest * (0.8 if attrs["category"] == "tank_top" else 1.0)
        self.hem_half = _SHOULDER[fit] * _HEM_FLARE[fit] * (1.15 if attrs["category"] == "tunic" else 1.0)
        self.hem = _HEM[attrs["garment_length"]]
        self.neck = self.shoulder * 0.35
        self.polygons = self._polygons(attrs)

    def p(self, x: float, y: float) -> Point:
        return (self.cx + x * self.scale, self.y0 + y * self.scale)

    def box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        return (*self.p(x0, y0), *self.p(x1, y1))

    def _polygons(self, attrs: Mapping[str, str]) -> list[list[Point]]:
        s, c, h, length = self.shoulder, self.chest * 0.97, self.hem_half, _SLEEVE[attrs["sleeve_length"]]
        shapes = [[(-self.neck, 0.0), (self.neck, 0.0), (s, 0.03), (c, 0.16), (h, self.hem),
                   (-h, self.hem), (-c, 0.16), (-s, 0.03)]]
        cuff = 0.1 if attrs["fit"] in ("loose", "oversized") else 0.08
        ex, ey = s + 0.5 * length, 0.03 + 0.87 * length  # down and out at 60 degrees, cuff square to it
        for side in (1.0, -1.0) if length else ():
            shapes.append([(side * s, 0.03), (side * ex, ey), (side * (ex - 0.87 * cuff), ey + 0.5 * cuff),
                           (side * c, 0.16)])
        return [[self.p(x, y) for x, y in shape] for shape in shapes]


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(int(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _jitter(rgb: RGB, rng: np.random.Generator, amount: int) -> RGB:
    shift = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(min(255, max(0, c + d))) for c, d in zip(rgb, shift, strict=True))  # type: ignore[return-value]


def _pattern(draw: ImageDraw.ImageDraw, name: str, main: RGB, ink: RGB, rng: np.random.Generator,
             frame: _Frame) -> None:
    if name == "solid":
        return
    size = frame.size
    step = size * (0.08 + 0.04 * rng.random())
    width = max(1, round(step / 2.5))
    marks = np.arange(-step * rng.random(), size, step).tolist()
    if name == "striped":
        for v in marks:
            draw.rectangle((0, v, size, v + width), fill=ink)
    elif name == "checked":
        for v in marks:
            draw.rectangle((0, v, size, v + width), fill=_mix(main, ink, 0.6))
            draw.rectangle((v, 0, v + width, size), fill=_mix(main, ink, 0.6))
    elif name in ("dotted", "geometric"):  # dots or triangles on a staggered grid
        r = step * 0.22
        for u, v in ((u + step / 2 * (row % 2), v) for row, v in enumerate(marks) for u in marks):
            if name == "dotted":
                draw.ellipse((u - r, v - r, u + r, v + r), fill=ink)
            else:
                draw.polygon([(u - r * 1.4, v + r), (u + r * 1.4, v + r), (u, v - r * 1.4)], fill=ink)
    elif name == "graphic":
        draw.ellipse(frame.box(-0.09, 0.1, 0.09, 0.28), fill=ink)
        draw.rectangle(frame.box(-0.035, 0.155, 0.035, 0.225), fill=main)
    else:  # scattered motifs: floral, animal, camouflage, paisley
        count = {"camouflage": 14, "animal": 22, "floral": 14, "paisley": 12}[name]
        for u, v, a, b in (rng.random((count, 4)) * [size, size, 1.0, 1.0]).tolist():
            if name == "camouflage":
                rx, ry = step * (0.6 + a), step * (0.4 + b * 0.6)
                draw.ellipse((u - rx, v - ry, u + rx, v + ry), fill=ink if a > 0.4 else _mix(main, ink, 0.5))
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


def _texture(draw: ImageDraw.ImageDraw, name: str, main: RGB, size: int) -> None:
    if name == "smooth":
        return
    tone = _mix(main, _WHITE, 0.15) if name in ("lace", "sequined", "mesh") else _mix(main, _BLACK, 0.14)
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


def _collar(draw: ImageDraw.ImageDraw, name: str, f: _Frame, main: RGB, background: RGB) -> None:
    n, trim = f.neck, _mix(main, _BLACK, 0.25)
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
        draw.chord(f.box(-n * 0.9, -0.12, n * 0.9, 0.06), 180, 360, fill=_mix(main, _BLACK, 0.6))
    elif name == "shirt_collar":
        for side in (-1, 1):
            draw.polygon([f.p(side * n, -0.01), f.p(0, 0.05), f.p(side * n * 1.25, 0.07)],
                         fill=_mix(main, trim, 0.5), outline=trim)
    elif name == "peter_pan_collar":
        for side in (-1, 1):
            draw.ellipse(f.box(min(0, side * n), 0.0, max(0, side * n), 0.06),
                         fill=_mix(main, _WHITE, 0.7), outline=trim)


def _details(draw: ImageDraw.ImageDraw, attrs: Mapping[str, str], f: _Frame, main: RGB, ink: RGB,
             background: RGB) -> None:
    trim, line = _mix(main, _BLACK, 0.4), max(1, f.size // 64)
    placket, trend = attrs["placket"], attrs["trend_element"]
    if placket in ("full_button", "half_button", "zip"):
        end, zip_ = f.hem if placket != "half_button" else 0.2, placket == "zip"
        draw.line((*f.p(0, 0.05), *f.p(0, end)), fill=(150, 150, 150) if zip_ else trim, width=line)
        for y in [] if zip_ else np.arange(0.08, end, 0.07).tolist():
            draw.ellipse(f.box(-0.012, y - 0.012, 0.012, y + 0.012), fill=_mix(main, _WHITE, 0.6))
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


def render(attrs: Mapping[str, str], rng: np.random.Generator, size: int = 128) -> Image.Image:
    """A ``size`` x ``size`` RGB picture of a top with these attributes on a light background."""
    background = _jitter((236, 234, 230), rng, 12)
    main = _jitter(COLOURS[attrs["main_colour"]], rng, 8)
    if attrs["secondary_colour"] == "none":  # a pattern still needs a second tone: one of the main colour
        ink = _mix(main, _BLACK, 0.45) if sum(main) > 240 else _mix(main, _WHITE, 0.45)
    else:
        ink = _jitter(COLOURS[attrs["secondary_colour"]], rng, 8)
    frame = _Frame(attrs, rng, size)
    garment = Image.new("RGB", (size, size), main)  # the cloth, patterned edge to edge, then cut out
    _pattern(ImageDraw.Draw(garment), attrs["main_pattern"], main, ink, rng, frame)
    _texture(ImageDraw.Draw(garment), attrs["texture"], main, size)
    mask = Image.new("L", (size, size), 0)
    for polygon in frame.polygons:
        ImageDraw.Draw(mask).polygon(polygon, fill=255)
    image = Image.new("RGB", (size, size), background)
    image.paste(garment, mask=mask)
    draw = ImageDraw.Draw(image)
    for polygon in frame.polygons:
        draw.polygon(polygon, outline=_mix(main, _BLACK, 0.3))
    _collar(draw, attrs["collar"], frame, main, background)
    _details(draw, attrs, frame, main, ink, background)
    return image


def _photo(attrs: Mapping[str, str], rng: np.random.Generator) -> np.ndarray:
    """What the tagger sees of this product: rendered at a product-photo size, JPEG-encoded, then decoded
    and shrunk by the tagger's own ``decode``, so training pixels match serving pixels."""
    from services.tagger.imaging import decode  # the serving path's preprocessing, shared on purpose

    image = render(attrs, rng, size=int(rng.integers(96, 161)))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(80, 93)))
    return decode(buffer.getvalue(), max_pixels=1 << 20).pixels


def dataset(n: int, *, seed: int, progress: bool = False) -> LabelledImages:
    """``n`` labelled synthetic products; image ``i`` depends only on ``(seed, i)``."""
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    labels = np.empty((n, len(ATTRIBUTE_NAMES)), dtype=np.int64)
    for i in track(range(n), description="rendering", disable=not progress, total=n):
        rng = np.random.default_rng((seed, i))
        attrs = sample_attributes(rng)
        images[i] = _photo(attrs, rng)
        labels[i] = encode_labels(attrs)
    return LabelledImages(images, labels)
