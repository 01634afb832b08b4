"""What the Triton host runs for a batch: the exported ``model.onnx`` in onnxruntime.

The file is the one ``tagstream model export`` writes into the model repository, the same file
production Triton loads with its ONNX Runtime backend. The host takes the tensors it binds (names,
types, shapes) from the file itself, after checking them against the serving contract, so it needs
nothing from ``config.pbtxt``. Kept apart from the server: anything shaped like ``Runner`` will do.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import onnxruntime as ort
from onnxruntime.capi import onnxruntime_pybind11_state as ort_state

from modelspec.tensors import INPUT_NAME, INPUT_SHAPE, OUTPUT_NAMES
from services.tritonhost.errors import ModelLoadError

log = logging.getLogger(__name__)

#: onnxruntime's type names of the tensors the serving contract uses.
_DTYPES: dict[str, type[np.generic]] = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32}
_CUDA = "CUDAExecutionProvider"
#: What onnxruntime raises on a file it cannot load (its exceptions share no base but ``Exception``).
_LOAD_FAILURES = (ort_state.Fail, ort_state.InvalidGraph, ort_state.InvalidProtobuf, ort_state.NoSuchFile,
                  ort_state.InvalidArgument, ort_state.RuntimeException)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output as Triton sees it: the batch dimension left out."""

    name: str
    dtype: type[np.generic]
    shape: tuple[int, ...]


class Runner(Protocol):
    """uint8 NHWC images (N, 64, 64, 3) in; ``{output name: array (N, *shape)}`` out."""

    input: TensorSpec
    outputs: tuple[TensorSpec, ...]

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]: ...


def _spec(node: ort.NodeArg, path: Path) -> TensorSpec:
    dtype = _DTYPES.get(node.type)
    batch, *rest = node.shape
    if dtype is None or isinstance(batch, int) or not all(isinstance(d, int) for d in rest):
        raise ModelLoadError(f"{path}: tensor {node.name} is {node.type} {node.shape}; the serving contract needs "
                             "uint8 or float32 with a dynamic batch axis first and fixed dimensions after it",
                             hint="re-export it with `tagstream model export`")
    return TensorSpec(node.name, dtype, tuple(rest))


def _providers(device: Literal["cpu", "cuda"]) -> list[str]:
    if device == "cpu":
        return ["CPUExecutionProvider"]
    if _CUDA not in ort.get_available_providers():
        raise ModelLoadError(f"device=cuda but this onnxruntime has no {_CUDA} (it has "
                             f"{', '.join(ort.get_available_providers())})",
                             hint="install onnxruntime-gpu, or set TAGSTREAM_DEVICE=cpu")
    return [_CUDA]


class OnnxRunner:
    """An onnxruntime session on ``model_path``, on the CPU (``threads`` intra-op threads) or one CUDA device."""

    def __init__(self, model_path: Path, *, threads: int = 1, device: Literal["cpu", "cuda"] = "cpu") -> None:
        if not model_path.is_file():
            raise ModelLoadError(f"no model file at {model_path}", hint=_missing_hint(model_path))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(str(model_path), options, providers=_providers(device))
        except _LOAD_FAILURES as e:
            raise ModelLoadError(f"onnxruntime cannot load {model_path}: {e}",
                                 hint="re-export it with `tagstream model export`") from e
        if device == "cuda" and self._session.get_providers()[0] != _CUDA:
            raise ModelLoadError(f"onnxruntime could not start {_CUDA} for {model_path} (see its warnings above)",
                                 hint="check the CUDA and cuDNN libraries, or set TAGSTREAM_DEVICE=cpu")
        self.path = model_path
        self.input, self.outputs = self._check_contract()
        log.info("onnx model ready: %s on %s, %d intra-op threads", model_path, self._session.get_providers()[0],
                 threads)

    def _check_contract(self) -> tuple[TensorSpec, tuple[TensorSpec, ...]]:
        inputs = [_spec(node, self.path) for node in self._session.get_inputs()]
        outputs = {node.name: _spec(node, self.path) for node in self._session.get_outputs()}
        expected_input = TensorSpec(INPUT_NAME, np.uint8, INPUT_SHAPE)
        if inputs != [expected_input]:
            raise ModelLoadError(f"{self.path} takes {inputs}; the serving contract is one input {expected_input}",
                                 hint="re-export it with `tagstream model export`")
        missing = [name for name in OUTPUT_NAMES if name not in outputs or outputs[name].dtype is not np.float32]
        if missing:
            raise ModelLoadError(f"{self.path} lacks the float32 outputs {', '.join(missing)} of the serving contract",
                                 hint="re-export it with `tagstream model export`")
        return expected_input, tuple(outputs[name] for name in OUTPUT_NAMES)

    @property
    def provider(self) -> str:
        return str(self._session.get_providers()[0])

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        arrays = self._session.run(list(OUTPUT_NAMES), {INPUT_NAME: np.ascontiguousarray(images, dtype=np.uint8)})
        return dict(zip(OUTPUT_NAMES, arrays, strict=True))


def _missing_hint(model_path: Path) -> str:
    """What to do about a missing ``<repository>/catalog_tagger/<version>/model.onnx``, naming what exists."""
    model_dir = model_path.parent.parent
    versions = sorted(int(p.name) for p in model_dir.glob("*") if p.name.isdigit()) if model_dir.is_dir() else []
    found = f"versions there: {', '.join(map(str, versions))}; " if versions else ""
    return (f"{found}export one with `tagstream model export --version {model_path.parent.name} --out "
            f"{model_dir.parent}`, or point TAGSTREAM_MODEL_REPOSITORY and TAGSTREAM_MODEL_VERSION at one")
