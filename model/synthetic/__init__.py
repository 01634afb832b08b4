"""A synthetic catalogue: long-tailed, correlated attributes, a garment-like picture of each, and its truth.

Everything is driven by ``numpy`` generators: the same seed gives the same attributes and the same pixels.
The modules, from the attributes to the datasets:

- ``sampling``: the Zipf-like priors and their correlations; :func:`sample_attributes` draws one top's 13.
- ``merchants``: the default merchant mix and each merchant's house style (:func:`merchant_style`).
- ``config``: :class:`SyntheticConfig` (prior overrides, label noise, missing labels, drift), ``DEFAULT_CONFIG``.
- ``colours``: the taxonomy's colours as RGB, and how tones are mixed and jittered.
- ``frame``: the garment's silhouette, posed on the canvas.
- ``cloth``: the cloth's pattern and texture, and each fabric's surface cue.
- ``drawing``: :func:`render`, a flat product-photo-like picture of one top.
- ``products``: one catalogue item and its truth (:func:`product`, :func:`sample_truth`, :func:`observe`),
  and datasets of them (:func:`dataset_with_truth`, :func:`dataset`).
"""

from model.synthetic.colours import COLOURS, RGB
from model.synthetic.config import DEFAULT_CONFIG, Priors, SyntheticConfig, Weight
from model.synthetic.drawing import render
from model.synthetic.frame import Point
from model.synthetic.merchants import MERCHANT_MIX, MERCHANTS, STUDIO, MerchantStyle, merchant_style
from model.synthetic.products import (
    DATASET,
    TRAFFIC,
    ProductTruth,
    SyntheticDataset,
    SyntheticProduct,
    dataset,
    dataset_with_truth,
    observe,
    product,
    sample_truth,
)
from model.synthetic.sampling import EXPONENTS, PRIORS, sample_attributes

__all__ = [
    "COLOURS",
    "DATASET",
    "DEFAULT_CONFIG",
    "EXPONENTS",
    "MERCHANTS",
    "MERCHANT_MIX",
    "PRIORS",
    "RGB",
    "STUDIO",
    "TRAFFIC",
    "MerchantStyle",
    "Point",
    "Priors",
    "ProductTruth",
    "SyntheticConfig",
    "SyntheticDataset",
    "SyntheticProduct",
    "Weight",
    "dataset",
    "dataset_with_truth",
    "merchant_style",
    "observe",
    "product",
    "render",
    "sample_attributes",
    "sample_truth",
]
