"""The audit history: append-only, read back in order, rounds of a stage recovered after a restart."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from contracts import Guardrail, GuardrailKind
from rollout.audit import AuditLog, Transition
from rollout.guardrails import Figure, MeasurementPhase, judge
from tests.rollout.factories import at


def transition(i: int, **changes: object) -> Transition:
    fields: dict[str, object] = {"time": at(i), "model": "catalog_tagger", "revision": i, "actor": "controller",
                                 "action": "advance", "reason": "StageAdvanced", "from_step": "shadow",
                                 "to_step": "pilot", "stable": "1", "candidate": "2", "message": f"step {i}"}
    return Transition.model_validate({**fields, **changes})


def test_transitions_come_back_in_order_with_their_figures(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite")
    r = judge(GuardrailKind.DISAGREEMENT, Guardrail(max=0.3), {"fabric": Figure(0.8, 50)}, at(0))
    log.record(transition(1, figures=r.measurements, action="rollback", actor="ana"))
    log.record(transition(2))
    log.record(transition(3, model="other"))
    history = log.transitions("catalog_tagger")
    assert [t.revision for t in history] == [1, 2]
    assert history[0].figures[0].attribute == "fabric" and history[0].figures[0].value == 0.8
    assert history[0].actor == "ana" and history[0].time == at(1)
    assert [t.revision for t in log.transitions("catalog_tagger", limit=1)] == [2]


def test_the_history_cannot_be_rewritten(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit.sqlite")
    log.record(transition(1))
    log.record_rounds("catalog_tagger", "2", "shadow",
                      [judge(GuardrailKind.ERROR_RATE, Guardrail(max=0.1), {"": Figure(0.0, 10)}, at(1))])
    log.close()
    other = sqlite3.connect(tmp_path / "audit.sqlite")
    for statement in ("UPDATE transitions SET actor = 'someone else'", "DELETE FROM transitions",
                      "UPDATE rounds SET phase = 'passed'", "DELETE FROM rounds"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            other.execute(statement)
    assert AuditLog(tmp_path / "audit.sqlite").transitions("catalog_tagger")[0].actor == "controller"


def test_a_stages_rounds_are_read_back_from_a_time_on(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite"
    log = AuditLog(path)
    guardrail = Guardrail(max=0.3, min_samples=1)
    for i, value in enumerate([0.1, 0.9, 0.5]):
        log.record_rounds("catalog_tagger", "2", "canary-10",
                          [judge(GuardrailKind.DISAGREEMENT, guardrail, {"fabric": Figure(value, 10)}, at(i))])
    log.record_rounds("catalog_tagger", "2", "pilot",
                      [judge(GuardrailKind.DISAGREEMENT, guardrail, {"fabric": Figure(0.9, 10)}, at(5))])
    log.close()
    rounds = AuditLog(path).rounds_since("catalog_tagger", "2", "canary-10", at(1))
    assert [r.phase for r in rounds] == [MeasurementPhase.FAILED, MeasurementPhase.FAILED]
    assert rounds[0].time == at(1) and rounds[0].measurements[0].value == 0.9
