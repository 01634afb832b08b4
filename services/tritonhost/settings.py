"""The Triton host's settings: one frozen object, from ``TAGSTREAM_*`` variables or the YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from model.tritonconfig import DEFAULT_REPOSITORY, ONNX_FILE
from modelspec.tensors import MODEL_NAME
from runtime.settings import TagstreamSettings


class TritonHostSettings(TagstreamSettings):
    """How the local Triton host listens and which model it serves.

    It serves ``<model_repository>/catalog_tagger/<model_version>/model.onnx``, as exported.

    The variable names are ``TAGSTREAM_GRPC_PORT`` and so on. ``metrics_port`` shares its name with the
    tagger's setting: the stack gives each process its own environment, so they never meet.
    """

    grpc_port: int = Field(8001, ge=1, le=65535, description="Triton gRPC port on 127.0.0.1 (the tagger's)")
    http_port: int = Field(8000, ge=1, le=65535, description="Triton HTTP port on 127.0.0.1")
    metrics_port: int = Field(8002, ge=1, le=65535, description="Triton Prometheus metrics port on 127.0.0.1")
    model_repository: Path = Field(DEFAULT_REPOSITORY,
                                   description="Triton model repository written by `tagstream model export`; "
                                               "the default is the one committed in model/repository")
    model_version: str = Field("1", pattern=r"^[1-9][0-9]*$", description="served version number")
    max_batch_size: int = Field(64, ge=1, le=4096, description="largest batch Triton hands the model")
    max_queue_delay_us: int = Field(200, ge=0, le=1_000_000,
                                    description="longest Triton's dynamic batcher holds a request to fill a "
                                                "batch; keep it small, the tagger batches already")
    device: Literal["cpu", "cuda"] = Field("cpu", description="where onnxruntime runs the model: cpu or cuda "
                                                             "(cuda needs onnxruntime-gpu)")
    intra_op_threads: int = Field(1, ge=1, le=256, description="onnxruntime intra-op threads for the model (cpu)")
    control_port: int = Field(8003, ge=0, le=65535,
                              description="port on 127.0.0.1 of the host's model-repository API (load and unload "
                                          "versions, as Triton's in explicit model-control mode); 0 turns it off")
    control_header: str = Field("admin-key", pattern=r"^[A-Za-z0-9-]{1,64}$",
                                description="header that carries control_key, as Triton's restricted API names it")
    control_key: SecretStr | None = Field(None, description="the value control_header must carry on every call; "
                                                            "without one, the repository API refuses every call")
    control_key_file: Path | None = Field(None, description="file holding control_key when it is unset (the local "
                                                            "stack writes one)")
    log_verbose: int = Field(0, ge=0, le=3, description="tritonserver verbose log level (0 is off)")
    log_level: str = Field("INFO", description="log level of this process: DEBUG, INFO, WARNING or ERROR")

    def key(self) -> SecretStr | None:
        """The repository API's key: ``control_key``, else the content of ``control_key_file``."""
        if self.control_key is not None and self.control_key.get_secret_value():
            return self.control_key
        if self.control_key_file is not None and self.control_key_file.is_file():
            text = self.control_key_file.read_text().strip()
            return SecretStr(text) if text else None
        return None

    @property
    def model_path(self) -> Path:
        """The ONNX file served: ``<model_repository>/catalog_tagger/<model_version>/model.onnx``."""
        return self.version_path(self.model_version)

    def version_path(self, version: str) -> Path:
        """The ONNX file of any version: ``<model_repository>/catalog_tagger/<version>/model.onnx``."""
        return self.model_repository / MODEL_NAME / version / ONNX_FILE
