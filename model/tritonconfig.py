"""The Triton model configuration of ``catalog_tagger``: ``config.pbtxt`` and one label file per head.

Built as Triton's own ``ModelConfig`` protobuf (the generated module ships with tritonclient) and
written in its text format, so what Triton parses is what the tests parse. The configuration belongs
to the model directory, not to one version: every version it serves must share the input, the
outputs and the class order (``model.taxonomy`` only ever appends classes; a version with
more classes needs its own repository or a config whose policy serves it alone, the default).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from google.protobuf import text_format
from pydantic import BaseModel, ConfigDict, Field, model_validator
from tritonclient.grpc import model_config_pb2 as pb

from modelspec.repository import ONNX_FILE
from modelspec.taxonomy import ATTRIBUTES, Attribute
from modelspec.tensors import INPUT_NAME, INPUT_SHAPE, MODEL_NAME, OOD_OUTPUT, output_name

#: The repository committed with the project (``model/repository``), found beside the package whatever the
#: working directory.
DEFAULT_REPOSITORY = Path(__file__).resolve().parent / "repository"
#: Triton model parameter holding ``taxonomy_fingerprint()``: a client can check the class order it reads.
TAXONOMY_PARAMETER = "tagstream_taxonomy_sha256"


class TritonOptions(BaseModel):
    """How production Triton serves the model: batching, instances, versions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_batch_size: int = Field(64, ge=1, le=4096, description="largest batch Triton hands the model")
    preferred_batch_sizes: tuple[int, ...] = Field(
        (16, 32, 64), description="batch sizes the dynamic batcher tries to form, each <= max_batch_size")
    max_queue_delay_us: int = Field(100, ge=0, le=1_000_000,
                                    description="longest a request waits for a preferred batch to fill")
    instance_count: int = Field(1, ge=1, le=64, description="model instances per device")
    instance_kind: Literal["gpu", "cpu"] = Field("gpu", description="gpu for production; cpu for a CPU-only Triton")
    versions: tuple[int, ...] | None = Field(
        None, description="versions to serve (e.g. stable and candidate); None serves the latest only")

    @model_validator(mode="after")
    def _check(self) -> TritonOptions:
        sizes = self.preferred_batch_sizes
        if any(not 1 <= s <= self.max_batch_size for s in sizes):
            raise ValueError(f"preferred_batch_sizes {list(sizes)} must lie in 1..max_batch_size "
                             f"({self.max_batch_size})")
        if list(sizes) != sorted(set(sizes)):
            raise ValueError(f"preferred_batch_sizes {list(sizes)} must be increasing, without repeats")
        if self.versions is not None and (not self.versions or min(self.versions) < 1):
            raise ValueError(f"versions {self.versions} must name at least one version, each >= 1")
        return self


def label_filename(attribute: Attribute) -> str:
    return f"{output_name(attribute.name)}.labels.txt"


def label_files(attributes: tuple[Attribute, ...] = ATTRIBUTES) -> dict[str, str]:
    """``{file name: text}``: one class per line, in the head's output order."""
    return {label_filename(a): "".join(f"{c}\n" for c in a.classes) for a in attributes}


def taxonomy_fingerprint(attributes: tuple[Attribute, ...] = ATTRIBUTES) -> str:
    """SHA-256 of the attributes and their classes in order: equal exactly when the label files are."""
    text = json.dumps([[a.name, list(a.classes)] for a in attributes], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def model_config(options: TritonOptions, attributes: tuple[Attribute, ...] = ATTRIBUTES) -> pb.ModelConfig:
    """``catalog_tagger`` on Triton's ONNX Runtime backend, as ``options`` say."""
    config = pb.ModelConfig(name=MODEL_NAME, platform="onnxruntime_onnx", backend="onnxruntime",
                            max_batch_size=options.max_batch_size, default_model_filename=ONNX_FILE)
    if options.versions is None:
        config.version_policy.latest.num_versions = 1
    else:
        config.version_policy.specific.versions.extend(sorted(set(options.versions)))
    config.input.add(name=INPUT_NAME, data_type=pb.TYPE_UINT8, dims=list(INPUT_SHAPE))
    for attribute in attributes:
        config.output.add(name=output_name(attribute.name), data_type=pb.TYPE_FP32, dims=[attribute.size],
                          label_filename=label_filename(attribute))
    config.output.add(name=OOD_OUTPUT, data_type=pb.TYPE_FP32, dims=[1])
    config.dynamic_batching.preferred_batch_size.extend(options.preferred_batch_sizes)
    config.dynamic_batching.max_queue_delay_microseconds = options.max_queue_delay_us
    kind = pb.ModelInstanceGroup.KIND_GPU if options.instance_kind == "gpu" else pb.ModelInstanceGroup.KIND_CPU
    config.instance_group.add(kind=kind, count=options.instance_count)
    config.parameters[TAXONOMY_PARAMETER].string_value = taxonomy_fingerprint(attributes)
    return config


def render(config: pb.ModelConfig) -> str:
    """The ``config.pbtxt`` text of ``config``."""
    return text_format.MessageToString(config)


def parse(text: str) -> pb.ModelConfig:
    """A ``config.pbtxt`` text back into ``ModelConfig``; raises ``text_format.ParseError`` naming the line."""
    return text_format.Parse(text, pb.ModelConfig())
