"""Binds a ``Runner`` to PyTriton as ``catalog_tagger`` and owns the ``tritonserver`` lifecycle.

The tensors bound are the runner's (for ``OnnxRunner``: read from the exported file and checked against
the serving contract), so the host serves whatever version the settings name without a config of its own.
"""

from __future__ import annotations

import logging
import os
import sysconfig
import time
from types import TracebackType
from typing import Any

import numpy as np
from pytriton.decorators import batch
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

from modelspec.tensors import INPUT_NAME, MODEL_NAME
from services.tritonhost.runner import OnnxRunner, Runner, TensorSpec
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

    def __init__(self, settings: TritonHostSettings, runner: Runner | None = None) -> None:
        self.settings = settings
        self._runner = runner
        self._triton: Triton | None = None

    def start(self) -> None:
        started = time.monotonic()
        runner = self._runner or OnnxRunner(self.settings.model_path, threads=self.settings.intra_op_threads,
                                            device=self.settings.device)
        use_running_libpython()
        triton = Triton(config=triton_config(self.settings))
        self._triton = triton
        triton.bind(
            model_name=MODEL_NAME,
            infer_func=infer_function(runner),
            inputs=[_tensor(runner.input)],
            outputs=[_tensor(spec) for spec in runner.outputs],
            model_version=int(self.settings.model_version),
            config=ModelConfig(
                max_batch_size=self.settings.max_batch_size,
                batcher=DynamicBatcher(max_queue_delay_microseconds=self.settings.max_queue_delay_us),
            ),
            strict=True,
        )
        triton.run()
        source = self.settings.model_path if self._runner is None else type(runner).__name__
        log.info("serving %s version %s (%s) on grpc %s:%d, http %s:%d, metrics %s:%d (started in %.1f s)",
                 MODEL_NAME, self.settings.model_version, source, LOOPBACK, self.settings.grpc_port, LOOPBACK,
                 self.settings.http_port, LOOPBACK, self.settings.metrics_port, time.monotonic() - started)

    def alive(self) -> bool:
        return self._triton is not None and self._triton.is_alive()

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
