"""Risk-controlled review thresholds of a model version, and how a labelled set is routed by them.

Per attribute, the threshold is the lowest calibrated confidence at which the labels accepted without review
reach the attribute's target precision with the stated confidence (Learn-then-Test, ``model.ltt``). An
attribute no threshold certifies always goes to review. The targets come from a YAML file
(``ReviewTargets``; ``model/review_targets.yaml`` is the default: 0.95 for every attribute at 0.9 confidence).

**Who is calibrated on.** Per attribute, the calibration rows are the images with a label for it whose
``ood_score`` is at most ``OOD_LIMIT``: an out-of-distribution image goes to review whole in the tagger, so
none of its labels is ever accepted on confidence, and the guarantee is about the labels that can be.

``review_thresholds`` chooses thresholds from a model's outputs on a calibration split; ``judge`` routes
another labelled set by them and measures what happened (precision of the accepted labels, review shares,
products needing any review): on data other than the calibration split, that is the proof that they hold.
Both take the served outputs (``probs_<attribute>``, ``ood_score``), so what is measured is what Triton serves.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from contracts import AttributeThreshold, ReviewThresholds, TagstreamError
from model import ltt
from model.dataset import MISSING
from modelspec.repository import THRESHOLDS_FILE
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES
from modelspec.tensors import OOD_OUTPUT, output_name

#: The file beside model.onnx and reference_profile.json in a version folder.
DEFAULT_TARGETS_FILE = Path(__file__).with_name("review_targets.yaml")
#: The tagger's default ``TAGSTREAM_OOD_THRESHOLD``: above it an image goes to review whole.
OOD_LIMIT = 1.0

Target = Annotated[float, Field(gt=0.0, lt=1.0)]


class ThresholdsError(TagstreamError):
    code = "review_thresholds_invalid"


class ReviewTargets(BaseModel):
    """What the labels accepted without review must reach; the shape of the targets YAML."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    confidence: float = Field(0.9, gt=0.0, lt=1.0, description="probability that an attribute's accepted labels "
                                                                "reach its target (1 - delta of Learn-then-Test)")
    default: Target = Field(0.95, description="target precision of every attribute not named under targets")
    targets: dict[str, Target] = Field(default_factory=dict, description="attribute -> target precision")

    @field_validator("targets")
    @classmethod
    def _known_attributes(cls, targets: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(targets) - set(ATTRIBUTE_NAMES))
        if unknown:
            raise ValueError(f"unknown attribute {', '.join(unknown)}; known: {', '.join(ATTRIBUTE_NAMES)}")
        return targets

    def target_of(self, attribute: str) -> float:
        return self.targets.get(attribute, self.default)

    def overridden(self, *, default: float | None = None, confidence: float | None = None) -> ReviewTargets:
        """These targets with a new default target (named attributes keep theirs) and/or confidence."""
        changes = {"default": default, "confidence": confidence}
        try:
            return ReviewTargets.model_validate(self.model_dump() | {k: v for k, v in changes.items()
                                                                     if v is not None})
        except ValidationError as e:
            raise ThresholdsError(_first_error(e), field=_first_field(e),
                                  hint="a target must be in (0, 1), the confidence in (0, 1)") from e

    @classmethod
    def load(cls, path: Path = DEFAULT_TARGETS_FILE) -> ReviewTargets:
        """The targets of a YAML file; a missing file, bad YAML or a bad key is a ``ThresholdsError`` naming it."""
        try:
            document = yaml.safe_load(path.read_text())
        except OSError as e:
            raise ThresholdsError(f"cannot read the targets file {path}: {e.strerror}", field="targets",
                                  hint="pass an existing YAML file to --targets") from e
        except yaml.YAMLError as e:
            raise ThresholdsError(f"{path} is not valid YAML: {e}", field="targets") from e
        if document is None:
            document = {}
        if not isinstance(document, dict):
            raise ThresholdsError(f"{path} must hold a mapping (confidence, default, targets), got "
                                  f"{type(document).__name__}", field="targets")
        try:
            return cls.model_validate(document)
        except ValidationError as e:
            raise ThresholdsError(f"{path}: {_first_error(e)}", field=_first_field(e),
                                  hint="keys: confidence, default, targets (attribute: precision)") from e


def _first_field(error: ValidationError) -> str:
    return ".".join(str(part) for part in error.errors()[0]["loc"])


def _first_error(error: ValidationError) -> str:
    first = error.errors()[0]
    return f"{_first_field(error) or 'document'}: {first['msg']}"


def head_rows(outputs: Mapping[str, np.ndarray], labels: np.ndarray, j: int) -> tuple[np.ndarray, np.ndarray]:
    """Head ``j``'s calibrated confidence and whether its label is right, on its labelled in-distribution rows."""
    probs = np.asarray(outputs[output_name(ATTRIBUTES[j].name)])
    keep = (labels[:, j] != MISSING) & in_distribution(outputs)
    return probs.max(axis=1).astype(np.float64)[keep], (probs.argmax(axis=1) == labels[:, j])[keep]


def in_distribution(outputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """bool (N,): images the tagger would not send to review whole for being out of distribution."""
    return np.asarray(outputs[OOD_OUTPUT]).reshape(-1) <= OOD_LIMIT


def review_thresholds(outputs: Mapping[str, np.ndarray], labels: np.ndarray, targets: ReviewTargets, *,
                      description: str = "") -> ReviewThresholds:
    """Each attribute's threshold from a model's ``outputs`` on a calibration split with ``labels`` (N, heads)."""
    if len(labels) == 0:
        raise ThresholdsError("the calibration split is empty", field="calibration",
                              hint="calibrate on labelled images: synthetic products, a catalogue, a validation split")
    delta = 1.0 - targets.confidence
    attributes = {}
    for j, attribute in enumerate(ATTRIBUTES):
        confidence, correct = head_rows(outputs, labels, j)
        target = targets.target_of(attribute.name)
        certified = ltt.certify(confidence, correct, target=target, delta=delta)
        if certified.threshold is None or certified.index is None:
            attributes[attribute.name] = AttributeThreshold(threshold=None, target_precision=target, review_share=1.0)
            continue
        accepted = int(certified.counts.accepted[certified.index])
        attributes[attribute.name] = AttributeThreshold(
            threshold=certified.threshold, target_precision=target,
            expected_precision=float(certified.counts.precision[certified.index]),
            review_share=1.0 - accepted / len(confidence))
    return ReviewThresholds(confidence=targets.confidence, calibration_size=len(labels),
                            calibration_description=description, attributes=attributes)


@dataclass(frozen=True)
class AttributeRouting:
    """How one attribute of a labelled set was routed: rows are its labelled in-distribution images."""

    name: str
    target: float
    threshold: float | None
    rows: int
    accepted: int
    correct: int

    @property
    def precision(self) -> float:
        """Precision of the accepted labels; NaN when none was accepted."""
        return self.correct / self.accepted if self.accepted else math.nan

    @property
    def review_share(self) -> float:
        return 1.0 - self.accepted / self.rows if self.rows else 1.0


@dataclass(frozen=True)
class Routing:
    """A labelled set routed by one version's thresholds, as the tagger routes it."""

    attributes: dict[str, AttributeRouting]
    products: int
    out_of_distribution: int  # reviewed whole
    any_review: int  # products with at least one attribute to review, out-of-distribution ones included
    attributes_reviewed: int  # attributes sent to review over all products (13 for one reviewed whole)

    @property
    def any_review_share(self) -> float:
        return self.any_review / self.products if self.products else math.nan

    @property
    def attributes_per_product(self) -> float:
        return self.attributes_reviewed / self.products if self.products else math.nan


def judge(outputs: Mapping[str, np.ndarray], labels: np.ndarray, thresholds: ReviewThresholds) -> Routing:
    """Route ``outputs`` of a labelled set by ``thresholds`` and measure the result per attribute and product."""
    inside = in_distribution(outputs)
    doubtful = np.zeros((len(inside), len(ATTRIBUTES)), dtype=bool)
    routed = {}
    for j, attribute in enumerate(ATTRIBUTES):
        probs = np.asarray(outputs[output_name(attribute.name)])
        confidence = probs.max(axis=1).astype(np.float64)
        entry = thresholds.attributes.get(attribute.name)
        threshold = entry.threshold if entry is not None else None
        accepted = inside & (confidence >= threshold) if threshold is not None else np.zeros_like(inside)
        doubtful[:, j] = ~accepted
        rows = inside & (labels[:, j] != MISSING)
        right = probs.argmax(axis=1) == labels[:, j]
        routed[attribute.name] = AttributeRouting(
            name=attribute.name, target=entry.target_precision if entry is not None else math.nan,
            threshold=threshold, rows=int(rows.sum()), accepted=int((accepted & rows).sum()),
            correct=int((accepted & rows & right).sum()))
    return Routing(attributes=routed, products=len(inside), out_of_distribution=int((~inside).sum()),
                   any_review=int(doubtful.any(axis=1).sum()), attributes_reviewed=int(doubtful.sum()))


def read_thresholds(version_dir: Path) -> ReviewThresholds | None:
    """The thresholds stored with a version, or None for a version exported without them."""
    path = version_dir / THRESHOLDS_FILE
    if not path.is_file():
        return None
    try:
        return ReviewThresholds.model_validate_json(path.read_bytes())
    except ValidationError as e:
        raise ThresholdsError(f"{path} is not a valid ReviewThresholds: {_first_error(e)}", field=_first_field(e),
                              hint="recompute it with `tagstream model thresholds --write`") from e


def write_thresholds(version_dir: Path, thresholds: ReviewThresholds) -> Path:
    """Write ``review_thresholds.json`` into a version folder, atomically (a reader never sees half a file)."""
    path = version_dir / THRESHOLDS_FILE
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(thresholds.model_dump_json(indent=2) + "\n")
    partial.replace(path)
    return path
