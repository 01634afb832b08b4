"""The multi-task network: one shared convolutional backbone, one classifier head per attribute.

Plain torch (no torchvision). Two backbones, chosen by ``NetworkConfig.arch``:

- ``small``: ``depth`` conv-BN-ReLU-pool blocks, channels doubling from ``width``; trains on two CPU cores.
- ``resnet50``: the ResNet-50 layout (bottleneck blocks 3-4-6-3, stem width 64 by default), for GPUs.

Either way the backbone ends in global average pooling, which gives the embedding the
out-of-distribution score is measured on, and each head is ``Linear-ReLU-Linear`` on that embedding.
"""

from __future__ import annotations

import itertools
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from modelspec.taxonomy import ATTRIBUTES, Attribute

_MEAN = (0.5, 0.5, 0.5)
_STD = (0.25, 0.25, 0.25)


class NetworkConfig(BaseModel):
    """The shape of a network; stored in every checkpoint so it can be rebuilt exactly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    arch: Literal["small", "resnet50"] = Field("small", description="small: CPU-sized; resnet50: for GPUs")
    width: int = Field(24, ge=4, le=256, description="channels of the first stage")
    depth: int = Field(4, ge=1, le=6, description="conv blocks of the small backbone (resnet50 ignores it)")
    hidden: int = Field(64, ge=8, le=4096, description="hidden units of each head")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="dropout before each head")


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class SmallBackbone(nn.Module):
    """``depth`` conv blocks, channels doubling from ``width``, then global average pooling."""

    def __init__(self, width: int, depth: int) -> None:
        super().__init__()
        channels = [3] + [width * 2**i for i in range(depth)]
        self.blocks = nn.Sequential(*(_block(a, b) for a, b in itertools.pairwise(channels)))
        self.out_features = channels[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x).mean(dim=(2, 3))


class Bottleneck(nn.Module):
    """ResNet's 1x1-3x3-1x1 block with a projection shortcut when the shape changes."""

    expansion = 4

    def __init__(self, c_in: int, planes: int, stride: int) -> None:
        super().__init__()
        c_out = planes * self.expansion
        self.body = nn.Sequential(
            nn.Conv2d(c_in, planes, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(inplace=True),
            nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(planes),
            nn.ReLU(inplace=True),
            nn.Conv2d(planes, c_out, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNet50Backbone(nn.Module):
    """ResNet-50's stages (3, 4, 6, 3 bottlenecks); the stem is 3x3 stride 1 since inputs are 64x64."""

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                                   nn.ReLU(inplace=True)]
        c_in = width
        for stage, blocks in enumerate((3, 4, 6, 3)):
            planes = width * 2**stage
            for i in range(blocks):
                layers.append(Bottleneck(c_in, planes, stride=2 if i == 0 and stage > 0 else 1))
                c_in = planes * Bottleneck.expansion
        self.blocks = nn.Sequential(*layers)
        self.out_features = c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x).mean(dim=(2, 3))


class MultiTaskTagger(nn.Module):
    """uint8 NHWC images in; per attribute (in ``ATTRIBUTES`` order) logits or probabilities out."""

    mean: torch.Tensor  # buffers, registered in __init__: typed here for the checker
    std: torch.Tensor

    def __init__(self, config: NetworkConfig | None = None, attributes: tuple[Attribute, ...] = ATTRIBUTES) -> None:
        super().__init__()
        self.config = config = config or NetworkConfig()
        self.attributes = attributes
        self.backbone: SmallBackbone | ResNet50Backbone = (
            SmallBackbone(config.width, config.depth) if config.arch == "small" else ResNet50Backbone(config.width))
        features = self.backbone.out_features
        self.heads = nn.ModuleDict({
            a.name: nn.Sequential(nn.Dropout(config.dropout), nn.Linear(features, config.hidden),
                                  nn.ReLU(inplace=True), nn.Linear(config.hidden, a.size))
            for a in attributes
        })
        self.register_buffer("mean", torch.tensor(_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def embedding_size(self) -> int:
        return self.backbone.out_features

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, H, W, 3) -> float (N, embedding_size): the backbone's pooled features."""
        x = images.permute(0, 3, 1, 2).float().div(255.0)
        return self.backbone((x - self.mean) / self.std)

    def head_logits(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        return {name: head(features) for name, head in self.heads.items()}

    def logits(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.head_logits(self.embed(images))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits = self.logits(images)
        return tuple(torch.softmax(logits[a.name], dim=1) for a in self.attributes)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
