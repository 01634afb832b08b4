"""Drill candidates: a deliberately bad model version, written into the repository for game days and tests.

``tagstream model drill-candidate --version N [--attribute A]`` copies a served version (the newest below N by
default) to version N with the classes of every head (or of one attribute's head) shuffled: the last layer's rows
(weights and bias) are permuted by a derangement, so each class's logit goes to another class. The tags stay
confident and look plausible, the tensors are exactly the serving contract's, the out-of-distribution score is
untouched; only the labels are wrong. It is the candidate a rollout must catch: its disagreement with stable is
near 1 on the scrambled heads, its prediction distribution diverges, and its quality on labels drops.

``--copy`` writes the opposite: version N as an unchanged copy of the source (``copy_candidate``), a candidate that
must pass every guardrail, for rehearsing a rollout that goes to full (``tagstream demo`` rolls one out).

The version is built in a hidden staging folder and renamed into place, as an export is. Its reference profile is
the source version's, marked as such: a drill is not re-profiled.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from contracts import ReferenceProfile, TagstreamError
from model.export import onnx_predictor, onnx_session
from model.tritonconfig import ONNX_FILE
from modelspec.repository import PROFILE_FILE, THRESHOLDS_FILE
from modelspec.taxonomy import ATTRIBUTES
from modelspec.tensors import INPUT_SHAPE, MODEL_NAME, output_name

log = logging.getLogger(__name__)

_HEAD_PARAMETER = re.compile(r"^network\.heads\.(?P<attribute>[a-z_]+)\.(?P<layer>\d+)\.(?P<kind>weight|bias)$")


class DrillError(TagstreamError):
    code = "drill_failed"


def _versions(model_dir: Path) -> list[int]:
    return sorted(int(p.name) for p in model_dir.glob("*") if p.name.isdigit() and (p / ONNX_FILE).is_file())


def _last_layers(graph: onnx.GraphProto) -> dict[str, tuple[onnx.TensorProto, onnx.TensorProto]]:
    """Per attribute, the (weight, bias) initializers of its head's last layer (the highest layer index)."""
    found: dict[str, dict[int, dict[str, onnx.TensorProto]]] = {}
    for tensor in graph.initializer:
        match = _HEAD_PARAMETER.match(tensor.name)
        if match:
            layers = found.setdefault(match["attribute"], {})
            layers.setdefault(int(match["layer"]), {})[match["kind"]] = tensor
    heads = {}
    for attribute, layers in found.items():
        last = layers[max(layers)]
        if "weight" in last and "bias" in last:
            heads[attribute] = (last["weight"], last["bias"])
    return heads


def _derangement(size: int, rng: np.random.Generator) -> np.ndarray:
    """A permutation of ``range(size)`` that moves every element (so every class is misnamed)."""
    while True:
        order = rng.permutation(size)
        if size < 2 or not np.any(order == np.arange(size)):
            return order


def scramble(model: onnx.ModelProto, attributes: list[str], *, seed: int = 0) -> None:
    """Permute the classes of ``attributes``' heads in place."""
    heads = _last_layers(model.graph)
    missing = [a for a in attributes if a not in heads]
    if missing:
        raise DrillError(f"the model has no head for {', '.join(missing)}; it has {', '.join(sorted(heads))}",
                         field="attribute")
    rng = np.random.default_rng(seed)
    for attribute in attributes:
        weight, bias = heads[attribute]
        order = _derangement(numpy_helper.to_array(bias).shape[0], rng)
        for tensor in (weight, bias):
            shuffled = numpy_helper.to_array(tensor)[order]
            tensor.CopyFrom(numpy_helper.from_array(np.ascontiguousarray(shuffled), tensor.name))


def drill_candidate(repository: Path, *, version: int, attribute: str | None = None, source: int | None = None,
                    seed: int = 0, overwrite: bool = False) -> Path:
    """Write version ``version``: version ``source`` (default: the newest below it) with scrambled heads."""
    names = [a.name for a in ATTRIBUTES]
    if attribute is not None and attribute not in names:
        raise DrillError(f"no attribute {attribute!r}; the model's attributes are {', '.join(names)}",
                         field="attribute")
    scrambled = [attribute] if attribute else names
    heads = "every head" if len(scrambled) > 1 else scrambled[0]

    def build(source_dir: Path, staging: Path, source: int) -> None:
        model = onnx.load(str(source_dir / ONNX_FILE))
        scramble(model, scrambled, seed=seed)
        onnx.save(model, str(staging / ONNX_FILE))
        _check_scrambled(source_dir / ONNX_FILE, staging / ONNX_FILE, scrambled)
        _write_profile(source_dir / PROFILE_FILE, staging / PROFILE_FILE, version,
                       f"drill: version {source}'s profile, not re-measured ({heads} scrambled)")

    target = _write_version(repository, version=version, source=source, overwrite=overwrite, build=build)
    log.info("wrote drill candidate %s (%s scrambled)", target, heads)
    return target


def failing_candidate(repository: Path, *, version: int, source: int | None = None, overwrite: bool = False) -> Path:
    """Write version ``version``: version ``source`` with a step in front of the network that fails at run time (a
    gather past the image's last row), so Triton loads it and every inference call to it fails. The candidate a
    rollout must survive without stalling the taggers: they tag its events by stable and count them as its
    failures, and the error-rate guardrail rolls it back."""

    def build(source_dir: Path, staging: Path, source: int) -> None:
        model = onnx.load(str(source_dir / ONNX_FILE))
        break_at_run_time(model)
        onnx.save(model, str(staging / ONNX_FILE))
        _write_profile(source_dir / PROFILE_FILE, staging / PROFILE_FILE, version,
                       f"drill: version {source}'s profile, not re-measured (fails at run time)")

    target = _write_version(repository, version=version, source=source, overwrite=overwrite, build=build)
    log.info("wrote failing candidate %s", target)
    return target


def break_at_run_time(model: onnx.ModelProto) -> None:
    """Route the input through a Gather whose last row index is out of range: valid to load, failing every run."""
    graph = model.graph
    name = graph.input[0].name
    rows = INPUT_SHAPE[0]
    indices = numpy_helper.from_array(np.array([*range(rows - 1), rows + 1000], dtype=np.int64), "drill_rows")
    graph.initializer.append(indices)
    gathered = f"{name}_drill"
    for node in graph.node:
        node.input[:] = [gathered if i == name else i for i in node.input]
    graph.node.insert(0, onnx.helper.make_node("Gather", [name, "drill_rows"], [gathered], axis=1, name="drill"))


def copy_candidate(repository: Path, *, version: int, source: int | None = None, overwrite: bool = False) -> Path:
    """Write version ``version``: version ``source`` (default: the newest below it) unchanged, its profile and
    review thresholds included. A candidate that must pass every guardrail: for demos and for game days that
    rehearse a rollout going to full."""

    def build(source_dir: Path, staging: Path, source: int) -> None:
        shutil.copy2(source_dir / ONNX_FILE, staging / ONNX_FILE)
        if (source_dir / THRESHOLDS_FILE).is_file():
            shutil.copy2(source_dir / THRESHOLDS_FILE, staging / THRESHOLDS_FILE)
        _write_profile(source_dir / PROFILE_FILE, staging / PROFILE_FILE, version,
                       f"a copy of version {source}, its profile not re-measured")

    target = _write_version(repository, version=version, source=source, overwrite=overwrite, build=build)
    log.info("wrote candidate %s (a copy of an earlier version)", target)
    return target


def _write_version(repository: Path, *, version: int, source: int | None, overwrite: bool,
                   build: Callable[[Path, Path, int], None]) -> Path:
    """Build version ``version`` from ``source`` in a hidden staging folder and rename it into place."""
    model_dir = repository / MODEL_NAME
    target = model_dir / str(version)
    if target.exists() and not overwrite:
        raise DrillError(f"{target} exists", field="version", hint="choose another --version, or pass --overwrite")
    known = _versions(model_dir)
    below = [v for v in known if v < version]
    source = source if source is not None else (below[-1] if below else None)
    if source is None or source not in known:
        raise DrillError(f"no version to copy in {model_dir} (versions there: {known or 'none'})", field="source",
                         hint="export one first with `tagstream model export --version 1`, or give --source")
    staging = Path(tempfile.mkdtemp(prefix=f".partial-drill-{version}-", dir=model_dir))
    try:
        build(model_dir / str(source), staging, source)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _check_scrambled(original: Path, drilled: Path, scrambled: list[str]) -> None:
    """The drilled file serves the contract, and its scrambled heads (only those) name other classes."""
    images = np.random.default_rng(0).integers(0, 256, size=(16, *INPUT_SHAPE), dtype=np.uint8)
    before = onnx_predictor(onnx_session(original))(images)
    after = onnx_predictor(onnx_session(drilled))(images)
    for a in ATTRIBUTES:
        same = np.array_equal(before[output_name(a.name)].argmax(axis=1), after[output_name(a.name)].argmax(axis=1))
        if same == (a.name in scrambled):
            raise DrillError(f"head {a.name} is {'unchanged' if same else 'changed'} after the drill",
                             hint="the model's head layout is not the one this drill knows")


def _write_profile(source: Path, target: Path, version: int, note: str) -> None:
    if not source.is_file():
        return
    profile = ReferenceProfile.model_validate_json(source.read_text())
    copied = profile.model_copy(update={"model": profile.model.model_copy(update={"version": str(version)}),
                                       "reference_description": f"{note}; {profile.reference_description}"[:2000]})
    target.write_text(copied.model_dump_json(indent=2) + "\n")
