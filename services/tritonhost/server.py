"""Binds a ``Runner`` to PyTriton as ``catalog_tagger`` and owns the ``tritonserver`` lifecycle.

The tensors bound are the runner's (for ``OnnxRunner``: read from the exported file and checked against
the serving contract), so the host serves whatever version the settings name without a config of its own.

**Versions beside each other.** PyTriton cannot bind two versions of one model name in one process (its tensor
store's sockets are named after the model), so the host serves every version under a name of its own as well,
``catalog_tagger_v<N>`` with version N (``contracts.triton_target`` with ``TritonAddressing.NAME``): the startup
version from the start, others once loaded through the host's model-repository API (``control.py``), as the
rollout controller does for a candidate. ``catalog_tagger`` itself stays the startup version, for clients that
follow no rollout. PyTriton cannot unbind a model either, so unloading a version drops its runner (its onnxruntime
session) and its name answers every request with an error naming the unloaded version until it is loaded again.
"""

from __future__ import annotations

import logging
import os
import sysconfig
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

from contracts import TagstreamError, TritonAddressing, triton_target
from modelspec.tensors import INPUT_NAME, MODEL_NAME
from services.tritonhost.runner import ModelLoadError, OnnxRunner, Runner, TensorSpec
from services.tritonhost.settings import TritonHostSettings

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"


def use_running_libpython() -> None:
    """Put this interpreter's libpython first on LD_LIBRARY_PATH, for the python-backend stub.

    The stub links ``libpython3.X.so`` and would otherwise load the system's copy, which may be another
    patch release than the interpreter running the model (the model then fails to load). Must run before
    ``tritonserver`` starts: it inherits this process's environment.
    """
    libdir = sysconfig.get_config_var("LIBDIR")
    if not libdir:
        return
    rest = [p for p in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p and p != libdir]
    os.environ["LD_LIBRARY_PATH"] = os.pathsep.join([libdir, *rest])


def infer_function(runner: Runner) -> Any:
    """The PyTriton callable: Triton's requests batched into one array, handed to ``runner``."""

    @batch
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        return runner(inputs[INPUT_NAME])

    return infer


class VersionUnloaded(TagstreamError):
    """A request for a version the host has unloaded (its name stays bound: PyTriton cannot unbind)."""

    code = "version_unloaded"


def versioned_infer_function(version: str, runners: dict[str, Runner | None]) -> Any:
    """The PyTriton callable of ``catalog_tagger_v<version>``: whatever runner that version has now."""

    @batch
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        runner = runners.get(version)
        if runner is None:
            raise VersionUnloaded(f"version {version} of {MODEL_NAME} is unloaded",
                                  hint="load it through the model-repository API")
        return runner(inputs[INPUT_NAME])

    return infer


def _tensor(spec: TensorSpec) -> Tensor:
    return Tensor(name=spec.name, dtype=spec.dtype, shape=spec.shape)


def triton_config(settings: TritonHostSettings) -> TritonConfig:
    """Every endpoint on loopback only; the python backend talks to this process over local sockets."""
    return TritonConfig(
        http_address=LOOPBACK, http_port=settings.http_port,
        grpc_address=LOOPBACK, grpc_port=settings.grpc_port,
        metrics_address=LOOPBACK, metrics_port=settings.metrics_port,
        allow_gpu_metrics=settings.device == "cuda",
        log_verbose=settings.log_verbose,
        exit_timeout_secs=5,
    )


class TritonHost:
    """Start: tritonserver up and ``catalog_tagger`` loaded. Stop: tritonserver gone, workspace removed.

    Without a ``runner``, ``start`` loads ``settings.model_path`` in an ``OnnxRunner``; a missing or
    foreign file is a ``ModelLoadError`` naming the path, raised before tritonserver starts.
    """

    def __init__(self, settings: TritonHostSettings, runner: Runner | None = None,
                 load: Callable[[str], Runner] | None = None) -> None:
        self.settings = settings
        self._runner = runner
        self._load = load or self._onnx_runner
        self._triton: Triton | None = None
        self._runners: dict[str, Runner | None] = {}
        self._lock = threading.Lock()

    def _onnx_runner(self, version: str) -> Runner:
        return OnnxRunner(self.settings.version_path(version), threads=self.settings.intra_op_threads,
                          device=self.settings.device)

    def _bind(self, triton: Triton, name: str, version: str, infer: Any, runner: Runner) -> None:
        triton.bind(
            model_name=name,
            infer_func=infer,
            inputs=[_tensor(runner.input)],
            outputs=[_tensor(spec) for spec in runner.outputs],
            model_version=int(version),
            config=ModelConfig(
                max_batch_size=self.settings.max_batch_size,
                batcher=DynamicBatcher(max_queue_delay_microseconds=self.settings.max_queue_delay_us),
            ),
            strict=True,
        )

    def start(self) -> None:
        started = time.monotonic()
        version = self.settings.model_version
        runner = self._runner or self._load(version)
        use_running_libpython()
        triton = Triton(config=triton_config(self.settings))
        self._triton = triton
        self._bind(triton, MODEL_NAME, version, infer_function(runner), runner)
        self._runners[version] = runner
        name, _ = triton_target(MODEL_NAME, version, TritonAddressing.NAME)
        self._bind(triton, name, version, versioned_infer_function(version, self._runners), runner)
        triton.run()
        source = self.settings.model_path if self._runner is None else type(runner).__name__
        log.info("serving %s version %s (%s) on grpc %s:%d, http %s:%d, metrics %s:%d (started in %.1f s)",
                 MODEL_NAME, self.settings.model_version, source, LOOPBACK, self.settings.grpc_port, LOOPBACK,
                 self.settings.http_port, LOOPBACK, self.settings.metrics_port, time.monotonic() - started)

    def alive(self) -> bool:
        """tritonserver and every bound model up; waits while a version is being loaded (its model is not up yet)."""
        with self._lock:
            return self._triton is not None and self._triton.is_alive()

    def versions(self) -> dict[str, bool]:
        """Every version the host has served since it started, and whether it is loaded now."""
        with self._lock:
            return {version: runner is not None for version, runner in self._runners.items()}

    def serve_versions(self, wanted: set[str]) -> None:
        """Load every version of ``wanted`` that is not loaded, unload every loaded one that is not wanted.

        A version that cannot be loaded (missing file, foreign tensors) raises ``ModelLoadError`` before anything
        changes; the versions loaded stay as they were.
        """
        triton = self._triton
        if triton is None:
            raise ModelLoadError("the Triton host is not running")
        with self._lock:
            fresh = {v: self._load(v) for v in sorted(wanted) if self._runners.get(v) is None}
            for version, runner in fresh.items():
                name, _ = triton_target(MODEL_NAME, version, TritonAddressing.NAME)
                bound = version in self._runners
                self._runners[version] = runner
                if not bound:
                    self._bind(triton, name, version, versioned_infer_function(version, self._runners), runner)
                log.info("loaded %s version %s as %s", MODEL_NAME, version, name)
            for version in [v for v, r in self._runners.items() if r is not None and v not in wanted]:
                self._runners[version] = None
                log.info("unloaded %s version %s", MODEL_NAME, version)

    def stop(self) -> None:
        if self._triton is not None:
            log.info("stopping tritonserver")
            self._triton.stop()
            self._triton = None

    def __enter__(self) -> TritonHost:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
