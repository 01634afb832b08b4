"""The serving contract of ``catalog_tagger``: name, tensors and shapes.

The local PyTriton host, the production Triton config and the tagger all read these, so a
model version can change without touching the tagger as long as this contract holds.
"""

from __future__ import annotations

from services.model.taxonomy import ATTRIBUTES

MODEL_NAME = "catalog_tagger"
IMAGE_SIZE = 64
#: One input: RGB images, uint8, height x width x channel (4x smaller on the wire than float32).
INPUT_NAME = "image"
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)


def output_name(attribute: str) -> str:
    """Each head's output: calibrated class probabilities, float32, one value per class."""
    return f"probs_{attribute}"


OUTPUT_NAMES: tuple[str, ...] = tuple(output_name(a.name) for a in ATTRIBUTES)
