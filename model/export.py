"""Export a trained model to a Triton model repository, with the reference profile the monitor needs.

``export_repository`` writes (``tagstream model export --version N --out DIR``)::

    DIR/catalog_tagger/config.pbtxt                 ONNX Runtime backend, batching, GPU instances
    DIR/catalog_tagger/probs_<attribute>.labels.txt one class per line, the head's output order
    DIR/catalog_tagger/N/model.onnx                 ServingModel: uint8 images -> probs_*, ood_score
    DIR/catalog_tagger/N/reference_profile.json     contracts.ReferenceProfile
    DIR/catalog_tagger/N/review_thresholds.json     contracts.ReviewThresholds (model.thresholds)

A version is built in a hidden staging folder beside the others (Triton ignores folders whose name is
not a number) and renamed into place once complete, so a Triton polling the repository never sees half
a version; other versions are left alone. Before anything is moved, onnxruntime's outputs are checked
against torch's within ``TOLERANCE``. The reference profile and the review thresholds are computed from the
exported file's own outputs on the reference set: what the monitor compares against, and what the tagger
routes by, is what Triton serves. (The reference set is usually the training run's validation split, which
also chose the temperatures and the epoch; ``tagstream model thresholds`` recomputes the thresholds on a
fresh labelled set.)

The ``measure_rate`` helpers time any predictor (torch, onnxruntime, a Triton client) the same way.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from model import tritonconfig
from model.dataset import LabelledImages
from model.errors import ExportError, ModelArgumentError
from model.profile import reference_profile
from model.thresholds import ReviewTargets, review_thresholds, write_thresholds
from model.trained import TrainedModel
from model.tritonconfig import ONNX_FILE, TritonOptions
from modelspec.repository import CONFIG_FILE, PROFILE_FILE
from modelspec.taxonomy import ATTRIBUTES
from modelspec.tensors import INPUT_NAME, MODEL_NAME, OOD_OUTPUT, OUTPUT_NAMES, output_name

log = logging.getLogger(__name__)

OPSET = 17
#: Largest absolute difference allowed between onnxruntime's and torch's outputs.
TOLERANCE = 1e-4
#: Reference images the torch/onnxruntime comparison runs on (once alone, then as one batch).
VERIFY_IMAGES = 16
#: Images per forward pass when running the reference set.
CHUNK = 256

#: uint8 (N, 64, 64, 3) in, ``{output name: array}`` out: torch, onnxruntime or a Triton client.
Predictor = Callable[[np.ndarray], dict[str, np.ndarray]]


def export_onnx(trained: TrainedModel, path: Path, *, sample: np.ndarray) -> None:
    """Trace ``trained.serving()`` on ``sample`` images to ONNX at ``path`` (batch axis dynamic), then check it.

    Uses torch's TorchScript-based exporter (``dynamo=False``): the dynamo exporter needs onnxscript,
    which tagstream does not ship. torch 2.13 warns that this exporter is deprecated (and trips one of
    its own deprecated helpers); those two warnings, and only those, are silenced here.
    """
    serving = trained.serving().eval()
    names = (INPUT_NAME, *OUTPUT_NAMES)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.filterwarnings("ignore", message="You are using the legacy TorchScript-based ONNX export",
                                category=DeprecationWarning)
        warnings.filterwarnings("ignore", message="The feature will be removed", category=DeprecationWarning)
        try:
            torch.onnx.export(serving, (torch.from_numpy(np.ascontiguousarray(sample)),), str(path), dynamo=False,
                              opset_version=OPSET, input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
                              dynamic_axes={name: {0: "batch"} for name in names})
        except torch.onnx.errors.OnnxExporterError as e:
            raise ExportError(f"torch cannot export the model to ONNX opset {OPSET}: {e}") from e
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as e:
        raise ExportError(f"the exported {path} is not valid ONNX: {e}") from e


def onnx_session(path: Path, *, threads: int = 1) -> ort.InferenceSession:
    """An onnxruntime CPU session on ``path`` with ``threads`` intra-op threads."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_predictor(session: ort.InferenceSession) -> Predictor:
    def predict(images: np.ndarray) -> dict[str, np.ndarray]:
        arrays = session.run(list(OUTPUT_NAMES), {INPUT_NAME: np.ascontiguousarray(images, dtype=np.uint8)})
        return dict(zip(OUTPUT_NAMES, arrays, strict=True))

    return predict


def torch_predictor(trained: TrainedModel, *, threads: int | None = None) -> Predictor:
    """``trained.serving()`` in torch on the CPU; ``threads`` sets torch's process-wide thread count."""
    if threads is not None:
        torch.set_num_threads(threads)
    serving = trained.serving().eval()

    def predict(images: np.ndarray) -> dict[str, np.ndarray]:
        with torch.inference_mode():
            outputs = serving(torch.from_numpy(np.ascontiguousarray(images, dtype=np.uint8)))
        return {name: t.numpy() for name, t in zip(OUTPUT_NAMES, outputs, strict=True)}

    return predict


def predict_all(predict: Predictor, images: np.ndarray, *, batch_size: int = CHUNK) -> dict[str, np.ndarray]:
    """``predict`` over ``images`` in batches, outputs concatenated."""
    parts = [predict(images[i:i + batch_size]) for i in range(0, len(images), batch_size)]
    return {name: np.concatenate([p[name] for p in parts]) for name in OUTPUT_NAMES}


def max_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """Largest absolute difference over every output of two predictions of the same images."""
    for name in OUTPUT_NAMES:
        if a[name].shape != b[name].shape:
            raise ExportError(f"output {name} has shape {a[name].shape} in one runtime, {b[name].shape} in the other")
    return max(float(np.abs(a[n].astype(np.float64) - b[n]).max(initial=0.0)) for n in OUTPUT_NAMES)


def verify(trained: TrainedModel, session: ort.InferenceSession, images: np.ndarray) -> float:
    """onnxruntime against torch on one image alone and on all of ``images`` as one batch; the worst difference.

    Raises ``ExportError`` above ``TOLERANCE`` or when an output's shape is not the serving contract's.
    """
    torch_run, onnx_run = torch_predictor(trained), onnx_predictor(session)
    runs = [(torch_run(batch), onnx_run(batch)) for batch in (images[:1], images)]
    expected = {output_name(a.name): (len(images), a.size) for a in ATTRIBUTES} | {OOD_OUTPUT: (len(images), 1)}
    shapes = {name: array.shape for name, array in runs[-1][1].items()}
    if shapes != expected:
        raise ExportError(f"the ONNX outputs have shapes {shapes}; the serving contract says {expected}")
    worst = max(max_difference(torch_outputs, onnx_outputs) for torch_outputs, onnx_outputs in runs)
    if worst > TOLERANCE:
        raise ExportError(f"onnxruntime differs from torch by {worst:.3g}, more than {TOLERANCE}")
    return worst


def export_repository(trained: TrainedModel, *, version: int, out: Path, reference: LabelledImages,
                      options: TritonOptions | None = None, overwrite: bool = False,
                      created_at: datetime | None = None, reference_description: str = "",
                      review_targets: ReviewTargets | None = None) -> Path:
    """Write version ``version`` of ``catalog_tagger`` into the repository ``out``; returns the version folder.

    ``config.pbtxt`` and the label files are (re)written for this version; other versions stay as they are.
    An existing ``version`` is replaced only with ``overwrite=True``. The review thresholds are chosen on
    ``reference`` for ``review_targets`` (default: ``model/review_targets.yaml``).
    """
    if version < 1:
        raise ExportError(f"version must be 1 or more, got {version}", field="version")
    if len(reference) == 0:
        raise ExportError("the reference set is empty; the profile needs images", field="reference")
    model_dir = out / MODEL_NAME
    target = model_dir / str(version)
    if target.exists() and not overwrite:
        raise ExportError(f"{target} exists", code="version_exists", field="version",
                          hint="choose another --version, or pass --overwrite (overwrite=True) to replace it")
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".partial-{version}-", dir=model_dir))
    try:
        onnx_path = staging / ONNX_FILE
        export_onnx(trained, onnx_path, sample=reference.images[:2])
        session = onnx_session(onnx_path, threads=torch.get_num_threads())
        difference = verify(trained, session, reference.images[:VERIFY_IMAGES])
        outputs = predict_all(onnx_predictor(session), reference.images)
        profile = reference_profile(trained, outputs, reference, version=version, description=reference_description,
                                    created_at=created_at or datetime.now(UTC))
        (staging / PROFILE_FILE).write_text(profile.model_dump_json(indent=2) + "\n")
        thresholds = review_thresholds(outputs, reference.labels, review_targets or ReviewTargets.load(),
                                       description=reference_description)
        write_thresholds(staging, thresholds)
        _write_shared(model_dir, options or TritonOptions())
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("exported %s version %d to %s (onnxruntime within %.2g of torch; profile of %d images)",
             MODEL_NAME, version, target, difference, len(reference))
    return target


def _write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    partial.replace(path)


def _write_shared(model_dir: Path, options: TritonOptions) -> None:
    _write_atomically(model_dir / CONFIG_FILE, tritonconfig.render(tritonconfig.model_config(options)))
    for name, text in tritonconfig.label_files().items():
        _write_atomically(model_dir / name, text)


def _move_into_place(staging: Path, target: Path) -> None:
    """Rename ``staging`` to ``target``; an existing ``target`` is moved aside first, then removed."""
    old = None
    if target.exists():
        old = target.with_name(f".replaced-{target.name}-{uuid.uuid4().hex[:8]}")
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old)


@dataclass(frozen=True)
class Rate:
    images_per_s: float
    batch_size: int
    batches: int
    seconds: float


def measure_rate(predict: Predictor, images: np.ndarray, *, batch_size: int = 32, seconds: float = 2.0,
                 warmup: int = 2) -> Rate:
    """Images per second of ``predict`` on batches of ``batch_size`` cut from ``images``, for about ``seconds``."""
    if len(images) < batch_size:
        raise ModelArgumentError(f"need at least batch_size={batch_size} images, got {len(images)}")
    starts = range(0, len(images) - batch_size + 1, batch_size)
    batches = [np.ascontiguousarray(images[s:s + batch_size]) for s in starts]
    for batch in batches[:warmup]:
        predict(batch)
    done, began = 0, time.perf_counter()
    while done == 0 or time.perf_counter() - began < seconds:
        predict(batches[done % len(batches)])
        done += 1
    elapsed = time.perf_counter() - began
    return Rate(images_per_s=done * batch_size / elapsed, batch_size=batch_size, batches=done, seconds=elapsed)
