"""The monitor's thresholds: when a window has drifted, when an estimate is trusted, when quality dropped.

The defaults are chosen so that a stationary stream raises nothing (the reasoning, with the false-alarm rates
they imply, is in the README, "Monitoring"):

- one chi-square test per column at ``alpha / columns`` (Bonferroni), so that a stationary window flags a kind
  (input, prediction, label) with probability at most ``alpha``; and a PSI floor, so that a difference too small
  to matter is never called drift however large the window;
- quality from audit labels is judged once an attribute has ``min_labels`` of them, by a Wilson interval at
  ``quality_alpha / attributes``: a drop is called only when the whole interval lies under the target.

``QualityTargets`` holds the agreed quality per attribute (and per merchant), read from YAML.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modelspec.taxonomy import ATTRIBUTE_NAMES
from monitoring.errors import MonitorError

Share = Annotated[float, Field(ge=0.0, le=1.0)]

#: The committed agreed targets for the synthetic catalogue (``tagstream report quality`` and the monitor).
DEFAULT_TARGETS_FILE = Path(__file__).resolve().parent / "quality_targets.yaml"


class DriftPolicy(BaseModel):
    """Decision thresholds of the monitor. Every field has a default that a stationary stream does not trip."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alpha: float = Field(1e-4, gt=0.0, lt=1.0, description="chance that a stationary window flags one kind of drift "
                                                            "(split over its columns, Bonferroni)")
    psi_floor: float = Field(0.1, ge=0.0, description="smallest population stability index that counts as drift")
    min_window: int = Field(200, ge=10, description="fewest tags a window needs to be judged; a time-closed window "
                                                    "with fewer keeps filling")
    max_ood_share: Share = Field(0.05, description="share of out-of-distribution tags above which the estimated "
                                                   "quality is not trusted")
    quality_alpha: float = Field(0.01, gt=0.0, lt=1.0, description="chance that a window of good quality is called a "
                                                                    "drop (split over the attributes)")
    min_labels: int = Field(30, ge=1, description="audit labels an attribute needs before its realised quality is "
                                                  "judged")
    label_window: int = Field(500, ge=10, description="most recent labels per version and source that realised "
                                                      "quality and label drift are computed over")
    top_merchants: int = Field(5, ge=0, le=50, description="merchants reported as their own segment per window")


class QualityTargets(BaseModel):
    """Agreed quality: the share of audit labels the published label must match, per attribute and merchant."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    attributes: dict[str, Share] = Field(default_factory=dict, description="attribute -> target accuracy")
    merchants: dict[str, dict[str, Share]] = Field(default_factory=dict,
                                                   description="merchant -> attribute -> target (overrides)")

    @field_validator("attributes")
    @classmethod
    def _known(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(ATTRIBUTE_NAMES))
        if unknown:
            raise ValueError(f"unknown attribute {', '.join(unknown)}; known: {', '.join(ATTRIBUTE_NAMES)}")
        return value

    @field_validator("merchants")
    @classmethod
    def _known_in_merchants(cls, value: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        for merchant, targets in value.items():
            unknown = sorted(set(targets) - set(ATTRIBUTE_NAMES))
            if unknown:
                raise ValueError(f"merchant {merchant}: unknown attribute {', '.join(unknown)}")
        return value

    def target(self, attribute: str, merchant: str | None = None) -> float | None:
        if merchant is not None and attribute in self.merchants.get(merchant, {}):
            return self.merchants[merchant][attribute]
        return self.attributes.get(attribute)


def load_targets(path: Path | None = None) -> QualityTargets:
    """The targets in ``path`` (default: the committed file); a bad file is a ``MonitorError`` naming the field."""
    path = path or DEFAULT_TARGETS_FILE
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except OSError as e:
        raise MonitorError(f"cannot read quality targets {path}: {e.strerror or e}", field="targets",
                           hint="pass an existing YAML file") from e
    except yaml.YAMLError as e:
        raise MonitorError(f"{path} is not YAML: {e}", field="targets") from e
    try:
        return QualityTargets.model_validate(document)
    except ValidationError as e:
        first = e.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        raise MonitorError(f"{path}: {where}: {first['msg']}", field=where,
                           hint="targets are shares between 0 and 1 per attribute") from e
