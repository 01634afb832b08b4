"""A degraded model for drills: a checkpoint trained on shuffled labels, calibrated and profiled like any other.

Each attribute's labels are shuffled across the training products, so the network can learn nothing about the
pictures; temperature scaling on its (equally shuffled) validation split then makes its confidences honest:
about each head's class prior. It is what a broken labelling join or a mis-keyed training set would ship. Its
reference profile is computed on that validation split, so the profile is consistent with the model (no drift
against it); what gives it away is its quality against the agreed targets, estimated before any label arrives
and realised once audit labels come.

Small on purpose (a narrow two-block backbone, one epoch on about a thousand products): it trains in seconds on two
CPU cores, on pictures already rendered for a stream.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from contracts import ModelCard, ModelRef
from model.dataset import LabelledImages, encode_labels
from model.export import predict_all, torch_predictor
from model.longtail import LongTailConfig
from model.network import NetworkConfig
from model.profile import reference_profile
from model.train import TrainConfig, TrainResult, train
from modelspec.tensors import MODEL_NAME
from tools.monitoring.tags import Predictor, Rendered


def shuffled_label_model(rendered: Rendered, *, seed: int = 0) -> TrainResult:
    """Train on ``rendered`` products with every attribute's true labels shuffled across them."""
    rng = np.random.default_rng(seed)
    labels = np.stack([encode_labels(t.labels) for t in rendered.truths])
    for j in range(labels.shape[1]):
        labels[:, j] = rng.permutation(labels[:, j])
    config = TrainConfig(seed=seed, epochs=1, network=NetworkConfig(width=8, depth=2, hidden=32),
                         longtail=LongTailConfig(strategy="none"), augment=False)
    return train(LabelledImages(rendered.pixels, labels), config, progress=False)


def predictor(result: TrainResult) -> Predictor:
    return torch_predictor(result.model, threads=1)


def card(result: TrainResult, version: str) -> ModelCard:
    """The model card of the degraded model registered as ``version``."""
    outputs = predict_all(predictor(result), result.validation.images)
    profile = reference_profile(result.model, outputs, result.validation, version=int(version),
                                created_at=datetime.now(UTC),
                                description="validation split of a training run on shuffled labels")
    return ModelCard(model=ModelRef(name=MODEL_NAME, version=version), profile=profile,
                     registered_at=datetime.now(UTC))
