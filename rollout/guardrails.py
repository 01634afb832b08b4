"""Guardrail checks: figures from a metric source in, measurements with a phase out. Measurements are data.

A metric source answers, for one guardrail, a ``Reading``: one ``Figure`` per attribute for the per-attribute
guardrails (disagreement, prediction divergence, quality drop), or one under ``WHOLE`` for the others. ``judge``
turns a reading into measurements against the guardrail's limits:

- **failed**: above ``max``;
- **inconclusive**: above ``warn`` and up to ``max``;
- **passed**: at or below ``warn`` (or ``max``);
- **pending**: fewer than ``min_samples`` behind it, or nothing to compare yet (too early to judge; it neither
  counts nor holds the stage: the bake's events make sure the candidate was seen);
- **error**: the source failed. A source's failure is recorded here, never raised through the controller.

A round (all measurements of one guardrail at one time) takes the worst phase of its measurements.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict

from contracts import Guardrail, GuardrailKind
from rollout.errors import MetricSourceError

#: The key of a figure that concerns the whole tag rather than one attribute.
WHOLE = ""


class MeasurementPhase(StrEnum):
    PENDING = "pending"
    PASSED = "passed"
    INCONCLUSIVE = "inconclusive"
    ERROR = "error"
    FAILED = "failed"

    @property
    def severity(self) -> int:
        """Worse is higher (Argo's order: successful < inconclusive < error < failed; pending below all)."""
        return list(MeasurementPhase).index(self)


@dataclass(frozen=True)
class Figure:
    """What a source saw for one guardrail (and attribute) over the window; ``value`` is what the limit judges."""

    value: float | None
    samples: int | None = None  # events, pairs or labels behind the value; None when the source cannot say
    candidate: float | None = None
    stable: float | None = None
    note: str = ""


#: ``{attribute or WHOLE: figure}``; empty when the source has nothing yet.
Reading = Mapping[str, Figure]
#: A metric source's answer for one guardrail; raises ``MetricSourceError`` when the source fails.
Probe = Callable[[GuardrailKind, Guardrail], Reading]


class Measurement(BaseModel):
    """One guardrail (for one attribute) at one time, with the figures behind it."""

    model_config = ConfigDict(frozen=True)

    guardrail: GuardrailKind
    attribute: str = WHOLE
    phase: MeasurementPhase
    value: float | None = None
    max: float
    warn: float | None = None
    candidate: float | None = None
    stable: float | None = None
    samples: int | None = None
    message: str = ""

    @property
    def label(self) -> str:
        return f"{self.guardrail}[{self.attribute}]" if self.attribute else str(self.guardrail)


class Round(BaseModel):
    """Every measurement of one guardrail taken at one time; its phase is the worst of them."""

    model_config = ConfigDict(frozen=True)

    guardrail: GuardrailKind
    time: datetime
    phase: MeasurementPhase
    measurements: list[Measurement]

    @property
    def worst(self) -> Measurement:
        return max(self.measurements, key=lambda m: m.phase.severity)


def _phase(guardrail: Guardrail, attribute: str, figure: Figure) -> tuple[MeasurementPhase, str]:
    limit = guardrail.limit(attribute or None)
    if figure.value is None or not math.isfinite(figure.value):
        return MeasurementPhase.PENDING, figure.note or "nothing to compare yet"
    if figure.samples is not None and figure.samples < guardrail.min_samples:
        return MeasurementPhase.PENDING, f"{figure.samples} of the {guardrail.min_samples} samples needed"
    if figure.value > limit.max:
        return MeasurementPhase.FAILED, f"{figure.value:.4g} > max {limit.max:g}"
    if limit.warn is not None and figure.value > limit.warn:
        return MeasurementPhase.INCONCLUSIVE, f"{figure.value:.4g} > warn {limit.warn:g} (max {limit.max:g})"
    return MeasurementPhase.PASSED, f"{figure.value:.4g} <= {limit.warn if limit.warn is not None else limit.max:g}"


def judge(kind: GuardrailKind, guardrail: Guardrail, reading: Reading, now: datetime) -> Round:
    """The round of one guardrail from a source's reading."""
    measurements = []
    for attribute, figure in sorted(reading.items()):
        phase, message = _phase(guardrail, attribute, figure)
        limit = guardrail.limit(attribute or None)
        measurements.append(Measurement(guardrail=kind, attribute=attribute, phase=phase, value=figure.value,
                                        max=limit.max, warn=limit.warn, candidate=figure.candidate,
                                        stable=figure.stable, samples=figure.samples, message=message))
    if not measurements:
        measurements.append(Measurement(guardrail=kind, phase=MeasurementPhase.PENDING, max=guardrail.max,
                                        warn=guardrail.warn, message="no data in the window yet"))
    worst = max(measurements, key=lambda m: m.phase.severity).phase
    return Round(guardrail=kind, time=now, phase=worst, measurements=measurements)


def failed_round(kind: GuardrailKind, guardrail: Guardrail, error: Exception, now: datetime) -> Round:
    """The round of a guardrail whose source failed: one error measurement naming the failure."""
    measurement = Measurement(guardrail=kind, phase=MeasurementPhase.ERROR, max=guardrail.max, warn=guardrail.warn,
                              message=str(error)[:500])
    return Round(guardrail=kind, time=now, phase=MeasurementPhase.ERROR, measurements=[measurement])


def measure(guardrails: Mapping[GuardrailKind, Guardrail], probe: Probe, now: datetime) -> list[Round]:
    """One round of every guardrail; a source that fails gives an error round, never an exception."""
    rounds = []
    for kind, guardrail in guardrails.items():
        try:
            reading = probe(kind, guardrail)
        except MetricSourceError as e:
            rounds.append(failed_round(kind, guardrail, e, now))
            continue
        rounds.append(judge(kind, guardrail, reading, now))
    return rounds
