"""Stand-ins for the controller's clients in unit tests (integration tests use the real broker and Triton)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from contracts import Guardrail, GuardrailKind, RolloutState
from rollout.errors import MetricSourceError, ServingError, StatePublishError
from rollout.guardrails import WHOLE, Figure, Reading
from tests.rollout.factories import T0


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass
class Topic:
    """Records every state published; ``fail`` makes the next publish fail."""

    published: list[RolloutState] = field(default_factory=list)
    fail: bool = False

    def publish(self, state: RolloutState) -> None:
        if self.fail:
            raise StatePublishError("broker down")
        self.published.append(state)


def good_figures() -> dict[GuardrailKind, Reading]:
    return {GuardrailKind.ERROR_RATE: {WHOLE: Figure(0.0, 500)},
            GuardrailKind.DISAGREEMENT: {"fabric": Figure(0.05, 500), "collar": Figure(0.02, 500)},
            GuardrailKind.INPUT_DRIFT: {WHOLE: Figure(0.0, 500)}}


@dataclass
class Source:
    """The stage's figures as the test sets them; every call sees the current ``figures`` and ``events``."""

    figures: dict[GuardrailKind, Reading] = field(default_factory=good_figures)
    events: int = 1000
    caught_up: bool = True
    failing: set[GuardrailKind] = field(default_factory=set)
    followed: list[tuple[str, str, datetime]] = field(default_factory=list)

    def follow(self, stable: str, candidate: str, since: datetime) -> None:
        if not self.followed or self.followed[-1] != (stable, candidate, since):
            self.followed.append((stable, candidate, since))

    def candidate_events(self, start: datetime) -> int:
        return self.events

    def reading(self, kind: GuardrailKind, guardrail: Guardrail, start: datetime) -> Reading:
        if kind in self.failing:
            raise MetricSourceError("source down")
        return self.figures.get(kind, {})

    def set(self, kind: GuardrailKind, reading: Mapping[str, Figure]) -> None:
        self.figures[kind] = dict(reading)


@dataclass
class Serving:
    ready: set[str] = field(default_factory=lambda: {"1"})
    fail: bool = False
    calls: list[set[str]] = field(default_factory=list)

    def served(self) -> set[str]:
        if self.fail:
            raise ServingError("triton down")
        return set(self.ready)

    def serve(self, versions: set[str]) -> None:
        self.calls.append(set(versions))
        if self.fail:
            raise ServingError("triton down")
        self.ready = set(versions)
