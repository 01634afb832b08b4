"""How rounds of measurements add up to a decision, with Argo Rollouts' analysis semantics.

Per guardrail, over the rounds since the stage began (or since the last resume), as Argo counts a metric's
measurements in an AnalysisRun:

- a **failed** round counts toward ``failure_limit``: one more than the limit rolls back
  (Argo: ``failed > failureLimit`` fails the metric, and a failed run aborts the rollout);
- an **error** round counts toward ``consecutive_error_limit`` and any other completed round resets that
  count; one more than the limit rolls back (Argo: ``consecutiveError > consecutiveErrorLimit`` errors the
  metric, and an errored run aborts the rollout too);
- an **inconclusive** round counts toward ``inconclusive_limit``; one more than the limit pauses the rollout
  for a person to resume, promote or roll back (Argo: an inconclusive run pauses the rollout);
- a **pending** round is no measurement at all (Argo's Pending): it counts toward nothing.

Input drift is the exception: its failures never roll back (drifting input says nothing against the
candidate), they hold the stage. A stage may advance only when the latest round of every guardrail passed or is
pending, so an inconclusive, failing or erroring guardrail holds it even within its limits (Argo 1.8 likewise
stopped promoting on an inconclusive background run).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from contracts import AnalysisPolicy, GuardrailKind, RolloutReason
from rollout.guardrails import MeasurementPhase, Round


@dataclass(frozen=True)
class Tally:
    """One guardrail's counts since the analysis began, and its latest round."""

    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    latest: Round | None = None


def tally(rounds: Iterable[Round]) -> dict[GuardrailKind, Tally]:
    """Counts per guardrail over ``rounds`` (in time order)."""
    counts: dict[GuardrailKind, Tally] = {}
    for r in rounds:
        t = counts.get(r.guardrail, Tally())
        if r.phase is MeasurementPhase.PENDING:
            counts[r.guardrail] = Tally(t.failed, t.inconclusive, t.errors, t.consecutive_errors, r)
            continue
        counts[r.guardrail] = Tally(
            failed=t.failed + (r.phase is MeasurementPhase.FAILED),
            inconclusive=t.inconclusive + (r.phase is MeasurementPhase.INCONCLUSIVE),
            errors=t.errors + (r.phase is MeasurementPhase.ERROR),
            consecutive_errors=t.consecutive_errors + 1 if r.phase is MeasurementPhase.ERROR else 0,
            latest=r)
    return counts


class Action(StrEnum):
    CONTINUE = "continue"  # stay on course: advance when ``ready``, else hold with ``reason``
    ROLLBACK = "rollback"
    PAUSE = "pause"


@dataclass(frozen=True)
class Verdict:
    action: Action
    ready: bool  # every guardrail's latest round passed or is pending: the stage may advance
    reason: RolloutReason
    message: str  # for a hold, words without figures: the status is not rewritten while the figures move
    culprits: tuple[Round, ...] = ()  # the rounds behind the decision: the figures the audit keeps


def _figures(r: Round) -> str:
    worst = r.worst
    return f"{worst.label} {worst.message}" if worst.message else worst.label


def _over(counts: dict[GuardrailKind, Tally], count: str, limit: int, *,
          rolling_back: bool = False) -> list[tuple[Tally, Round]]:
    """The guardrails (with their latest round) whose ``count`` is above ``limit``."""
    return [(t, t.latest) for k, t in counts.items()
            if t.latest is not None and getattr(t, count) > limit and (k.rolls_back or not rolling_back)]


def assess(rounds: Sequence[Round], policy: AnalysisPolicy) -> Verdict:
    """The decision the rounds since the analysis began call for."""
    counts = tally(rounds)
    breached = _over(counts, "failed", policy.failure_limit, rolling_back=True)
    if breached:
        t, latest = breached[0]
        return Verdict(Action.ROLLBACK, False, RolloutReason.GUARDRAIL_BREACHED,
                       f"{latest.guardrail} failed {t.failed} times (failure limit {policy.failure_limit}): "
                       f"{_figures(latest)}", tuple(r for _, r in breached))
    broken = _over(counts, "consecutive_errors", policy.consecutive_error_limit)
    if broken:
        t, latest = broken[0]
        return Verdict(Action.ROLLBACK, False, RolloutReason.METRIC_SOURCE_FAILED,
                       f"the metric source of {latest.guardrail} failed {t.consecutive_errors} times in a row "
                       f"(limit {policy.consecutive_error_limit}): {latest.worst.message}",
                       tuple(r for _, r in broken))
    doubtful = _over(counts, "inconclusive", policy.inconclusive_limit)
    if doubtful:
        t, latest = doubtful[0]
        return Verdict(Action.PAUSE, False, RolloutReason.INCONCLUSIVE,
                       f"{latest.guardrail} was inconclusive {t.inconclusive} times (limit "
                       f"{policy.inconclusive_limit}); paused for a person to resume, promote or roll back",
                       tuple(r for _, r in doubtful))
    return _readiness(counts, policy)


_HOLDS = (  # the latest phase that holds a stage, the reason, and how to say it; first match wins
    (MeasurementPhase.FAILED, RolloutReason.GUARDRAIL_FAILING, "failing (within the failure limit {limit})"),
    (MeasurementPhase.ERROR, RolloutReason.METRIC_SOURCE_FAILED, "without figures: its source failed"),
    (MeasurementPhase.INCONCLUSIVE, RolloutReason.INCONCLUSIVE, "inconclusive"),
)


def _readiness(counts: dict[GuardrailKind, Tally], policy: AnalysisPolicy) -> Verdict:
    drift = counts.get(GuardrailKind.INPUT_DRIFT)
    if drift and drift.latest and drift.latest.phase is MeasurementPhase.FAILED:
        return Verdict(Action.CONTINUE, False, RolloutReason.INPUT_DRIFT,
                       "input drift blocks promotion: the input has moved from the reference", (drift.latest,))
    for phase, reason, words in _HOLDS:
        holding = [t.latest for t in counts.values() if t.latest and t.latest.phase is phase]
        if holding:
            text = words.format(limit=policy.failure_limit)
            return Verdict(Action.CONTINUE, False, reason, f"holding: {holding[0].guardrail} {text}", tuple(holding))
    return Verdict(Action.CONTINUE, True, RolloutReason.BAKING, "every guardrail passed or is pending")
