"""The serving contract of ``catalog_tagger``: name, tensors and shapes.

The exported Triton model repository, the local PyTriton host and the tagger all read these, so a
model version can change without touching the tagger as long as this contract holds.
"""

from __future__ import annotations

from modelspec.taxonomy import ATTRIBUTES

MODEL_NAME = "catalog_tagger"
IMAGE_SIZE = 64
#: One input: RGB images, uint8, height x width x channel (4x smaller on the wire than float32).
INPUT_NAME = "image"
INPUT_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)


def output_name(attribute: str) -> str:
    """Each head's output: calibrated class probabilities, float32, one value per class."""
    return f"probs_{attribute}"


PROBS_OUTPUTS: tuple[str, ...] = tuple(output_name(a.name) for a in ATTRIBUTES)
#: float32, shape (1,) per image: the out-of-distribution score divided by the threshold chosen on
#: validation, so above 1.0 the image is unlike the training set, whatever the model version.
OOD_OUTPUT = "ood_score"
OUTPUT_NAMES: tuple[str, ...] = (*PROBS_OUTPUTS, OOD_OUTPUT)
