"""``tagstream bench rollout``: how fast every tagger routes to stable after a guardrail breach, and after ``rollback``.

A private stack (broker, Triton, the controller and two taggers) serves a repository with two candidates beside
version 1: version 2, version 1 with every head scrambled (a drill), and version 3, an honest copy. Synthetic
traffic flows at ``rate`` events a second throughout. Each trial starts a rollout straight into canary with the quick
plan's guardrails and analysis (a measurement a second, rolled back on the second failure):

- **breach**: candidate 2. From the first measurement that found a guardrail over its max (the audit history's
  round) to the moment the last tagger began routing new events by the rolled-back state;
- **rollback**: candidate 3, once it serves its canary share. From just before ``POST .../rollback`` to the same.

"Routing by" is what each tagger says of itself on ``/metrics``: ``tagstream_router_revision`` and
``tagstream_router_revision_applied_timestamp_seconds``, the Unix time at which its router swapped to that revision
(every event routed after that moment goes to stable). The controller's own view is not used. Every process runs on
this machine, so the clocks are one.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from model.drill import copy_candidate, drill_candidate
from model.tritonconfig import DEFAULT_REPOSITORY
from modelspec.tensors import MODEL_NAME
from rollout.audit import AuditLog
from rollout.guardrails import MeasurementPhase
from rollout.plan import load_plan, plan_from_step, plan_path
from tools.cli.scrape import Routing, routing
from tools.stack import LocalStack
from tools.stack.clients import rollout_client
from tools.stack.ports import private_settings
from tools.traffic.produce import produce
from tools.traffic.synthetic import generate

log = logging.getLogger(__name__)

BAD, GOOD = "2", "3"
#: Consumer-group timings that make a group join take seconds (see the README's quirks).
GROUP_ENV = {"TAGSTREAM_SESSION_TIMEOUT_MS": "6000", "TAGSTREAM_HEARTBEAT_INTERVAL_MS": "2000"}
FIRST_STEP = "canary-10"


@dataclass
class RolloutFigures:
    taggers: int
    rate: float
    interval_s: float
    failure_limit: int
    breach_to_stable: list[float] = field(default_factory=list)
    breach_to_decision: list[float] = field(default_factory=list)
    rollback_to_stable: list[float] = field(default_factory=list)

    @property
    def breach_to_stable_s(self) -> float:
        return statistics.median(self.breach_to_stable)

    @property
    def rollback_to_stable_s(self) -> float:
        return statistics.median(self.rollback_to_stable)

    @property
    def decision_to_stable(self) -> list[float]:
        return [total - decided for total, decided in zip(self.breach_to_stable, self.breach_to_decision, strict=True)]

    def as_dict(self) -> dict[str, Any]:
        return {**{k: v for k, v in asdict(self).items() if not isinstance(v, list)},
                "breach_to_stable_s": round(self.breach_to_stable_s, 3),
                "breach_to_stable_max_s": round(max(self.breach_to_stable), 3),
                "rollback_to_stable_s": round(self.rollback_to_stable_s, 3),
                "rollback_to_stable_max_s": round(max(self.rollback_to_stable), 3),
                "breach_to_decision_s": round(statistics.median(self.breach_to_decision), 3),
                "decision_to_stable_s": round(statistics.median(self.decision_to_stable), 3),
                "trials": {"breach_to_stable_s": [round(v, 3) for v in self.breach_to_stable],
                           "breach_to_decision_s": [round(v, 3) for v in self.breach_to_decision],
                           "rollback_to_stable_s": [round(v, 3) for v in self.rollback_to_stable]}}


def repository(folder: Path) -> Path:
    repo = folder / "repository"
    shutil.copytree(DEFAULT_REPOSITORY, repo)
    drill_candidate(repo, version=int(BAD), source=1)
    copy_candidate(repo, version=int(GOOD), source=1)
    return repo


class _Traffic:
    def __init__(self, stack: LocalStack, rate: float) -> None:
        self._stack, self._rate = stack, rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="traffic", daemon=True)

    def _run(self) -> None:
        records = itertools.takewhile(lambda _: not self._stop.is_set(), generate(10_000_000, seed=11))
        produce(self._stack.kafka_settings(), records, rate=self._rate, progress=False)

    def __enter__(self) -> _Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _wait(check: Callable[[], Any], what: str, timeout_s: float = 120.0, every_s: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(every_s)


class _Bench:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        settings = stack.settings
        self.api = rollout_client(settings)
        self.urls = [f"{stack.tagger_metrics_url(i)}/metrics" for i in range(settings.taggers)]
        self.plan = plan_from_step("quick", FIRST_STEP)

    def status(self) -> dict[str, Any]:
        return dict(self.api.get()["state"]["status"])

    def rolled_back(self) -> dict[str, Any] | None:
        status = self.status()
        return status if status["stage"] == "rolled_back" else None

    def start(self, candidate: str) -> dict[str, Any]:
        return dict(self.api.post("/start", {"candidate": candidate, "plan": self.plan, "plan_name": "bench",
                                             "actor": "tagstream bench rollout"})["status"])

    def taggers_by(self, revision: int) -> list[Routing] | None:
        """Every tagger's routing once all of them route by ``revision`` or later; None before."""
        found = [routing(url, timeout_s=0.5) for url in self.urls]
        if all(r is not None and r.revision >= revision for r in found):
            return [r for r in found if r is not None]
        return None

    def settle(self) -> None:
        """Between trials: no rollout running, and every tagger routing by the state in force."""
        revision = self.status()["revision"]
        _wait(lambda: self.taggers_by(revision), f"every tagger to route by revision {revision}")

    def breach(self) -> tuple[float, float]:
        """(first failed measurement -> every tagger on stable, first failed measurement -> rollback decided)."""
        self.settle()
        started = self.start(BAD)
        since = datetime.fromisoformat(started["time"])
        done = _wait(self.rolled_back, "the drill to be rolled back")
        switched = max(r.since for r in _wait(lambda: self.taggers_by(done["revision"]), "the taggers"))
        audit = AuditLog(self.stack.settings.state_dir / "rollout" / "audit.sqlite")
        try:
            rounds = audit.rounds_since(MODEL_NAME, BAD, FIRST_STEP, since)
        finally:
            audit.close()
        failed = [r.time.timestamp() for r in rounds if r.phase is MeasurementPhase.FAILED]
        if not failed:
            raise TimeoutError(f"the drill was rolled back without a failed measurement: {done['message']}")
        decided = datetime.fromisoformat(done["time"]).timestamp()
        return switched - min(failed), decided - min(failed)

    def rollback(self) -> float:
        """``POST rollback`` -> every tagger on stable, with the good candidate serving its canary share."""
        self.settle()
        started = self.start(GOOD)
        _wait(lambda: self.taggers_by(started["revision"]), "the taggers to route the canary")
        time.sleep(1.0)  # the candidate serves its share for a moment
        asked = time.time()
        done = self.api.post("/rollback", {"actor": "tagstream bench rollout", "reason": "bench"})
        switched = max(r.since for r in _wait(lambda: self.taggers_by(done["status"]["revision"]), "the taggers"))
        return switched - asked


def run(*, trials: int = 5, rate: float = 100.0, taggers: int = 2, progress: bool = True) -> RolloutFigures:
    plan = load_plan(plan_path("quick"))
    figures = RolloutFigures(taggers=taggers, rate=rate, interval_s=plan.analysis.interval,
                             failure_limit=plan.analysis.failure_limit)
    say: Callable[[str], None] = (lambda text: print(text, file=sys.stderr, flush=True)) if progress else (
        lambda _text: None)
    with tempfile.TemporaryDirectory(prefix="tagstream-bench-rollout-") as tmp:
        folder = Path(tmp)
        repo = repository(folder)
        settings = private_settings(folder / "stack", taggers=taggers, controller=True, tagger_env=dict(GROUP_ENV),
                                    ready_timeout_s=120.0, model_repository=repo)
        with LocalStack(settings) as stack:
            say(f"starting a private stack: {', '.join(stack.components)}")
            stack.start()
            bench = _Bench(stack)
            with _Traffic(stack, rate):
                for trial in range(1, trials + 1):
                    to_stable, to_decision = bench.breach()
                    figures.breach_to_stable.append(to_stable)
                    figures.breach_to_decision.append(to_decision)
                    to_stable_after_rollback = bench.rollback()
                    figures.rollback_to_stable.append(to_stable_after_rollback)
                    say(f"trial {trial}/{trials}: breach -> stable {to_stable:.2f} s (decided after {to_decision:.2f} "
                        f"s), rollback -> stable {to_stable_after_rollback:.3f} s")
    return figures
