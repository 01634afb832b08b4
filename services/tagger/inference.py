"""Triton over gRPC: one call per batch and model version; every Triton or transport failure becomes
``InferenceUnavailable``."""

from __future__ import annotations

import logging

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from modelspec.tensors import INPUT_NAME, OOD_OUTPUT, OUTPUT_NAMES
from services.tagger.errors import InferenceUnavailable

log = logging.getLogger(__name__)


class TritonTagger:
    """Calls a tagging model on one Triton server: ``model`` and ``version`` by default, any other model name
    or version a route names per call. Thread-safe: gRPC channels may be shared."""

    def __init__(self, url: str, model: str, version: str = "", timeout_s: float = 10.0) -> None:
        self.url = url
        self.model = model
        self.version = version
        self.timeout_s = timeout_s
        self._client = grpcclient.InferenceServerClient(url=url)
        self._outputs = [grpcclient.InferRequestedOutput(name) for name in OUTPUT_NAMES]

    def ready(self, model: str | None = None, version: str | None = None) -> bool:
        """Whether Triton serves ``model`` at ``version`` (default: this client's) right now."""
        model, version = model or self.model, self.version if version is None else version
        try:
            return bool(self._client.is_model_ready(model, version))
        except InferenceServerException:
            return False

    def served_version(self, model: str | None = None, version: str | None = None) -> str:
        """The version Triton serves under ``model`` (default: this client's): the one asked for, or the newest
        when none is."""
        model, version = model or self.model, self.version if version is None else version
        if version:
            return version
        try:
            versions = self._client.get_model_metadata(model).versions
        except InferenceServerException as e:
            raise InferenceUnavailable(f"Triton at {self.url} has no model {model}: {e.message()}") from e
        return max(versions, key=int) if versions else "1"

    def infer(self, images: np.ndarray, *, model: str | None = None, version: str | None = None,
              ) -> dict[str, np.ndarray]:
        """``images``: uint8 (N, H, W, 3), to ``model`` at ``version`` (default: this client's; an empty version
        is Triton's default). Returns one float32 array per output name: (N, classes) per head, (N, 1) for
        ``ood_score``."""
        model, version = model or self.model, self.version if version is None else version
        inp = grpcclient.InferInput(INPUT_NAME, list(images.shape), "UINT8")
        inp.set_data_from_numpy(images)
        try:
            result = self._client.infer(model, [inp], model_version=version, outputs=self._outputs,
                                        client_timeout=self.timeout_s)
        except InferenceServerException as e:
            raise InferenceUnavailable(f"Triton at {self.url} failed for {model}: {e.status()} {e.message()}") from e
        outputs = {name: result.as_numpy(name) for name in OUTPUT_NAMES}
        wrong = [name for name, value in outputs.items() if not _fits(name, value, images.shape[0])]
        if wrong:
            raise InferenceUnavailable(f"Triton answered without outputs {wrong} (or with the wrong shape); is the "
                                       "right model loaded?")
        return outputs

    def close(self) -> None:
        self._client.close()


def _fits(name: str, value: np.ndarray | None, n: int) -> bool:
    """One row per image; ``ood_score`` one value per image, as (N, 1) or (N,)."""
    if value is None or value.ndim == 0 or value.shape[0] != n:
        return False
    return name != OOD_OUTPUT or value.size == n
