"""Synthetic catalogue items and datasets of them, each kept beside its truth.

:func:`product` builds one item from ``(domain, seed, index)`` and a :class:`SyntheticConfig`: its truth
(:func:`sample_truth`: merchant, attributes, a novel pattern or a non-garment picture as the drift says),
the labels a noisy labeller gives it (:func:`observe`) and the merchant's photo through the drift's camera.
:func:`dataset_with_truth` turns many into model inputs through the tagger's own decode and keeps each
row's :class:`ProductTruth` beside its labels. Each row has independent random streams, so a knob moves
only what it names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from rich.progress import track

from model.dataset import LabelledImages, encode_labels
from model.drift import develop, to_model_input
from model.nongarment import NONGARMENT_KINDS, render_nongarment
from model.synthetic.config import DEFAULT_CONFIG, SyntheticConfig
from model.synthetic.drawing import render
from model.synthetic.merchants import merchant_style
from model.synthetic.sampling import sample_attributes
from modelspec.taxonomy import ATTRIBUTE_NAMES, BY_NAME
from modelspec.tensors import IMAGE_SIZE

log = logging.getLogger(__name__)

#: Products of different domains never coincide, whatever the seed: training data is drawn in
#: ``DATASET``, the traffic ``tagstream produce`` sends in ``TRAFFIC``.
DATASET, TRAFFIC = 0, 1
#: Each row's independent random streams, so that a knob moves only what it names: a camera knob leaves
#: the products alone, a prior shift leaves the pictures' jitter alone, label noise leaves both alone.
_PRODUCT, _PICTURE, _LABELS, _ENCODING = range(4)


def _stream(domain: int, seed: int, index: int, purpose: int) -> np.random.Generator:
    return np.random.default_rng((domain, seed, index, purpose))


@dataclass(frozen=True)
class ProductTruth:
    """What one synthetic product really is; kept beside its picture and events, never inside them."""

    merchant_id: str
    labels: Mapping[str, str | None]  # every attribute; None where the truth lies outside the taxonomy
    novelty: Mapping[str, str] = field(default_factory=dict)  # attribute -> the out-of-taxonomy class shown
    non_garment: str | None = None  # the kind of non-garment picture (nongarment.NONGARMENT_KINDS), if one

    @property
    def out_of_distribution(self) -> bool:
        """Whether the picture shows no garment at all."""
        return self.non_garment is not None

    @property
    def shown(self) -> dict[str, str]:
        """The classes the picture shows, novel ones included; empty for a non-garment."""
        if self.out_of_distribution:
            return {}
        return {name: self.novelty.get(name) or str(label) for name, label in self.labels.items()}

    def to_json(self) -> dict[str, object]:
        return {"merchant_id": self.merchant_id, "labels": dict(self.labels), "novelty": dict(self.novelty),
                "non_garment": self.non_garment, "out_of_distribution": self.out_of_distribution}


@dataclass(frozen=True)
class SyntheticProduct:
    """One catalogue item: its truth, the labels a (noisy) labeller gives it, and the merchant's photo."""

    truth: ProductTruth
    labels: Mapping[str, str | None]  # the truth after label noise and missing labels; None = MISSING
    photo: Image.Image  # as uploaded: 96 to 160 pixels square, the drift's camera applied


def _pick(cumulative: np.ndarray, u: float) -> int:
    return min(int(np.searchsorted(cumulative, u * cumulative[-1], side="right")), len(cumulative) - 1)


def sample_truth(seed: int, index: int, config: SyntheticConfig = DEFAULT_CONFIG, *,
                 domain: int = DATASET) -> ProductTruth:
    """The truth of product ``index`` of catalogue ``seed``, without drawing its picture (cheap)."""
    drift = config.drift
    rng = _stream(domain, seed, index, _PRODUCT)
    u_ood, u_kind, u_merchant, u_novel = rng.random(4).tolist()  # always four, so the attributes line up
    merchants, cumulative = config.merchant_table
    merchant = merchants[_pick(cumulative, u_merchant)]
    if u_ood < drift.non_garment:
        kind = NONGARMENT_KINDS[int(u_kind * len(NONGARMENT_KINDS))]
        return ProductTruth(merchant, dict.fromkeys(ATTRIBUTE_NAMES), non_garment=kind)
    if drift.new_pattern is None or u_novel >= drift.new_pattern_share:
        return ProductTruth(merchant, sample_attributes(rng, config.prior_weights))
    # a pattern the taxonomy lacks: drawn as a patterned garment, its main_pattern truth unknown to the model
    patterned = {**config.prior_weights, "main_pattern": _without(config.prior_weights["main_pattern"], "solid")}
    labels: dict[str, str | None] = {**sample_attributes(rng, patterned), "main_pattern": None}
    return ProductTruth(merchant, labels, novelty={"main_pattern": drift.new_pattern})


def _without(weights: np.ndarray, label: str) -> np.ndarray:
    """Main pattern ``weights`` with ``label`` taken out; uniform over the others if nothing is left."""
    out = weights.copy()
    out[BY_NAME["main_pattern"].classes.index(label)] = 0.0
    if out.sum() <= 0:
        out = np.ones_like(out)
        out[BY_NAME["main_pattern"].classes.index(label)] = 0.0
    return out


def observe(labels: Mapping[str, str | None], rng: np.random.Generator, *, label_noise: float = 0.0,
            missing_rate: float = 0.0) -> dict[str, str | None]:
    """``labels`` as a noisy labeller returns them: each known label replaced by another class of its
    attribute with probability ``label_noise``, and MISSING (None) with probability ``missing_rate``."""
    observed: dict[str, str | None] = {}
    for name, label in labels.items():
        u_noise, u_missing, u_other = rng.random(3).tolist()  # always three, whatever the rates
        if label is not None and u_noise < label_noise:
            others = [c for c in BY_NAME[name].classes if c != label]
            label = others[int(u_other * len(others))]
        observed[name] = None if u_missing < missing_rate else label
    return observed


def product(seed: int, index: int, config: SyntheticConfig = DEFAULT_CONFIG, *,
            domain: int = DATASET) -> SyntheticProduct:
    """Product ``index`` of catalogue ``seed``: it depends only on ``(domain, seed, index)`` and ``config``."""
    truth = sample_truth(seed, index, config, domain=domain)
    rng = _stream(domain, seed, index, _PICTURE)
    size = int(rng.integers(96, 161))
    if truth.non_garment is not None:
        picture = render_nongarment(rng, size, truth.non_garment)
    else:
        picture = render(truth.shown, rng, size, merchant_style(truth.merchant_id))
    labels = observe(truth.labels, _stream(domain, seed, index, _LABELS), label_noise=config.label_noise,
                     missing_rate=config.missing_rate)
    return SyntheticProduct(truth, labels, develop(picture, config.drift))


@dataclass(frozen=True)
class SyntheticDataset:
    """Labelled model inputs and, row by row, the truth behind them."""

    data: LabelledImages  # the labels are the observed ones: label noise and missing labels applied
    truth: tuple[ProductTruth, ...]

    def __len__(self) -> int:
        return len(self.truth)

    @property
    def out_of_distribution(self) -> np.ndarray:
        """bool (N,): rows that show no garment."""
        return np.array([t.out_of_distribution for t in self.truth], dtype=bool)

    @property
    def novel(self) -> np.ndarray:
        """bool (N,): rows that show a class outside the taxonomy (a new pattern)."""
        return np.array([bool(t.novelty) for t in self.truth], dtype=bool)

    def true_labels(self) -> np.ndarray:
        """int64 (N, 13): the truth before label noise and missing labels; MISSING outside the taxonomy."""
        if not self.truth:
            return np.empty((0, len(ATTRIBUTE_NAMES)), dtype=np.int64)
        return np.stack([encode_labels(t.labels) for t in self.truth])


def dataset_with_truth(n: int, *, seed: int, config: SyntheticConfig = DEFAULT_CONFIG,
                       progress: bool = False) -> SyntheticDataset:
    """``n`` synthetic products as the tagger sees them, with their truth; row ``i`` depends only on
    ``(seed, i)`` and ``config``. Non-garment rows have every label MISSING."""
    if config.drift.knobs():
        log.info("synthetic catalogue with drift %s", config.drift.knobs())
    images = np.empty((n, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    labels = np.empty((n, len(ATTRIBUTE_NAMES)), dtype=np.int64)
    truth = []
    for i in track(range(n), description="rendering", disable=not progress, total=n):
        item = product(seed, i, config)
        images[i] = to_model_input(item.photo, _stream(DATASET, seed, i, _ENCODING))
        labels[i] = encode_labels(item.labels)
        truth.append(item.truth)
    return SyntheticDataset(LabelledImages(images, labels), tuple(truth))


def dataset(n: int, *, seed: int, config: SyntheticConfig = DEFAULT_CONFIG, progress: bool = False) -> LabelledImages:
    """``n`` labelled synthetic products; image ``i`` depends only on ``(seed, i)`` and ``config``."""
    return dataset_with_truth(n, seed=seed, config=config, progress=progress).data
