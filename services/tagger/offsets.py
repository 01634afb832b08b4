"""Which offsets may be committed: only those whose output the broker has acknowledged.

Work on a partition finishes out of order (decode and inference run in parallel), so the
committable offset of a partition is the lowest offset still pending, or one past the highest
offset seen when nothing is pending. An offset is marked done only from a producer
acknowledgement callback (the tag, the review copy and the dead letter alike), so a commit
never runs ahead of output that could still be lost; a crash re-delivers, never drops.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from kafka import TopicPartition


class OffsetTracker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[TopicPartition, set[int]] = {}
        self._next: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._done_changed = threading.Condition(self._lock)

    def track(self, tp: TopicPartition, offset: int) -> None:
        """An offset has been read and its work started."""
        with self._lock:
            self._pending.setdefault(tp, set()).add(offset)
            self._next[tp] = max(self._next.get(tp, 0), offset + 1)

    def done(self, tp: TopicPartition, offset: int) -> None:
        """The output for this offset is acknowledged (unknown partitions, e.g. revoked ones, are ignored)."""
        with self._lock:
            pending = self._pending.get(tp)
            if pending is not None:
                pending.discard(offset)
                self._done_changed.notify_all()

    def in_flight(self) -> int:
        with self._lock:
            return sum(len(p) for p in self._pending.values())

    def wait_drained(self, timeout_s: float) -> bool:
        """Block until nothing is pending; False if the timeout passed first."""
        with self._lock:
            return self._done_changed.wait_for(lambda: not any(self._pending.values()), timeout=timeout_s)

    def committable(self) -> dict[TopicPartition, int]:
        """Offsets to commit now: per partition, the next offset to read after a restart, if it moved."""
        with self._lock:
            result = {}
            for tp, nxt in self._next.items():
                pending = self._pending.get(tp)
                offset = min(pending) if pending else nxt
                if offset > self._committed.get(tp, -1):
                    result[tp] = offset
            return result

    def mark_committed(self, offsets: dict[TopicPartition, int]) -> None:
        with self._lock:
            for tp, offset in offsets.items():
                if tp in self._next:
                    self._committed[tp] = max(self._committed.get(tp, -1), offset)

    def committed(self) -> dict[TopicPartition, int]:
        with self._lock:
            return dict(self._committed)

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Stop tracking partitions this process no longer owns; late acknowledgements are then ignored."""
        with self._lock:
            for tp in partitions:
                self._pending.pop(tp, None)
                self._next.pop(tp, None)
                self._committed.pop(tp, None)
            self._done_changed.notify_all()
