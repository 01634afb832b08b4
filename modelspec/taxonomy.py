"""The 13 attributes of women's tops the model predicts, and their classes.

Class order is the model's output order and the order of the Triton label files; append new
classes at the end of a list, never reorder, or older model versions will be read wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Attribute:
    name: str
    classes: tuple[str, ...]
    doc: str = ""

    @property
    def size(self) -> int:
        return len(self.classes)


_COLOURS = ("black", "white", "grey", "navy", "blue", "red", "pink", "green", "yellow", "beige",
            "brown", "purple", "orange")
_PATTERNS = ("solid", "striped", "checked", "floral", "dotted", "animal", "geometric", "graphic",
             "camouflage", "paisley")

ATTRIBUTES: tuple[Attribute, ...] = (
    Attribute("category", ("t_shirt", "shirt", "blouse", "sweater", "hoodie", "tank_top", "cardigan",
                           "polo", "tunic"), "top category"),
    Attribute("main_colour", _COLOURS),
    Attribute("secondary_colour", ("none", *_COLOURS)),
    Attribute("main_pattern", _PATTERNS),
    Attribute("secondary_pattern", ("none", *_PATTERNS)),
    Attribute("texture", ("smooth", "ribbed", "knitted", "quilted", "lace", "sequined", "mesh")),
    Attribute("trend_element", ("none", "ruffles", "cut_out", "lace_up", "bow", "embroidery", "fringe",
                                "puff_shoulder")),
    Attribute("collar", ("crew_neck", "v_neck", "scoop_neck", "turtleneck", "shirt_collar",
                         "mandarin_collar", "peter_pan_collar", "off_shoulder", "square_neck", "hooded")),
    Attribute("sleeve_length", ("sleeveless", "cap", "short", "elbow", "three_quarter", "long")),
    Attribute("garment_length", ("cropped", "regular", "hip", "long", "extra_long")),
    Attribute("fit", ("slim", "regular", "loose", "oversized")),
    Attribute("placket", ("none", "full_button", "half_button", "zip", "wrap")),
    Attribute("fabric", ("cotton", "polyester", "linen", "wool", "silk", "denim", "viscose", "knit_blend")),
)

ATTRIBUTE_NAMES: tuple[str, ...] = tuple(a.name for a in ATTRIBUTES)
BY_NAME: dict[str, Attribute] = {a.name: a for a in ATTRIBUTES}
