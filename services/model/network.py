"""The multi-task network: one shared convolutional backbone, one classifier head per attribute.

Plain torch (no torchvision): the backbone is a stack of conv-BN-ReLU blocks whose width and
depth are settings, so the same code gives a small model that trains on two CPU cores and a
larger one for GPUs.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from services.model.taxonomy import ATTRIBUTES, Attribute

_MEAN = (0.5, 0.5, 0.5)
_STD = (0.25, 0.25, 0.25)


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class Backbone(nn.Module):
    """``depth`` conv blocks, channels doubling from ``width``, then global average pooling."""

    def __init__(self, width: int = 16, depth: int = 4) -> None:
        super().__init__()
        channels = [3] + [width * 2**i for i in range(depth)]
        self.blocks = nn.Sequential(*(_block(a, b) for a, b in itertools.pairwise(channels)))
        self.out_features = channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x).mean(dim=(2, 3))


class MultiTaskTagger(nn.Module):
    """uint8 NHWC images in, one probability vector per attribute out (in ``ATTRIBUTES`` order)."""

    def __init__(self, attributes: tuple[Attribute, ...] = ATTRIBUTES, width: int = 16, depth: int = 4,
                 hidden: int = 64) -> None:
        super().__init__()
        self.attributes = attributes
        self.backbone = Backbone(width, depth)
        self.heads = nn.ModuleDict({
            a.name: nn.Sequential(nn.Linear(self.backbone.out_features, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, a.size))
            for a in attributes
        })
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    def logits(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        x = images.permute(0, 3, 1, 2).float().div(255.0)
        x = (x - self.mean) / self.std
        features = self.backbone(x)
        return {name: head(features) for name, head in self.heads.items()}

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits = self.logits(images)
        return tuple(torch.softmax(logits[a.name], dim=1) for a in self.attributes)


def random_model(seed: int = 0) -> MultiTaskTagger:
    """A randomly initialised model: serves the real contract before a trained one exists."""
    torch.manual_seed(seed)
    return MultiTaskTagger().eval()
