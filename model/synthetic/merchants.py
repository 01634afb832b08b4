"""The merchants of the catalogue: the default mix of who sells what share, and each one's house style.

A merchant photographs every product the same way (:class:`MerchantStyle`: backdrop, framing, exposure,
light); :func:`merchant_style` derives that style from the merchant's id alone, so any id has one.
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass

import numpy as np

from model.synthetic.colours import RGB

#: Merchants of the default mix, busiest first: a few send most of the catalogue (Zipf-like).
MERCHANTS: tuple[str, ...] = tuple(f"m-{i:03d}" for i in (17, 3, 42, 8, 25, 11, 31, 5, 19, 27, 36, 2, 14, 40,
                                                        22, 9, 33, 6, 29, 12))
MERCHANT_MIX: dict[str, float] = {m: 1.0 / (r + 1) ** 1.1 for r, m in enumerate(MERCHANTS)}


@dataclass(frozen=True)
class MerchantStyle:
    """How one merchant photographs its products: its studio's backdrop, framing, exposure and light."""

    background: RGB
    scale: float  # the garment's size in the frame, 1.0 = the default studio's
    exposure: float  # factor on every pixel
    light: float  # strength of the light's gradient across the picture: 0 flat, 0.2 = +-20 % at the edges
    light_angle: float  # where the light comes from, radians


#: The default studio: what ``render`` uses when no merchant is named.
STUDIO = MerchantStyle(background=(236, 234, 230), scale=1.0, exposure=1.0, light=0.0, light_angle=0.0)
#: Studio backdrops: white, off-white, warm, cool, grey, blush, sky and slate.
_BACKDROPS: tuple[RGB, ...] = ((248, 248, 246), (236, 234, 230), (228, 218, 200), (212, 218, 226),
                               (188, 188, 192), (240, 226, 228), (222, 234, 240), (150, 152, 160))


@functools.lru_cache(maxsize=4096)
def merchant_style(merchant_id: str) -> MerchantStyle:
    """The house style of ``merchant_id``: the same for every product it sells, any id has one."""
    rng = np.random.default_rng(zlib.crc32(merchant_id.encode()))
    return MerchantStyle(background=_BACKDROPS[int(rng.integers(len(_BACKDROPS)))],
                         scale=0.84 + 0.16 * rng.random(), exposure=0.95 + 0.1 * rng.random(),
                         light=0.2 * rng.random(), light_angle=2 * math.pi * rng.random())
