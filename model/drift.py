"""Drift knobs for the synthetic catalogue, and the camera: what happens to a picture on its way to the model.

:class:`Drift` names every way the monitoring work can move the synthetic catalogue away from what the
model was trained on; its defaults are "no drift". Prior shifts, a new pattern, a new merchant mix and
non-garment pictures change *what* is photographed (``model.synthetic`` reads them); brightness,
contrast and blur change *how*: :func:`develop` applies them to a rendered picture.

:func:`parse_drift` reads the knobs from command-line text (``brightness=0.6``, ``colour_shift=red:3,blue:0.5``)
and names the knob at fault when one is wrong. :func:`to_model_input` is the last step of every synthetic
picture: JPEG-encoded, then decoded and shrunk by the tagger's own ``decode``, so training pixels match
serving pixels.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable
from typing import Annotated, Literal

import numpy as np
from PIL import Image, ImageFilter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from model.errors import DriftKnobError
from modelspec.taxonomy import BY_NAME
from modelspec.tensors import IMAGE_SIZE

log = logging.getLogger(__name__)

#: Patterns outside the taxonomy that ``Drift.new_pattern`` can introduce; the model has no class for them.
NOVEL_PATTERNS: tuple[str, ...] = ("houndstooth", "tie_dye", "argyle")
NovelPattern = Literal["houndstooth", "tie_dye", "argyle"]
#: A merchant id as the catalogue contract spells it (``ProductData.merchant_id``).
MerchantId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-/]*$")]
Factor = Annotated[float, Field(ge=0.0, le=1000.0)]


class Drift(BaseModel):
    """How far the synthetic catalogue moves from the one the model learnt; every default is "no drift"."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    colour_shift: dict[str, Factor] = Field(
        default_factory=dict, description="main_colour class -> factor on its prior weight (red:3 triples red)")
    pattern_shift: dict[str, Factor] = Field(
        default_factory=dict, description="main_pattern class -> factor on its prior weight")
    brightness: float = Field(1.0, gt=0.0, le=4.0, description="factor on every pixel (0.6 = a darker camera)")
    contrast: float = Field(1.0, ge=0.0, le=4.0, description="factor on each pixel's distance from the mean")
    blur: float = Field(0.0, ge=0.0, le=16.0, description="Gaussian blur radius, in pixels of the 64x64 input")
    new_pattern: NovelPattern | None = Field(
        None, description="a main pattern outside the taxonomy; its main_pattern truth is then None")
    new_pattern_share: float = Field(
        0.2, gt=0.0, le=1.0, description="share of garments drawn with new_pattern, when it is set")
    merchant_mix: dict[MerchantId, Factor] = Field(
        default_factory=dict, description="merchant id -> weight; replaces the default mix, new ids welcome")
    non_garment: float = Field(0.0, ge=0.0, le=1.0, description="share of pictures that show no garment")

    @field_validator("colour_shift", "pattern_shift")
    @classmethod
    def _known_classes(cls, shift: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        attribute = BY_NAME["main_colour" if info.field_name == "colour_shift" else "main_pattern"]
        unknown = sorted(set(shift) - set(attribute.classes))
        if unknown:
            raise ValueError(f"{', '.join(unknown)} not a {attribute.name} class; known: "
                             f"{', '.join(attribute.classes)}")
        if shift and all(shift.get(c, 1.0) == 0.0 for c in attribute.classes):
            raise ValueError(f"sets every {attribute.name} class to 0; leave at least one above 0")
        return shift

    @field_validator("merchant_mix")
    @classmethod
    def _some_merchant(cls, mix: dict[str, float]) -> dict[str, float]:
        if mix and not any(weight > 0 for weight in mix.values()):
            raise ValueError("give at least one merchant a positive weight")
        return mix

    @property
    def camera(self) -> bool:
        """Whether brightness, contrast or blur changes the pictures."""
        return self.brightness != 1.0 or self.contrast != 1.0 or self.blur > 0.0

    def knobs(self) -> dict[str, object]:
        """The knobs set away from "no drift", for logs and reports."""
        return self.model_dump(exclude_defaults=True)


_MAPPING_KNOBS = frozenset({"colour_shift", "pattern_shift", "merchant_mix"})
_EXAMPLES = {"colour_shift": "colour_shift=red:3,blue:0.5", "pattern_shift": "pattern_shift=floral:4",
             "merchant_mix": "merchant_mix=m-017:1,m-900:3", "new_pattern": "new_pattern=houndstooth"}


def _mapping(knob: str, text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, weight = item.partition(":")
        if not sep or not name.strip() or not weight.strip():
            raise DriftKnobError(knob, f"{item!r} is not NAME:WEIGHT (e.g. {_EXAMPLES[knob]})")
        pairs[name.strip()] = weight.strip()
    if not pairs:
        raise DriftKnobError(knob, f"needs at least one NAME:WEIGHT (e.g. {_EXAMPLES[knob]})")
    return pairs


def parse_drift(items: Iterable[str]) -> Drift:
    """A :class:`Drift` from ``KNOB=VALUE`` texts, e.g. ``["brightness=0.6", "non_garment=0.2"]``.

    Mapping knobs (``colour_shift``, ``pattern_shift``, ``merchant_mix``) take ``NAME:WEIGHT,...`` and
    may be given more than once (merged); any other knob only once. Raises :class:`DriftKnobError`
    naming the knob for an unknown knob, a malformed text or a value out of range.
    """
    scalars: dict[str, str] = {}
    mappings: dict[str, dict[str, str]] = {}
    for item in items:
        knob, sep, value = (part.strip() for part in item.partition("="))
        if knob not in Drift.model_fields:
            raise DriftKnobError(knob, f"unknown; known knobs: {', '.join(Drift.model_fields)}")
        if not sep or not value:
            raise DriftKnobError(knob, f"needs a value: {knob}=VALUE (e.g. {_EXAMPLES.get(knob, knob + '=0.5')})")
        if knob in _MAPPING_KNOBS:
            mappings.setdefault(knob, {}).update(_mapping(knob, value))
        elif knob in scalars:
            raise DriftKnobError(knob, "given twice; give it once")
        else:
            scalars[knob] = value
    try:
        return Drift.model_validate({**scalars, **mappings})
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        knob, *inside = (str(part) for part in first["loc"])
        message = str(first["ctx"]["error"]) if first["type"] == "value_error" else first["msg"]
        if inside and inside[-1] == "[key]":
            given = f"name {first['input']!r}: "
        elif inside:
            given = f"{inside[0]}:{first['input']}: "
        else:
            given = "" if isinstance(first["input"], dict) else f"{first['input']!r}: "
        raise DriftKnobError(knob, given + message) from e


def develop(image: Image.Image, drift: Drift) -> Image.Image:
    """The picture as a drifted camera takes it: contrast about its mean, then brightness, then blur.

    The blur radius is in pixels of the model's 64x64 input, so a picture of any size ends as blurred.
    """
    if not drift.camera:
        return image
    if drift.brightness != 1.0 or drift.contrast != 1.0:
        pixels = np.asarray(image, dtype=np.float32)
        mean = float(pixels.mean())
        pixels = (mean + (pixels - mean) * drift.contrast) * drift.brightness
        image = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))
    if drift.blur > 0.0:
        image = image.filter(ImageFilter.GaussianBlur(drift.blur * image.width / IMAGE_SIZE))
    return image


def to_model_input(image: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """What the tagger sees of a picture: JPEG-encoded (quality 80-92), then decoded and shrunk to
    ``(IMAGE_SIZE, IMAGE_SIZE, 3)`` uint8 by the tagger's own ``decode``."""
    from modelspec.preprocess import decode

    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(rng.integers(80, 93)))
    return decode(buffer.getvalue(), max_pixels=1 << 20).pixels

