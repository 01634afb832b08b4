"""What the Triton host runs for a batch: images in, one probability array per output out.

Kept apart from the server so another runtime (onnxruntime on the exported model) can take the
place of torch without touching the Triton wiring: anything callable as a ``Runner`` will do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import torch

from services.model.network import MultiTaskTagger
from services.model.serving import output_name
from services.model.taxonomy import ATTRIBUTES

log = logging.getLogger(__name__)

#: uint8 NHWC images (N, 64, 64, 3) in; ``{"probs_<attr>": float32 (N, n_classes)}`` out.
Runner = Callable[[np.ndarray], dict[str, np.ndarray]]


class TorchRunner:
    """The randomly initialised torch network, on the CPU or a CUDA device, without autograd."""

    def __init__(self, *, seed: int = 0, device: str = "cpu", threads: int = 1) -> None:
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device=cuda but torch sees no CUDA device; set TAGSTREAM_DEVICE=cpu")
        torch.set_num_threads(threads)
        self._device = torch.device(device)
        torch.manual_seed(seed)
        self._model = MultiTaskTagger().eval().to(self._device)
        self._names = tuple(output_name(a.name) for a in ATTRIBUTES)
        log.info("torch model ready: seed=%d device=%s threads=%d", seed, device, threads)

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            batch = torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)).to(self._device)
            probs = self._model(batch)
            return {name: p.float().cpu().numpy() for name, p in zip(self._names, probs, strict=True)}
