"""RolloutPlan: the stages, bakes, gates and guardrails of a rollout, carried whole in ``RolloutSpec.strategy``.

A release owner writes a plan as YAML (``rollout/plans/*.yaml``; ``rollout.plan`` loads it and names the line of
any error). The controller copies the validated plan into the rollout's spec, as Argo keeps the strategy in the
Rollout's spec, so a restarted controller recovers everything it needs from the ``tagstream.rollout`` topic.

Every guardrail is a figure where higher is worse (the candidate's error rate minus stable's, the ratio of p99
latencies, the disagreement with stable...). A measurement above ``max`` **fails**; above ``warn`` (and up to
``max``) it is **inconclusive**; otherwise it **passes**. With fewer than ``min_samples`` behind it, it is
**pending**: too early to judge. Durations are seconds, or text such as ``500ms``, ``30s``, ``10m``, ``2h``.
"""

from __future__ import annotations

import itertools
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from contracts.base import ContractModel

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> Any:
    """``"10m"`` -> 600.0; a number stays a number (seconds); anything else is left for validation to refuse."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration; write seconds, or a number with ms, s, m or h "
                             "(e.g. 30s, 10m)")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


#: Seconds, from a number or a duration text.
Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0.0)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class PilotCohort(ContractModel):
    """Who the candidate serves in a pilot: these merchants, these categories, and a hash share of the rest."""

    merchants: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    hash_share: Share = 0.0


class StageKind(StrEnum):
    """What the candidate does in a stage (the values of ``RolloutStage`` a stage can be)."""

    SHADOW = "shadow"  # tags a copy of the traffic, published only to catalog.tags.shadow
    PILOT = "pilot"  # serves a cohort: merchants, categories and/or a hash share of products
    CANARY = "canary"  # serves a share of products, by a stable hash of product_id
    FULL = "full"  # serves everything; the rollout completes after this stage


class Gate(StrEnum):
    AUTO = "auto"  # advance when the bake is done and every guardrail passes
    MANUAL = "manual"  # the same, and a person approves (`tagstream rollout approve`)


class GuardrailKind(StrEnum):
    """What a guardrail compares between the candidate and stable over the stage's window."""

    ERROR_RATE = "error_rate"  # candidate's failed events per event minus stable's, less its 95% margin
    LATENCY_P99_RATIO = "latency_p99_ratio"  # candidate's p99 inference_ms over stable's
    REVIEW_SHARE_DIFF = "review_share_diff"  # candidate's share of tags needing review minus stable's
    DISAGREEMENT = "disagreement"  # per attribute: share of events both tagged where the labels differ
    PREDICTION_DIVERGENCE = "prediction_divergence"  # per attribute: Jensen-Shannon distance of label distributions
    QUALITY_DROP = "quality_drop"  # per attribute: stable's accuracy on arrived labels minus the candidate's
    INPUT_DRIFT = "input_drift"  # share of input features drifted from the reference: blocks promotion only

    @property
    def per_attribute(self) -> bool:
        return self in (GuardrailKind.DISAGREEMENT, GuardrailKind.PREDICTION_DIVERGENCE, GuardrailKind.QUALITY_DROP)

    @property
    def rolls_back(self) -> bool:
        """False for input drift: drifting input says nothing against the candidate, so it only holds the stage."""
        return self is not GuardrailKind.INPUT_DRIFT


class MetricSourceKind(StrEnum):
    BUILTIN = "builtin"  # the controller reads catalog.tags, catalog.tags.shadow, catalog.events.dlq, catalog.labels
    PROMETHEUS = "prometheus"  # PromQL against a Prometheus server (the monitor's tagstream_monitor_* metrics)


def _limit_from_number(value: Any) -> Any:
    return {"max": value} if isinstance(value, int | float) and not isinstance(value, bool) else value


class Limit(ContractModel):
    """Fail above ``max``; inconclusive above ``warn`` (when given and below ``max``)."""

    max: float
    warn: float | None = None

    @model_validator(mode="after")
    def _warn_below_max(self) -> Limit:
        if self.warn is not None and self.warn > self.max:
            raise ValueError(f"warn {self.warn} is above max {self.max}; warn must be the lower bound")
        return self


class Guardrail(Limit):
    """One comparison with stable. ``attributes`` sets another limit per attribute (per-attribute kinds only)."""

    attributes: dict[str, Annotated[Limit, BeforeValidator(_limit_from_number)]] = Field(
        default_factory=dict, description="per-attribute limits (a number is a max); other attributes use max/warn")
    min_samples: Annotated[int, Field(ge=0)] = Field(
        100, description="fewer events (pairs, labels) than this: the measurement is pending, not judged")
    source: MetricSourceKind = MetricSourceKind.BUILTIN
    query: str | None = Field(None, max_length=4000,
                              description="PromQL for source prometheus; {model}, {stable}, {candidate} and {window} "
                                          "(e.g. 90s) are filled in; per-attribute kinds return one series per "
                                          "`attribute` label")
    enabled: bool = True

    def limit(self, attribute: str | None = None) -> Limit:
        if attribute is not None and attribute in self.attributes:
            return self.attributes[attribute]
        return Limit(max=self.max, warn=self.warn)


class Bake(ContractModel):
    """The least a stage runs before its gate: both the time and the candidate's events."""

    time: Seconds = 0.0
    events: Annotated[int, Field(ge=0)] = 0


class StagePlan(ContractModel):
    name: Name
    kind: StageKind
    share: Share | None = Field(None, description="canary only: the share of products the candidate serves")
    cohort: PilotCohort | None = Field(None, description="pilot only: merchants, categories and a hash share")
    compare_share: Share = Field(0.0, description="pilot and canary: share of the candidate's events that stable "
                                                  "tags too (to catalog.tags.shadow), for the disagreement guardrail")
    bake: Bake = Field(default_factory=Bake)
    gate: Gate = Gate.AUTO
    guardrails: dict[GuardrailKind, Guardrail | None] = Field(
        default_factory=dict, description="replace the plan's guardrail of that kind for this stage; null drops it")

    @model_validator(mode="after")
    def _fields_fit_the_kind(self) -> StagePlan:
        if self.kind is StageKind.CANARY:
            if self.share is None or not 0.0 < self.share < 1.0:
                raise ValueError("a canary stage needs a share between 0 and 1 (exclusive), e.g. share: 0.1")
        elif self.share is not None:
            raise ValueError(f"share is for canary stages; a {self.kind} stage's share is fixed")
        if self.kind is StageKind.PILOT:
            cohort = self.cohort
            if cohort is None or not (cohort.merchants or cohort.categories or cohort.hash_share > 0):
                raise ValueError("a pilot stage needs a cohort: merchants, categories and/or a hash_share above 0")
        elif self.cohort is not None:
            raise ValueError(f"cohort is for pilot stages, not {self.kind}")
        if self.compare_share and self.kind not in (StageKind.PILOT, StageKind.CANARY):
            raise ValueError(f"compare_share is for pilot and canary stages; in {self.kind} "
                             + ("stable tags every event beside the candidate anyway" if self.kind is StageKind.SHADOW
                                else "nothing is left to compare with"))
        return self

    @property
    def traffic_share(self) -> float:
        """The share of products the candidate's tags are published for (a pilot's is its hash share)."""
        if self.kind is StageKind.CANARY and self.share is not None:
            return self.share
        if self.kind is StageKind.PILOT and self.cohort is not None:
            return self.cohort.hash_share
        return 1.0 if self.kind is StageKind.FULL else 0.0


class AnalysisPolicy(ContractModel):
    """How measurements add up, as in Argo Rollouts' analysis (counted per guardrail within a stage).

    More than ``failure_limit`` failed measurements roll back; more than ``consecutive_error_limit`` errors in a
    row (the metric source failing) roll back; more than ``inconclusive_limit`` inconclusive ones pause the rollout
    for a person to resume, promote or roll back.
    """

    interval: Seconds = Field(10.0, description="time between measurements")
    failure_limit: Annotated[int, Field(ge=0)] = 1
    inconclusive_limit: Annotated[int, Field(ge=0)] = 2
    consecutive_error_limit: Annotated[int, Field(ge=0)] = 4

    @model_validator(mode="after")
    def _positive_interval(self) -> AnalysisPolicy:
        if self.interval <= 0:
            raise ValueError("interval must be above 0")
        return self


class RolloutPlan(ContractModel):
    """Stages in order (shadow, pilot, canary..., full), the analysis policy and the default guardrails."""

    name: Name
    description: str = Field("", max_length=2000)
    analysis: AnalysisPolicy = Field(default_factory=AnalysisPolicy)
    guardrails: dict[GuardrailKind, Guardrail] = Field(default_factory=dict,
                                                      description="every stage's guardrails unless it replaces one")
    stages: Annotated[list[StagePlan], Field(min_length=1)]

    @model_validator(mode="after")
    def _stages_in_order(self) -> RolloutPlan:
        names = [s.name for s in self.stages]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"stage names must be unique; repeated: {', '.join(duplicates)}")
        order = list(StageKind)
        ranks = [order.index(s.kind) for s in self.stages]
        if ranks != sorted(ranks):
            raise ValueError("stages must go shadow, pilot, canary, full in that order; got "
                             + " -> ".join(s.kind.value for s in self.stages))
        if self.stages[-1].kind is not StageKind.FULL or ranks.count(order.index(StageKind.FULL)) != 1:
            raise ValueError("the last stage, and only the last, must be of kind full")
        shares = [s.share for s in self.stages if s.kind is StageKind.CANARY and s.share is not None]
        if any(b <= a for a, b in itertools.pairwise(shares)):
            raise ValueError(f"canary shares must grow from stage to stage; got {shares}")
        for stage in self.stages:
            for kind, guardrail in {**self.guardrails, **stage.guardrails}.items():
                if guardrail is not None and guardrail.attributes and not kind.per_attribute:
                    raise ValueError(f"guardrail {kind} is one figure for the whole tag; attributes are for "
                                     "disagreement, prediction_divergence and quality_drop")
        return self

    def stage(self, name: str) -> StagePlan:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"plan {self.name} has no stage {name!r}; it has {', '.join(s.name for s in self.stages)}")

    def index(self, name: str) -> int:
        return self.stages.index(self.stage(name))

    def guardrails_for(self, stage: StagePlan) -> dict[GuardrailKind, Guardrail]:
        """The guardrails in force in ``stage``: the plan's, replaced or dropped by the stage's, enabled ones."""
        merged: dict[GuardrailKind, Guardrail | None] = {**self.guardrails, **stage.guardrails}
        return {kind: g for kind, g in merged.items() if g is not None and g.enabled}
