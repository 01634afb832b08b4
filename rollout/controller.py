"""The rollout controller: reconcile the rollout state toward its plan; apply operator commands; persist once.

**Reconcile** is a list of idempotent steps (``STEPS``), each of which may say "not yet" and end the pass: serve the
right versions on Triton, stop unless a rollout runs, read the tag topics since the rollout began, measure the
guardrails when the interval has passed, act on the analysis (roll back, pause), stop while paused, wait for
passing guardrails, wait for the bake, wait for the gate, advance. The steps only collect intents (the next state, the
rounds measured, the figures behind a decision); ``_commit`` persists them once at the end: the state to the
``tagstream.rollout`` topic (acknowledged), then the rounds and the transition to the audit history. A state the
pass left unchanged is not written again.

A pass computes without the lock (a measurement may wait on Prometheus) and commits under it only if no operator
command changed the state meanwhile; otherwise its intents are dropped and the next pass starts afresh. Commands
(``start``, ``approve``, ``pause``, ``resume``, ``promote``, ``rollback``) take the lock, apply a pure transition
from ``rollout.state`` and commit at once, so a rollback never waits for a measurement.

**Versions on Triton.** The stable version is served always, the candidate while a rollout runs. A version the
rollout leaves (the candidate after a rollback, the old stable version after full) stays loaded for
``unload_grace_s`` before it is unloaded: taggers route each event when they read it, so events read just before the
change are still on their way to that version, and finish under the state they started with.

**Restart.** ``recover`` takes the state from the topic (the follower's latest) and the current stage's rounds from
the audit history, so the failure, inconclusive and error counts carry on where they were.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from contracts import (
    GuardrailKind,
    MetricSourceKind,
    RolloutPlan,
    RolloutReason,
    RolloutState,
)
from contracts.rolloutplan import Gate, Guardrail
from rollout import metrics
from rollout import state as machine
from rollout.analysis import Action, Verdict, assess
from rollout.audit import AuditLog, Transition
from rollout.errors import MetricSourceError, Refused, RolloutError, ServingError
from rollout.guardrails import Measurement, Reading, Round, measure
from rollout.serving import ModelServing
from rollout.sources.prometheus import PrometheusSource, QueryContext, query_of
from rollout.view import RolloutView, view

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: The controller's own name in the audit history.
CONTROLLER = "controller"
#: How often the versions Triton serves are checked again when nothing changed (a restarted Triton forgets).
SERVING_RECHECK_S = 15.0


def utcnow() -> datetime:
    return datetime.now(UTC)


class StatePublisher(Protocol):
    def publish(self, state: RolloutState) -> None: ...


class WindowSource(Protocol):
    def follow(self, stable: str, candidate: str, since: datetime) -> None: ...

    @property
    def caught_up(self) -> bool: ...

    def candidate_events(self, start: datetime) -> int: ...

    def reading(self, kind: GuardrailKind, guardrail: Guardrail, start: datetime) -> Reading: ...


@dataclass
class Pass:
    """One reconcile pass: what it started from and the intents it collected."""

    now: datetime
    begun: RolloutState
    state: RolloutState
    action: str = ""
    rounds: list[Round] = field(default_factory=list)
    figures: list[Measurement] = field(default_factory=list)
    verdict: Verdict | None = None
    waiting: str = ""  # why the pass stopped early ("" when it ran every step)

    def hold(self, reason: RolloutReason, message: str, action: str = "hold") -> bool:
        held = machine.hold(self.state, self.now, reason, message)
        if held is not self.state:
            self.state, self.action = held, action
        self.waiting = message
        return False


class Controller:
    def __init__(self, *, model: str, stable_version: str, publisher: StatePublisher, audit: AuditLog,
                 source: WindowSource, serving: ModelServing, prometheus: PrometheusSource | None = None,
                 clock: Clock = utcnow, unload_grace_s: float = 0.0) -> None:
        self.model = model
        self._publisher = publisher
        self._audit = audit
        self._source = source
        self._serving = serving
        self._prometheus = prometheus
        self._clock = clock
        self._lock = threading.RLock()
        self._state = machine.initial(model, stable_version, clock())
        self._rounds: list[Round] = []
        self._last_measured: datetime | None = None
        self._measure_now = False  # measure at the next pass whatever the interval (the bake just ended)
        self._baked: tuple[str, datetime | None, datetime] | None = None  # step, analysis start, bake done at
        self._served: set[str] | None = None
        self._served_checked: datetime | None = None
        self._unload_grace_s = unload_grace_s
        self._leaving: dict[str, datetime] = {}  # versions no longer wanted, still served, and since when
        self.last_pass: Pass | None = None

    # -- state ---------------------------------------------------------------------------------------------------

    @property
    def state(self) -> RolloutState:
        with self._lock:
            return self._state

    @property
    def rounds(self) -> list[Round]:
        """The current stage's rounds since its analysis began (or since the last resume)."""
        with self._lock:
            return list(self._rounds)

    @property
    def served(self) -> set[str] | None:
        return self._served

    def recover(self, state: RolloutState | None) -> None:
        """Resume from the topic's state (None: no rollout ever) and the audit history's rounds."""
        with self._lock:
            if state is None:
                self._publish_initial()
                return
            self._state = state
            status = state.status
            if machine.is_running(state) and status.analysis_since is not None:
                self._rounds = self._audit.rounds_since(self.model, state.spec.candidate_version or "", status.step,
                                                        status.analysis_since)
                self._last_measured = self._rounds[-1].time if self._rounds else None
            log.info("resumed %s at revision %d, stage %s %s (%d rounds of its analysis from the audit history)",
                     self.model, status.revision, status.stage, status.step, len(self._rounds))
            metrics.show_state(state)

    def _publish_initial(self) -> None:
        self._publisher.publish(self._state)
        metrics.show_state(self._state)
        log.info("no rollout state on the topic yet: wrote revision 0 (version %s serves everything)",
                 self._state.spec.stable_version)

    # -- reconcile -----------------------------------------------------------------------------------------------

    def reconcile(self) -> RolloutState:
        """One pass of every step; returns the state in force afterwards."""
        with self._lock:
            begun = self._state
        p = Pass(now=self._clock(), begun=begun, state=begun)
        for step in STEPS:
            if not step(self, p):
                break
        self.last_pass = p
        with self._lock:
            if self._state is not begun:
                log.debug("an operator command changed the state during the pass; its intents are dropped")
                return self._state
            if p.rounds:
                self._last_measured, self._measure_now = p.now, False
            self._commit(p.state, action=p.action or "reconcile", actor=CONTROLLER, figures=p.figures,
                         rounds=p.rounds, now=p.now)
            return self._state

    def _serve_versions(self, p: Pass) -> bool:
        spec = p.state.spec
        wanted = {spec.stable_version}
        if machine.is_running(p.state) and spec.candidate_version:
            wanted.add(spec.candidate_version)
        wanted |= self._still_leaving(wanted, p.now)
        stale = self._served_checked is None or (p.now - self._served_checked).total_seconds() > SERVING_RECHECK_S
        if wanted == self._served and not stale:
            return True
        try:
            served = self._serving.served()
            if not wanted <= served or (served - wanted and not machine.is_running(p.state)):
                self._serving.serve(wanted)
            self._served, self._served_checked = wanted, p.now
            return True
        except ServingError as e:
            metrics.SERVING_ERRORS.labels(self.model).inc()
            log.warning("Triton does not serve versions %s yet: %s", sorted(wanted), e)
            p.waiting = f"waiting for Triton to serve versions {', '.join(sorted(wanted))}"
            return not machine.is_running(p.state)  # an unload that failed blocks nothing: retried later

    def _still_leaving(self, wanted: set[str], now: datetime) -> set[str]:
        """The versions served until now that ``wanted`` drops, while their grace lasts."""
        for version in (self._served or set()) - wanted:
            self._leaving.setdefault(version, now)
        self._leaving = {v: since for v, since in self._leaving.items()
                         if v not in wanted and (now - since).total_seconds() < self._unload_grace_s}
        return set(self._leaving)

    def _running(self, p: Pass) -> bool:
        if not machine.is_running(p.state):
            p.waiting = "no rollout is running"
            return False
        return True

    def _read_window(self, p: Pass) -> bool:
        spec = p.state.spec
        self._source.follow(spec.stable_version, spec.candidate_version or "", spec.started_at or p.now)
        if not self._source.caught_up:
            p.waiting = "reading the tag topics since the rollout began"
            return False
        started = p.state.status.stage_started_at or p.now
        metrics.show_state(p.state, candidate_events=self._source.candidate_events(started),
                           time_in_stage_s=(p.now - started).total_seconds())
        return True

    def _measure(self, p: Pass) -> bool:
        plan = machine.plan_of(p.state)
        due = (self._measure_now or self._last_measured is None
               or (p.now - self._last_measured).total_seconds() >= plan.analysis.interval)
        if due:
            stage = machine.current_stage(p.state)
            guardrails = plan.guardrails_for(stage) if stage else {}
            p.rounds = measure(guardrails, lambda kind, g: self._probe(p, kind, g), p.now)
        rounds = [*self._rounds, *p.rounds]
        p.verdict = assess(rounds, plan.analysis)
        return True

    def _probe(self, p: Pass, kind: GuardrailKind, guardrail: Guardrail) -> Reading:
        status, spec = p.state.status, p.state.spec
        start = status.stage_started_at or p.now
        if guardrail.source is MetricSourceKind.PROMETHEUS:
            if self._prometheus is None:
                raise MetricSourceError(f"guardrail {kind} reads Prometheus and no TAGSTREAM_PROMETHEUS_URL is set")
            context = QueryContext(model=spec.model, stable=spec.stable_version,
                                   candidate=spec.candidate_version or "", window_s=(p.now - start).total_seconds())
            return self._prometheus.reading(kind, guardrail, context)
        return self._source.reading(kind, guardrail, start)

    def _act_on_analysis(self, p: Pass) -> bool:
        verdict = p.verdict
        if verdict is None:
            return True
        if verdict.action is Action.ROLLBACK:
            p.state = machine.rollback(p.state, p.now, reason=verdict.reason, message=verdict.message)
            p.action, p.figures = "rollback", _figures(verdict)
            return False
        if verdict.action is Action.PAUSE and not p.state.status.paused:
            p.state = machine.pause(p.state, p.now, actor=CONTROLLER, reason=verdict.reason, message=verdict.message)
            p.action, p.figures = "pause", _figures(verdict)
            return False
        return True

    def _unless_paused(self, p: Pass) -> bool:
        if p.state.status.paused:
            p.waiting = "paused: `tagstream rollout resume` continues"
            return False
        return True

    def _bake(self, p: Pass) -> bool:
        stage = machine.current_stage(p.state)
        started = p.state.status.stage_started_at
        if stage is None or started is None:
            return False
        events = self._source.candidate_events(started)
        if (p.now - started).total_seconds() < stage.bake.time or events < stage.bake.events:
            return p.hold(RolloutReason.BAKING, f"baking: {stage.name} needs {stage.bake.time:g} s and "
                                                f"{stage.bake.events} candidate events")
        # The gate opens on a measurement of the whole bake, never on one taken before the bake ended (a guardrail
        # still short of its samples then would let the stage pass unjudged).
        status = p.state.status
        if self._baked is None or self._baked[:2] != (status.step, status.analysis_since):
            self._baked = (status.step, status.analysis_since, p.now)
        measured = p.now if p.rounds else self._last_measured
        if measured is None or measured < self._baked[2]:
            self._measure_now = True
            p.waiting = f"{stage.name} baked: measuring every guardrail once more before its gate"
            return False
        return True

    def _guardrails_pass(self, p: Pass) -> bool:
        verdict = p.verdict
        if verdict is not None and not verdict.ready:
            held = p.hold(verdict.reason, verdict.message)
            if p.action:
                p.figures = _figures(verdict)
            return held
        return True

    def _gate(self, p: Pass) -> bool:
        stage = machine.current_stage(p.state)
        if stage is not None and stage.gate is Gate.MANUAL and not p.state.status.approved:
            waiting = machine.await_approval(p.state, p.now)
            if waiting is not p.state:
                p.state, p.action = waiting, "await_approval"
            p.waiting = waiting.status.message
            return False
        return True

    def _advance(self, p: Pass) -> bool:
        last = [r.worst for r in [*self._rounds, *p.rounds][-10:]]
        p.state = machine.advance(p.state, p.now)
        p.action = "complete" if not machine.is_running(p.state) else "advance"
        p.figures = last
        return True

    # -- commands ------------------------------------------------------------------------------------------------

    def start(self, candidate: str, plan: RolloutPlan, *, actor: str, plan_name: str | None = None) -> RolloutState:
        with self._lock:
            now = self._clock()
            started = machine.start(self._state, candidate=candidate, plan=plan, now=now, actor=actor,
                                    plan_name=plan_name)
            self._check_sources(plan)
            wanted = {started.spec.stable_version, candidate} | set(self._leaving)
            try:
                self._serving.serve(wanted)
            except ServingError as e:
                metrics.SERVING_ERRORS.labels(self.model).inc()
                raise RolloutError(f"Triton could not load version {candidate}, so nothing started: {e.message}",
                                   code="candidate_not_served", hint=e.hint or "export the version into the "
                                   "model repository (tagstream model export), then start again") from e
            # the stage (its bake and its guardrails' window) begins once the candidate is served, not before
            now = self._clock()
            started = machine.start(self._state, candidate=candidate, plan=plan, now=now, actor=actor,
                                    plan_name=plan_name)
            self._served, self._served_checked = wanted, now
            return self._commit(started, action="start", actor=actor, now=now)

    def _check_sources(self, plan: RolloutPlan) -> None:
        for stage in plan.stages:
            for kind, guardrail in plan.guardrails_for(stage).items():
                if guardrail.source is not MetricSourceKind.PROMETHEUS:
                    continue
                if self._prometheus is None:
                    raise Refused(f"plan {plan.name}: guardrail {kind} reads Prometheus, and this controller has no "
                                  "Prometheus", code="no_prometheus", hint="set TAGSTREAM_PROMETHEUS_URL")
                if query_of(kind, guardrail) is None:
                    raise Refused(f"plan {plan.name}: guardrail {kind} reads Prometheus and has no query (there is "
                                  "no default for it)", code="no_query", field="query")

    def approve(self, *, actor: str) -> RolloutState:
        return self._command("approve", actor, lambda s, now: machine.approve(s, now, actor=actor))

    def pause(self, *, actor: str) -> RolloutState:
        return self._command("pause", actor, lambda s, now: machine.pause(s, now, actor=actor))

    def resume(self, *, actor: str) -> RolloutState:
        return self._command("resume", actor, lambda s, now: machine.resume(s, now, actor=actor))

    def promote(self, *, actor: str) -> RolloutState:
        return self._command("promote", actor, lambda s, now: machine.promote(s, now, actor=actor))

    def rollback(self, *, actor: str, reason: str) -> RolloutState:
        message = f"rolled back by {actor or 'an operator'}: {reason}"
        return self._command("rollback", actor, lambda s, now: machine.rollback(s, now, message=message[:2000]))

    def _command(self, action: str, actor: str,
                 transition: Callable[[RolloutState, datetime], RolloutState]) -> RolloutState:
        with self._lock:
            now = self._clock()
            return self._commit(transition(self._state, now), action=action, actor=actor, now=now)

    # -- persistence ---------------------------------------------------------------------------------------------

    def _commit(self, state: RolloutState, *, action: str, actor: str, now: datetime,
                figures: list[Measurement] | None = None, rounds: list[Round] | None = None) -> RolloutState:
        """Persist a pass's or a command's intents once: state to the topic, then rounds and transition to the audit.

        Nothing is written when nothing changed. A failed publish raises (commands) and leaves everything as it was.
        """
        before = self._state
        if state is not before:
            self._publisher.publish(state)
        if rounds:
            self._audit.record_rounds(self.model, before.spec.candidate_version or "", before.status.step, rounds)
            metrics.show_rounds(self.model, rounds)
            self._rounds.extend(rounds)
        if state is before:
            return before
        self._state = state
        self._audit.record(Transition(time=now, model=self.model, revision=state.status.revision, actor=actor,
                                      action=action, reason=state.status.reason.value, from_step=before.status.step,
                                      to_step=state.status.step, stable=state.spec.stable_version,
                                      candidate=state.spec.candidate_version or before.spec.candidate_version or "",
                                      message=state.status.message, figures=figures or []))
        metrics.TRANSITIONS.labels(self.model, action, state.status.reason.value).inc()
        metrics.show_state(state)
        if (state.status.step, state.status.analysis_since) != (before.status.step, before.status.analysis_since):
            self._rounds, self._last_measured = [], None
        log.info("%s %s: %s -> %s (revision %d, %s): %s", actor, action, before.status.step or before.status.stage,
                 state.status.step or state.status.stage, state.status.revision, state.status.reason,
                 state.status.message)
        return state

    # -- reading ------------------------------------------------------------------------------------------------

    def view(self) -> RolloutView:
        with self._lock:
            state, rounds = self._state, list(self._rounds)
        last = self.last_pass
        waiting = last.waiting if last is not None and last.begun.status.revision == state.status.revision else ""
        return view(state, now=self._clock(), rounds=rounds, candidate_events=self.candidate_events(),
                    served=self._served, waiting=waiting)

    def history(self, *, limit: int | None = None) -> list[Transition]:
        return self._audit.transitions(self.model, limit=limit)

    def candidate_events(self) -> int | None:
        started = self.state.status.stage_started_at
        return self._source.candidate_events(started) if started and machine.is_running(self.state) else None


def _figures(verdict: Verdict) -> list[Measurement]:
    return [m for r in verdict.culprits for m in r.measurements]


#: The reconcile steps, in order; each returns False to end the pass ("not yet", or nothing more to do).
STEPS: tuple[Callable[[Controller, Pass], bool], ...] = (
    Controller._serve_versions,
    Controller._running,
    Controller._read_window,
    Controller._measure,
    Controller._act_on_analysis,
    Controller._unless_paused,
    Controller._guardrails_pass,
    Controller._bake,
    Controller._gate,
    Controller._advance,
)
