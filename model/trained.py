"""A trained model as it leaves training, and the module that serves it.

``TrainedModel`` bundles what export and evaluation need: the network, its config, one temperature
per head (fitted on validation), the out-of-distribution statistics of the training embeddings, and the
class priors it was trained with. ``ServingModel`` turns it into the serving contract of
``model.serving``: uint8 images in, calibrated probabilities per head and a normalised
out-of-distribution score out. It is what ``torch.onnx.export`` traces, so it uses plain tensor ops only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from model.errors import CheckpointError, NoTrainedModelError
from model.network import MultiTaskTagger, NetworkConfig
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES

CHECKPOINT_FORMAT = 1


def mahalanobis(features: torch.Tensor, mean: torch.Tensor, precision: torch.Tensor) -> torch.Tensor:
    """Distance of each row of ``features`` (N, F) to a Gaussian; (N, 1). Plain ops, so ONNX can trace it."""
    centred = features - mean
    return ((centred @ precision) * centred).sum(dim=1, keepdim=True).clamp_min(0.0).sqrt()


@dataclass
class OodStats:
    """A Gaussian fitted to the training embeddings; the score is the Mahalanobis distance to it.

    ``threshold`` is the distance above which an image counts as out of distribution (chosen on
    validation); the served score is ``distance / threshold``.
    """

    mean: torch.Tensor  # (F,)
    precision: torch.Tensor  # (F, F), inverse of the shrunk covariance
    threshold: float = 1.0

    def distance(self, embeddings: torch.Tensor) -> torch.Tensor:
        return mahalanobis(embeddings, self.mean, self.precision)[:, 0]

    def state(self) -> dict[str, Any]:
        return {"mean": self.mean, "precision": self.precision, "threshold": self.threshold}


@dataclass
class TrainedModel:
    network: MultiTaskTagger
    temperatures: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ATTRIBUTE_NAMES, 1.0))
    ood: OodStats | None = None
    #: Class frequencies of the training set per attribute (what the model learnt to predict with).
    train_priors: dict[str, list[float]] = field(default_factory=dict)
    #: How it was made: command, seed, strategy, data, epochs, validation scores.
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def config(self) -> NetworkConfig:
        return self.network.config

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({
            "format": CHECKPOINT_FORMAT, "config": self.config.model_dump(),
            "state_dict": self.network.state_dict(), "temperatures": self.temperatures,
            "ood": self.ood.state() if self.ood else None, "train_priors": self.train_priors,
            "metadata": self.metadata,
        }, path)

    @classmethod
    def load(cls, path: Path) -> TrainedModel:
        if not path.is_file():
            raise NoTrainedModelError(f"no model at {path}; train one with `tagstream model train`")
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path} is a checkpoint of format {blob.get('format')}, "
                                  f"expected {CHECKPOINT_FORMAT}")
        network = MultiTaskTagger(NetworkConfig(**blob["config"]))
        network.load_state_dict(blob["state_dict"])
        network.eval()
        return cls(network=network, temperatures=dict(blob["temperatures"]),
                   ood=OodStats(**blob["ood"]) if blob["ood"] else None,
                   train_priors=dict(blob["train_priors"]), metadata=dict(blob["metadata"]))

    def serving(self) -> ServingModel:
        return ServingModel(self)


class ServingModel(nn.Module):
    """uint8 (N, 64, 64, 3) -> (probs per attribute in ``ATTRIBUTES`` order..., ood_score (N, 1))."""

    inv_temperature: torch.Tensor  # buffers, registered in __init__: typed here for the checker
    ood_mean: torch.Tensor
    ood_precision: torch.Tensor
    ood_inv_threshold: torch.Tensor

    def __init__(self, trained: TrainedModel) -> None:
        super().__init__()
        self.network = trained.network.eval()
        self.names = [a.name for a in ATTRIBUTES]
        self.register_buffer("inv_temperature",
                             torch.tensor([1.0 / trained.temperatures[n] for n in self.names]))
        ood = trained.ood
        size = self.network.embedding_size
        self.register_buffer("ood_mean", ood.mean.float() if ood else torch.zeros(size))
        self.register_buffer("ood_precision", ood.precision.float() if ood else torch.zeros(size, size))
        self.register_buffer("ood_inv_threshold", torch.tensor(1.0 / ood.threshold if ood else 0.0))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.network.embed(images)
        logits = self.network.head_logits(features)
        probs = [torch.softmax(logits[n] * self.inv_temperature[i], dim=1) for i, n in enumerate(self.names)]
        distance = mahalanobis(features, self.ood_mean, self.ood_precision)
        return (*probs, distance * self.ood_inv_threshold)
