"""Join late labels to the tags they judge, on product and model version, in bounded memory.

Every closed window becomes one immutable *chunk* of the index: its rows sorted by join key (a 64-bit hash of
model version and product id), with each row's predicted classes, event key, tag time and merchant. A row
costs about 46 bytes (13 one-byte class indices, three 8-byte keys and times, a pointer to the shared merchant
string, a flag byte) and no Python object of its own, so a million tracked tags take about 46 MB. The oldest
chunks are dropped once the index holds more than ``capacity`` tags or their tags are older than
``horizon_s``; a label for a dropped tag is counted as expired, never joined to the wrong tag.

A label names a product (and, when the labeller knew it, the event whose image was judged), not a model
version, so it joins the newest tag of that product for *every* version (stable, candidate, shadow); with an
event id, only a tag of that event. A label that finds no tag yet (its tag's window is still open, or the tag
comes later: topics are read independently) waits in a bounded pending set and is tried again against each
window as it closes, until ``pending_ttl_s``. Each tag counts at most one label per source.
"""

from __future__ import annotations

import logging
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from contracts import LabelFeedback, LabelSource, ModelRef
from modelspec.taxonomy import ATTRIBUTES
from monitoring.reference import CLASS_INDEX, bins
from monitoring.window import ClosedWindow, event_key, join_key

log = logging.getLogger(__name__)

SOURCE_BIT = {source: 1 << i for i, source in enumerate(LabelSource)}


def truth_row(label: LabelFeedback) -> np.ndarray:
    """(13,) int8: the labelled class of each attribute (unknown labels in the last bin), -1 where not labelled."""
    row = np.full(len(ATTRIBUTES), -1, dtype=np.int8)
    for j, attribute in enumerate(ATTRIBUTES):
        value = label.labels.get(attribute.name)
        if value is not None:
            row[j] = CLASS_INDEX[j].get(value, bins(j) - 1)
    return row


@dataclass
class Chunk:
    """One closed window's tags, sorted by join key."""

    model: ModelRef
    window_index: int
    keys: np.ndarray  # (n,) int64, sorted
    events: np.ndarray  # (n,) int64
    predicted: np.ndarray  # (n, 13) int8
    tagged_at: np.ndarray  # (n,) float64
    merchants: np.ndarray  # (n,) object
    labelled: np.ndarray  # (n,) uint8: SOURCE_BIT of every source that labelled the row
    newest: float

    @classmethod
    def of(cls, window: ClosedWindow) -> Chunk:
        order = np.argsort(window.keys, kind="stable")
        return cls(model=window.model, window_index=window.index, keys=window.keys[order],
                   events=window.events[order], predicted=window.predicted[order], tagged_at=window.tagged_at[order],
                   merchants=np.asarray(window.merchants, dtype=object)[order],
                   labelled=np.zeros(window.size, dtype=np.uint8),
                   newest=float(window.tagged_at.max()) if window.size else 0.0)

    def find(self, key: int, event: int) -> int | None:
        """The row of ``key`` (of event ``event`` when not 0; else the newest such row), or None."""
        lo = int(np.searchsorted(self.keys, key, side="left"))
        hi = int(np.searchsorted(self.keys, key, side="right"))
        if lo == hi:
            return None
        rows = range(lo, hi)
        if event:
            return next((r for r in rows if self.events[r] == event), None)
        return max(rows, key=lambda r: self.tagged_at[r])

    @property
    def size(self) -> int:
        return len(self.keys)


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    row: int

    @property
    def model(self) -> ModelRef:
        return self.chunk.model

    @property
    def predicted(self) -> np.ndarray:
        return self.chunk.predicted[self.row]

    @property
    def tagged_at(self) -> float:
        return float(self.chunk.tagged_at[self.row])

    @property
    def merchant(self) -> str:
        return str(self.chunk.merchants[self.row])

    def mark(self, source: LabelSource) -> bool:
        """Record a label of ``source`` on this tag; False when it already had one (a duplicate)."""
        bit = SOURCE_BIT[source]
        if self.chunk.labelled[self.row] & bit:
            return False
        self.chunk.labelled[self.row] |= bit
        return True


class TagIndex:
    """The tags of the last ``capacity`` tags' windows, no older than ``horizon_s``, searchable by product."""

    def __init__(self, *, capacity: int, horizon_s: float) -> None:
        self.capacity, self.horizon_s = capacity, horizon_s
        self._chunks: deque[Chunk] = deque()
        self.size = 0
        self.evicted = 0

    def add(self, window: ClosedWindow, now: float) -> Chunk:
        chunk = Chunk.of(window)
        self._chunks.append(chunk)
        self.size += chunk.size
        self.evict(now)
        return chunk

    def evict(self, now: float) -> None:
        """Drop the oldest windows while more than ``capacity`` tags are held (the newest window always stays)
        or while the oldest window's newest tag is older than ``horizon_s``."""
        while self._chunks:
            oldest = self._chunks[0]
            too_many = self.size > self.capacity and len(self._chunks) > 1
            if not too_many and oldest.newest >= now - self.horizon_s:
                return
            self._chunks.popleft()
            self.size -= oldest.size
            self.evicted += oldest.size

    def lookup(self, product_id: str, event_id: str | None, *, skip: frozenset[ModelRef] = frozenset()) -> list[Hit]:
        """The newest tag of ``product_id`` (of ``event_id`` if given) for every version not in ``skip``."""
        event = event_key(event_id)
        found: dict[ModelRef, Hit] = {}
        keys: dict[str, int] = {}
        for chunk in reversed(self._chunks):
            if chunk.model in found or chunk.model in skip:
                continue
            key = keys.setdefault(chunk.model.version, join_key(chunk.model.version, product_id))
            row = chunk.find(key, event)
            if row is not None:
                found[chunk.model] = Hit(chunk, row)
        return list(found.values())

    def chunks(self) -> Iterator[Chunk]:
        return iter(self._chunks)

    def per_model(self) -> dict[ModelRef, tuple[int, int]]:
        """model -> (tags tracked, tags with at least one label)."""
        totals: dict[ModelRef, list[int]] = {}
        for chunk in self._chunks:
            entry = totals.setdefault(chunk.model, [0, 0])
            entry[0] += chunk.size
            entry[1] += int(np.count_nonzero(chunk.labelled))
        return {model: (t, labelled) for model, (t, labelled) in totals.items()}

    @property
    def nbytes(self) -> int:
        """Bytes held by the index's arrays (object pointers included, shared strings not)."""
        return sum(c.keys.nbytes + c.events.nbytes + c.predicted.nbytes + c.tagged_at.nbytes + c.merchants.nbytes
                   + c.labelled.nbytes for c in self._chunks)


@dataclass
class Pending:
    label: LabelFeedback
    arrived: float
    joined: set[ModelRef] = field(default_factory=set)


class PendingLabels:
    """Labels waiting for tags: at most ``capacity``, each for ``ttl_s`` after it arrived (oldest dropped first)."""

    def __init__(self, *, capacity: int, ttl_s: float) -> None:
        self.capacity, self.ttl_s = capacity, ttl_s
        self._items: OrderedDict[int, Pending] = OrderedDict()
        self._next = 0
        #: labels dropped without ever joining a tag, per source
        self.expired_unjoined: Counter[LabelSource] = Counter()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, pending: Pending) -> None:
        self._items[self._next] = pending
        self._next += 1
        while len(self._items) > self.capacity:
            self._drop(next(iter(self._items)))

    def expire(self, now: float) -> None:
        while self._items:
            first = next(iter(self._items))
            if self._items[first].arrived >= now - self.ttl_s:
                break
            self._drop(first)

    def _drop(self, ident: int) -> None:
        pending = self._items.pop(ident)
        if not pending.joined:
            self.expired_unjoined[pending.label.source] += 1

    def match(self, chunk: Chunk) -> list[tuple[Pending, Hit]]:
        """Every waiting label that names a tag of ``chunk`` (and has not joined that version yet)."""
        if not self._items or chunk.size == 0:
            return []
        waiting = [p for p in self._items.values() if chunk.model not in p.joined]
        if not waiting:
            return []
        keys = np.fromiter((join_key(chunk.model.version, p.label.product_id) for p in waiting), dtype=np.int64,
                           count=len(waiting))
        positions = np.searchsorted(chunk.keys, keys)
        inside = positions < chunk.size
        candidates = np.flatnonzero(inside)
        candidates = candidates[chunk.keys[positions[candidates]] == keys[candidates]]
        matches = []
        for i in candidates.tolist():
            pending = waiting[i]
            row = chunk.find(int(keys[i]), event_key(pending.label.event_id))
            if row is not None:
                matches.append((pending, Hit(chunk, row)))
        return matches
