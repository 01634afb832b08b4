"""Which offsets may be committed: only those whose output the broker has acknowledged.

Work on a partition finishes out of order (decode and inference run in parallel), so the
committable offset of a partition is the lowest offset still pending, or one past the highest
offset seen when nothing is pending. An offset is marked done only from a producer
acknowledgement callback (the tag, the review copy and the dead letter alike), so a commit
never runs ahead of output that could still be lost; a crash re-delivers, never drops.

Each assignment of a partition has its own epoch. When a rebalance takes a partition away, its
pending offsets are forgotten and its epoch ends: a late acknowledgement from the old epoch is
ignored, even when the same partition comes back and the same offset is read again.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable

from kafka import TopicPartition


class OffsetTracker:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done_changed = threading.Condition(self._lock)
        self._epochs = itertools.count(1)
        self._epoch: dict[TopicPartition, int] = {}
        self._pending: dict[TopicPartition, set[int]] = {}
        self._next: dict[TopicPartition, int] = {}
        self._committed: dict[TopicPartition, int] = {}

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions this process now owns, each in a new epoch (whatever it held of them before is gone)."""
        with self._lock:
            for tp in partitions:
                self._drop(tp)
                self._epoch[tp] = next(self._epochs)

    def epoch(self, tp: TopicPartition) -> int:
        """The epoch of the current assignment of ``tp`` (a partition read without an assignment gets one)."""
        with self._lock:
            if tp not in self._epoch:
                self._epoch[tp] = next(self._epochs)
            return self._epoch[tp]

    def owns(self, tp: TopicPartition, epoch: int) -> bool:
        """Whether work read in ``epoch`` still belongs to this process."""
        with self._lock:
            return self._epoch.get(tp) == epoch

    def track(self, tp: TopicPartition, offset: int, epoch: int) -> None:
        """An offset has been read and its work started."""
        with self._lock:
            if self._epoch.get(tp) != epoch:
                return
            self._pending.setdefault(tp, set()).add(offset)
            self._next[tp] = max(self._next.get(tp, 0), offset + 1)

    def done(self, tp: TopicPartition, offset: int, epoch: int) -> None:
        """The output for this offset is acknowledged (offsets of an ended epoch are ignored)."""
        with self._lock:
            pending = self._pending.get(tp)
            if pending is not None and self._epoch.get(tp) == epoch:
                pending.discard(offset)
                self._done_changed.notify_all()

    def in_flight(self, partitions: Iterable[TopicPartition] | None = None) -> int:
        with self._lock:
            return self._count(partitions)

    def wait_drained(self, timeout_s: float, partitions: Iterable[TopicPartition] | None = None) -> bool:
        """Block until nothing (of ``partitions``, default all) is pending; False if the timeout passed first."""
        chosen = None if partitions is None else list(partitions)
        with self._lock:
            return self._done_changed.wait_for(lambda: self._count(chosen) == 0, timeout=timeout_s)

    def committable(self, partitions: Iterable[TopicPartition] | None = None) -> dict[TopicPartition, int]:
        """Offsets to commit now: per partition, the next offset to read after a restart, if it moved."""
        with self._lock:
            chosen = self._next.keys() if partitions is None else [tp for tp in partitions if tp in self._next]
            result = {}
            for tp in chosen:
                pending = self._pending.get(tp)
                offset = min(pending) if pending else self._next[tp]
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
        """Stop tracking partitions this process no longer owns; their epoch ends."""
        with self._lock:
            for tp in partitions:
                self._drop(tp)
                self._epoch.pop(tp, None)
            self._done_changed.notify_all()

    def _drop(self, tp: TopicPartition) -> None:
        self._pending.pop(tp, None)
        self._next.pop(tp, None)
        self._committed.pop(tp, None)

    def _count(self, partitions: Iterable[TopicPartition] | None) -> int:
        if partitions is None:
            return sum(len(p) for p in self._pending.values())
        return sum(len(self._pending.get(tp, ())) for tp in partitions)
