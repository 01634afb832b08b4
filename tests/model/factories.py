"""A tiny model with made-up calibration, and a model repository exported from it, for tests.

The network is untrained (``NetworkConfig(width=8, depth=3)``), its temperatures are made up and its
out-of-distribution statistics are fitted to random embeddings: the outputs mean nothing, but every
tensor, file and profile field is there, and exporting it takes about a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from model.dataset import LabelledImages
from model.export import export_repository
from model.network import MultiTaskTagger, NetworkConfig
from model.synthetic import dataset
from model.trained import OodStats, TrainedModel
from modelspec.taxonomy import ATTRIBUTES

TINY = NetworkConfig(width=8, depth=3)
OOD_THRESHOLD = 2.5


def tiny_trained_model(seed: int = 0) -> TrainedModel:
    torch.manual_seed(seed)
    network = MultiTaskTagger(TINY).eval()
    rng = np.random.default_rng(seed)
    embeddings = torch.from_numpy(rng.normal(size=(256, network.embedding_size))).float()
    covariance = torch.cov(embeddings.T) + 0.1 * torch.eye(network.embedding_size)
    ood = OodStats(mean=embeddings.mean(dim=0), precision=torch.linalg.inv(covariance), threshold=OOD_THRESHOLD)
    temperatures = {a.name: float(t) for a, t in zip(ATTRIBUTES, rng.uniform(0.5, 2.0, len(ATTRIBUTES)), strict=True)}
    priors = {a.name: rng.dirichlet(np.ones(a.size)).tolist() for a in ATTRIBUTES}
    return TrainedModel(network=network, temperatures=temperatures, ood=ood, train_priors=priors)


def reference_images(n: int = 48, seed: int = 11) -> LabelledImages:
    """Synthetic product photos, decoded the tagger's way, with their labels."""
    return dataset(n, seed=seed)


def export_tiny_repository(out: Path, *, version: int = 1, seed: int = 0) -> Path:
    """``out`` with ``catalog_tagger/<version>`` exported from ``tiny_trained_model(seed)``; returns ``out``."""
    export_repository(tiny_trained_model(seed), version=version, out=out, reference=reference_images(),
                      reference_description="tests: tiny untrained model, 48 synthetic images")
    return out
