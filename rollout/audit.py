"""The append-only audit history of rollouts, in SQLite: every transition (who, why, when, the figures behind it)
and every round of measurements.

Rows are only ever inserted: triggers refuse an UPDATE or DELETE, so the history cannot be rewritten through this
file's connection or any other. The rounds since a stage's analysis began are read back when a controller restarts
mid-rollout, so the failure, inconclusive and error counts carry on where they were.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rollout.guardrails import Measurement, Round

_SCHEMA = """
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    model TEXT NOT NULL,
    revision INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    reason TEXT NOT NULL,
    from_step TEXT NOT NULL,
    to_step TEXT NOT NULL,
    stable TEXT NOT NULL,
    candidate TEXT NOT NULL,
    message TEXT NOT NULL,
    figures TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS rounds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    model TEXT NOT NULL,
    candidate TEXT NOT NULL,
    step TEXT NOT NULL,
    guardrail TEXT NOT NULL,
    phase TEXT NOT NULL,
    measurements TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rounds_by_stage ON rounds (model, candidate, step, time);
CREATE TRIGGER IF NOT EXISTS transitions_append_only_update BEFORE UPDATE ON transitions
    BEGIN SELECT RAISE(ABORT, 'the audit history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS transitions_append_only_delete BEFORE DELETE ON transitions
    BEGIN SELECT RAISE(ABORT, 'the audit history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS rounds_append_only_update BEFORE UPDATE ON rounds
    BEGIN SELECT RAISE(ABORT, 'the audit history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS rounds_append_only_delete BEFORE DELETE ON rounds
    BEGIN SELECT RAISE(ABORT, 'the audit history is append-only'); END;
"""


def _stamp(time: datetime) -> str:
    """UTC, always with microseconds: such texts sort as the times do."""
    return time.astimezone(UTC).isoformat(timespec="microseconds")


class Transition(BaseModel):
    """One change of a rollout's state, as the audit history keeps it."""

    model_config = ConfigDict(frozen=True)

    time: datetime
    model: str
    revision: int
    actor: str = Field(description="who: `controller` for automatic decisions, else the operator as declared")
    action: str = Field(description="start, advance, complete, hold, approve, pause, resume, promote, rollback")
    reason: str = Field(description="the RolloutReason constant")
    from_step: str
    to_step: str
    stable: str
    candidate: str
    message: str
    figures: list[Measurement] = Field(default_factory=list, description="the measurements behind the decision")


class AuditLog:
    """One SQLite file; safe to share between the controller's threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def record(self, transition: Transition) -> None:
        figures = json.dumps([m.model_dump(mode="json") for m in transition.figures])
        row = (_stamp(transition.time), transition.model, transition.revision, transition.actor, transition.action,
               transition.reason, transition.from_step, transition.to_step, transition.stable, transition.candidate,
               transition.message, figures)
        with self._lock:
            self._db.execute("INSERT INTO transitions (time, model, revision, actor, action, reason, from_step, "
                             "to_step, stable, candidate, message, figures) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)

    def record_rounds(self, model: str, candidate: str, step: str, rounds: list[Round]) -> None:
        rows = [(_stamp(r.time), model, candidate, step, r.guardrail.value, r.phase.value,
                 json.dumps([m.model_dump(mode="json") for m in r.measurements])) for r in rounds]
        with self._lock:
            self._db.executemany("INSERT INTO rounds (time, model, candidate, step, guardrail, phase, measurements) "
                                 "VALUES (?,?,?,?,?,?,?)", rows)

    def transitions(self, model: str, *, limit: int | None = None) -> list[Transition]:
        """The history of ``model``, oldest first (the last ``limit`` transitions when given)."""
        query = "SELECT * FROM transitions WHERE model = ? ORDER BY id DESC"
        params: tuple[Any, ...] = (model,)
        if limit is not None:
            query += " LIMIT ?"
            params = (model, limit)
        with self._lock:
            cursor = self._db.execute(query, params)
            names = [c[0] for c in cursor.description]
            rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        return [Transition.model_validate({**row, "figures": json.loads(row["figures"])}) for row in reversed(rows)]

    def rounds_since(self, model: str, candidate: str, step: str, since: datetime) -> list[Round]:
        """The rounds of one stage of one rollout from ``since`` on, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT time, guardrail, phase, measurements FROM rounds WHERE model = ? AND "
                                    "candidate = ? AND step = ? AND time >= ? ORDER BY id",
                                    (model, candidate, step, _stamp(since))).fetchall()
        return [Round.model_validate({"time": time, "guardrail": guardrail, "phase": phase,
                                      "measurements": json.loads(measurements)})
                for time, guardrail, phase, measurements in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
