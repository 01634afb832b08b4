"""One product's 13 attributes, drawn from long-tailed, correlated priors.

The priors are Zipf-like (:data:`EXPONENTS`, :data:`PRIORS`), with a few of the correlations real
catalogues show (hoodies are hooded, shirts have collars and buttons, the secondary colour differs from
the main one, knitted tops fit loosely). :func:`sample_attributes` takes exactly one number from its
generator per attribute, so the same seed gives the same attributes.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from modelspec.taxonomy import ATTRIBUTE_NAMES, BY_NAME

#: How steep each prior is: the weight of the class of rank r is 1 / (r + 1) ** exponent.
#: Garment length, main colour and main pattern are the extreme long tails of the brief.
EXPONENTS: dict[str, float] = {
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


def zipf(name: str, exponent: float) -> np.ndarray:
    """Attribute ``name``'s prior with this ``exponent``, normalised, in the taxonomy's class order."""
    classes = BY_NAME[name].classes
    rank = {c: r for r, c in enumerate(_RANK.get(name, classes))}
    weights = np.array([1.0 / (rank[c] + 1) ** exponent for c in classes])
    return weights / weights.sum()


#: Each attribute's marginal prior before correlations, in the taxonomy's class order.
PRIORS: dict[str, np.ndarray] = {name: zipf(name, EXPONENTS[name]) for name in ATTRIBUTE_NAMES}


def _draw(rng: np.random.Generator, name: str, prior: np.ndarray, drawn: Mapping[str, str],
          exclude: frozenset[str] = frozenset(), extra: Mapping[str, float] | None = None) -> str:
    """One class of ``name``; always takes exactly one number from ``rng``."""
    classes = BY_NAME[name].classes
    weights = prior.copy()
    for given, value in drawn.items():
        for label, factor in _BOOST.get((given, value), {}).get(name, {}).items():
            weights[classes.index(label)] *= factor
    for label, factor in (extra or {}).items():
        weights[classes.index(label)] *= factor
    for label in exclude:
        weights[classes.index(label)] = 0.0
    cumulative = np.cumsum(weights)
    if cumulative[-1] <= 0:  # explicit weights left nothing the correlations allow: any allowed class
        cumulative = np.cumsum([0.0 if c in exclude else 1.0 for c in classes])
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return classes[min(index, len(classes) - 1)]


def sample_attributes(rng: np.random.Generator, priors: Mapping[str, np.ndarray] = PRIORS) -> dict[str, str]:
    """One product's 13 labels, in the taxonomy's attribute order, from ``priors`` (attribute -> weights)."""
    drawn: dict[str, str] = {}
    for name in _DRAW_ORDER:
        if name == "secondary_colour":
            solid = drawn["main_pattern"] == "solid"
            exclude = frozenset({drawn["main_colour"]} | (set() if solid else {"none"}))
            drawn[name] = _draw(rng, name, priors[name], drawn, exclude, extra={"none": 12.0} if solid else None)
        elif name == "secondary_pattern":
            drawn[name] = _draw(rng, name, priors[name], drawn, frozenset({drawn["main_pattern"]}),
                                extra={"none": 6.0})
        else:
            drawn[name] = _draw(rng, name, priors[name], drawn)
    return {name: drawn[name] for name in ATTRIBUTE_NAMES}
