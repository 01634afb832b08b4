"""``StackState``: the stack's record on disk (``stack.json``), changed only under the state directory's lock.

Every change reads the record afresh under the lock, lets the caller change it, and saves it (or deletes
it once nothing runs and nothing waits for a restart), so ``up``, ``restart``, ``down`` and the keeper,
each in its own process, never undo each other's work. Reading needs no lock: the file is replaced
atomically.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from tools.stack.lock import stack_lock
from tools.stack.record import RecordedProcess, Restarts, StackRecord
from tools.stack.settings import StackSettings


class StackState:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state directory's lock (re-entrant): no other command or keeper changes the stack."""
        with stack_lock(self.settings.state_dir):
            yield

    def load(self) -> StackRecord | None:
        return StackRecord.load(self.settings.record_path)

    @contextlib.contextmanager
    def editing(self) -> Iterator[StackRecord]:
        """Read the record afresh under the lock, let the block change it, then save it (or delete it if empty)."""
        with self.locked():
            record = self.load() or StackRecord(settings=self.settings.model_dump(mode="json"))
            yield record
            if record.empty:
                self.settings.record_path.unlink(missing_ok=True)
            else:
                record.save(self.settings.record_path)

    def remember(self, name: str, entry: RecordedProcess) -> None:
        with self.editing() as record:
            record.components[name] = entry

    def forget(self, name: str) -> None:
        with self.editing() as record:
            record.components.pop(name, None)

    def restarts(self, name: str, record: StackRecord | None = None) -> Restarts:
        """What the keeper knows about ``name`` (from ``record``, or read afresh)."""
        record = record if record is not None else self.load()
        return (record.restarts.get(name) if record is not None else None) or Restarts()

    def set_restarts(self, name: str, restarts: Restarts) -> None:
        with self.editing() as record:
            record.restarts[name] = restarts

    def reset_backoff(self, name: str) -> None:
        """An operator started ``name`` (``up``, ``restart``): its next crash waits the shortest time again."""
        current = self.restarts(name)
        if current.failures or current.retry_at is not None:
            self.set_restarts(name, Restarts(count=current.count, last_exit=current.last_exit,
                                             last_failure_at=current.last_failure_at))
