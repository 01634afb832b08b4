"""Which reviewer holds which item, and which offsets of the review topic may be committed.

Invariants, guarded by one lock:

- an item is held by at most one reviewer at a time: ``lease`` hands out only items nobody holds, or whose
  lease expired (the item then goes to the new reviewer, and the old lease is lost);
- the committable offset of a partition never passes an item that is not decided: it is the lowest offset
  still pending (read, not yet decided and acknowledged), or one past the highest offset read. Items are
  decided out of order (several reviewers, leases that expire), so offsets decided above that point are kept
  in ``decided_above`` until the commit catches up; a restart re-delivers everything from the commit on,
  so an item being reviewed when the console stops comes back, never lost.

The clock is injectable, so the lease timeout is tested without waiting.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from contracts import ReviewItem
from services.review.errors import LeaseLost


@dataclass(frozen=True, order=True)
class Position:
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"[{self.partition}]@{self.offset}"


@dataclass(frozen=True)
class Lease:
    id: str
    reviewer: str
    position: Position
    expires_at: float


@dataclass
class _Entry:
    position: Position
    item: ReviewItem
    lease: Lease | None = None
    deciding: bool = False  # a decision is being published: not to be handed out, even if the lease expired


@dataclass
class _Partition:
    pending: set[int] = field(default_factory=set)
    next: int = 0
    committed: int = -1


class LeaseBook:
    def __init__(self, timeout_s: float, *, clock: Callable[[], float] = time.monotonic,
                 on_expired: Callable[[], None] | None = None) -> None:
        self._timeout_s = timeout_s
        self._clock = clock
        self._on_expired = on_expired or (lambda: None)
        self._lock = threading.Lock()
        self._entries: dict[Position, _Entry] = {}  # in reading order: the oldest item is offered first
        self._partitions: dict[int, _Partition] = {}

    # reading side -------------------------------------------------------------------------------------------

    def add(self, position: Position, item: ReviewItem) -> None:
        """An item was read from the review topic."""
        with self._lock:
            self._track(position)
            self._entries.setdefault(position, _Entry(position, item))

    def skip(self, position: Position) -> None:
        """A record needs no review (not a valid item, or decided before a restart): done at once."""
        with self._lock:
            self._track(position)
            self._partitions[position.partition].pending.discard(position.offset)

    def _track(self, position: Position) -> None:
        part = self._partitions.setdefault(position.partition, _Partition())
        part.pending.add(position.offset)
        part.next = max(part.next, position.offset + 1)

    def buffered(self) -> int:
        with self._lock:
            return len(self._entries)

    # reviewing side -----------------------------------------------------------------------------------------

    def lease(self, reviewer: str) -> tuple[Lease, ReviewItem] | None:
        """The reviewer's current item, or else the oldest item nobody holds; None when the queue is empty."""
        now = self._clock()
        with self._lock:
            for entry in self._entries.values():
                if entry.lease is not None and entry.lease.reviewer == reviewer and entry.lease.expires_at > now:
                    return entry.lease, entry.item
            for entry in self._entries.values():
                if entry.deciding:
                    continue
                if entry.lease is not None:
                    if entry.lease.expires_at > now:
                        continue
                    self._on_expired()
                entry.lease = Lease(secrets.token_urlsafe(16), reviewer, entry.position, now + self._timeout_s)
                return entry.lease, entry.item
        return None

    def held(self, lease_id: str, reviewer: str) -> tuple[Lease, ReviewItem]:
        """The lease and its item, while the reviewer still holds it (see ``claim``)."""
        with self._lock:
            entry, lease = self._find(lease_id, reviewer)
            return lease, entry.item

    def claim(self, lease_id: str, reviewer: str) -> tuple[Position, ReviewItem]:
        """Start publishing a decision. An expired lease still counts while nobody else took the item."""
        with self._lock:
            entry, _ = self._find(lease_id, reviewer)
            if entry.deciding:
                raise LeaseLost("this item's decision is already being saved", hint="wait for the next item")
            entry.deciding = True
            return entry.position, entry.item

    def unclaim(self, position: Position) -> None:
        """Publishing failed: the reviewer keeps the item and may submit again."""
        with self._lock:
            entry = self._entries.get(position)
            if entry is not None:
                entry.deciding = False
                if entry.lease is not None:
                    entry.lease = Lease(entry.lease.id, entry.lease.reviewer, position,
                                        self._clock() + self._timeout_s)

    def decided(self, position: Position) -> None:
        """The decision's label was acknowledged: the item leaves the queue and its offset may be committed."""
        with self._lock:
            self._entries.pop(position, None)
            part = self._partitions.get(position.partition)
            if part is not None:
                part.pending.discard(position.offset)

    def release(self, lease_id: str, reviewer: str) -> None:
        """The reviewer gives the item back (signing out): the next reviewer gets it at once."""
        with self._lock:
            entry, _ = self._find(lease_id, reviewer)
            if not entry.deciding:
                entry.lease = None

    def _find(self, lease_id: str, reviewer: str) -> tuple[_Entry, Lease]:
        for entry in self._entries.values():
            lease = entry.lease
            if lease is not None and lease.id == lease_id:
                if lease.reviewer != reviewer:
                    break
                return entry, lease
        raise LeaseLost("this item is no longer yours: its lease expired and it went to another reviewer, or the "
                        "console gave up its partition", hint="nothing was saved; here is the next item")

    # committing side ----------------------------------------------------------------------------------------

    def committable(self) -> dict[int, int]:
        """Per partition, the offset to commit now (the next one to read after a restart), if it moved."""
        with self._lock:
            result = {}
            for number, part in self._partitions.items():
                offset = min(part.pending) if part.pending else part.next
                if offset > part.committed:
                    result[number] = offset
            return result

    def mark_committed(self, offsets: dict[int, int]) -> None:
        with self._lock:
            for number, offset in offsets.items():
                part = self._partitions.get(number)
                if part is not None:
                    part.committed = max(part.committed, offset)

    def decided_above(self, partition: int) -> tuple[int, list[int]]:
        """The partition's committable offset, and the offsets decided above it (held back by an older item)."""
        with self._lock:
            part = self._partitions.get(partition)
            if part is None:
                return 0, []
            if not part.pending:
                return part.next, []
            low = min(part.pending)
            return low, sorted(set(range(low, part.next)) - part.pending)

    def forget(self, partitions: Iterable[int]) -> None:
        """The console no longer owns these partitions: their items and leases are dropped (not decided)."""
        with self._lock:
            gone = set(partitions)
            for number in gone:
                self._partitions.pop(number, None)
            self._entries = {p: e for p, e in self._entries.items() if p.partition not in gone}

    # counters -----------------------------------------------------------------------------------------------

    def counts(self) -> tuple[int, int]:
        """(waiting, leased): items nobody holds (expired leases included), and items held now."""
        now = self._clock()
        with self._lock:
            held = sum(1 for e in self._entries.values()
                       if e.deciding or (e.lease is not None and e.lease.expires_at > now))
            return len(self._entries) - held, held
