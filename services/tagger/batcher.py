"""Micro-batching: gather ready items into batches of at most ``max_size``, waiting at most ``max_wait_s``."""

from __future__ import annotations

import queue
import time
from typing import Generic, TypeVar

T = TypeVar("T")


class MicroBatcher(Generic[T]):
    """A bounded queue with a batch view.

    ``put`` blocks when the queue is full, which pushes back on the stages before it.
    ``next_batch`` waits up to ``idle_timeout_s`` for a first item, then returns as soon as the
    batch is full or ``max_wait_s`` has passed since that first item arrived (``time.monotonic``).
    Several consumers may call ``next_batch`` at once; each item goes to exactly one batch.
    """

    def __init__(self, *, max_size: int, max_wait_s: float, capacity: int) -> None:
        if max_size < 1:
            raise ValueError("max_size must be at least 1")
        self.max_size = max_size
        self.max_wait_s = max_wait_s
        self._queue: queue.Queue[T] = queue.Queue(maxsize=capacity)

    def put(self, item: T, timeout_s: float | None = None) -> None:
        self._queue.put(item, timeout=timeout_s)

    def qsize(self) -> int:
        return self._queue.qsize()

    def next_batch(self, idle_timeout_s: float = 0.1) -> list[T]:
        try:
            batch = [self._queue.get(timeout=idle_timeout_s)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_size:
            try:
                batch.append(self._queue.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch
