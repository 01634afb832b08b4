"""Windows of tags, per model version, by count and by time, in memory fixed by their size.

Each tag becomes one row of preallocated columns (pixel features, the class index and confidence of every
attribute, the OOD score, review reasons, merchant, the product's join key), so a window of ``events`` tags
costs the same memory however it fills. A window closes when it holds ``events`` tags, or ``seconds`` after it
opened if it then holds at least ``min_events`` (a quiet stream keeps filling until a judgement makes sense).
Windows are in processing time (when the monitor reads the tag), so a backlog is judged in full windows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from contracts import PIXEL_FEATURES, ModelRef, ReviewReason, TagPrediction
from modelspec.taxonomy import ATTRIBUTES
from monitoring.reference import CLASS_INDEX, bins

#: Review reasons in bit order (bit i set = ``REASONS[i]`` given).
REASONS: tuple[ReviewReason, ...] = tuple(ReviewReason)
_REASON_BIT = {reason: 1 << i for i, reason in enumerate(REASONS)}


def join_key(version: str, product_id: str) -> int:
    """The 64-bit key of a product's tag of one model version (``hash`` is per process: keys never leave it)."""
    return hash((version, product_id))


def event_key(event_id: str | None) -> int:
    """The 64-bit key of an event id; 0 for none."""
    return hash(event_id) if event_id else 0


@dataclass(frozen=True)
class ClosedWindow:
    """The rows of one closed window; every array has one row per tag."""

    model: ModelRef
    index: int  # 1 for the first window of this version in this process
    reason: str  # "count" or "time"
    opened_at: float  # wall-clock seconds
    closed_at: float
    features: np.ndarray  # (n, len(PIXEL_FEATURES)) float64
    predicted: np.ndarray  # (n, 13) int8, taxonomy index; bins(j) - 1 for a label the taxonomy lacks
    confidence: np.ndarray  # (n, 13) float32
    ood: np.ndarray  # (n,) float64, NaN where the tag had no score
    reasons: np.ndarray  # (n,) uint8 bit mask over REASONS
    needs_review: np.ndarray  # (n,) bool
    tagged_at: np.ndarray  # (n,) float64 epoch seconds
    keys: np.ndarray  # (n,) int64 join_key
    events: np.ndarray  # (n,) int64 event_key
    merchants: list[str]

    @property
    def size(self) -> int:
        return len(self.keys)

    def category(self) -> np.ndarray:
        """Predicted category label of each row (the category segment)."""
        names = np.asarray([*ATTRIBUTES[0].classes, "(unknown)"], dtype=object)
        return names[self.predicted[:, 0]]


class WindowBuffer:
    """One open window of one model version: preallocated columns filled tag by tag."""

    def __init__(self, model: ModelRef, capacity: int, index: int, opened_at: float, opened_mono: float) -> None:
        self.model, self.index, self.opened_at, self.opened_mono = model, index, opened_at, opened_mono
        self.n = 0
        self.features = np.empty((capacity, len(PIXEL_FEATURES)), dtype=np.float64)
        self.predicted = np.empty((capacity, len(ATTRIBUTES)), dtype=np.int8)
        self.confidence = np.empty((capacity, len(ATTRIBUTES)), dtype=np.float32)
        self.ood = np.empty(capacity, dtype=np.float64)
        self.reasons = np.empty(capacity, dtype=np.uint8)
        self.needs_review = np.empty(capacity, dtype=bool)
        self.tagged_at = np.empty(capacity, dtype=np.float64)
        self.keys = np.empty(capacity, dtype=np.int64)
        self.events = np.empty(capacity, dtype=np.int64)
        self.merchants: list[str] = []

    @property
    def capacity(self) -> int:
        return len(self.keys)

    def add(self, tag: TagPrediction) -> None:
        i = self.n
        summary = tag.features
        self.features[i] = [getattr(summary, name) for name in PIXEL_FEATURES]
        for j, attribute in enumerate(ATTRIBUTES):
            value = tag.attributes.get(attribute.name)
            if value is None:
                self.predicted[i, j], self.confidence[i, j] = bins(j) - 1, np.nan
            else:
                self.predicted[i, j] = CLASS_INDEX[j].get(value.label, bins(j) - 1)
                self.confidence[i, j] = value.confidence
        self.ood[i] = np.nan if tag.ood_score is None else tag.ood_score
        mask = 0
        for reason in tag.review_reasons:
            mask |= _REASON_BIT[reason]
        self.reasons[i] = mask
        self.needs_review[i] = bool(tag.needs_review)
        self.tagged_at[i] = tag.timings.tagged_at.timestamp()
        self.keys[i] = join_key(tag.model.version, tag.product_id)
        self.events[i] = event_key(tag.event_id)
        self.merchants.append(tag.merchant_id)
        self.n += 1

    def close(self, closed_at: float, reason: str) -> ClosedWindow:
        n = self.n
        return ClosedWindow(
            model=self.model, index=self.index, reason=reason, opened_at=self.opened_at, closed_at=closed_at,
            features=self.features[:n].copy(), predicted=self.predicted[:n].copy(),
            confidence=self.confidence[:n].copy(), ood=self.ood[:n].copy(), reasons=self.reasons[:n].copy(),
            needs_review=self.needs_review[:n].copy(), tagged_at=self.tagged_at[:n].copy(),
            keys=self.keys[:n].copy(), events=self.events[:n].copy(), merchants=list(self.merchants))


class Windows:
    """The open window of every model version; returns each window as it closes."""

    def __init__(self, *, events: int, seconds: float, min_events: int, max_versions: int = 8,
                 wall: Callable[[], float] = time.time, mono: Callable[[], float] = time.monotonic) -> None:
        if min_events > events:
            raise ValueError(f"min_events {min_events} is above the window size {events}")
        self.events, self.seconds, self.min_events, self.max_versions = events, seconds, min_events, max_versions
        self._wall, self._mono = wall, mono
        self._open: dict[ModelRef, WindowBuffer] = {}
        self._count: dict[ModelRef, int] = {}

    def add(self, tag: TagPrediction) -> list[ClosedWindow]:
        """Put ``tag`` in its version's window; returns the windows this closed (a full one, an evicted one)."""
        closed: list[ClosedWindow] = []
        buffer = self._open.get(tag.model)
        if buffer is None:
            closed.extend(self._make_room())
            index = self._count.get(tag.model, 0) + 1
            self._count[tag.model] = index
            buffer = WindowBuffer(tag.model, self.events, index, self._wall(), self._mono())
            self._open[tag.model] = buffer
        buffer.add(tag)
        if buffer.n >= self.events:
            closed.append(self._close(tag.model, "count"))
        return closed

    def due(self) -> list[ClosedWindow]:
        """Windows open for ``seconds`` that hold at least ``min_events`` tags, closed now."""
        now = self._mono()
        ready = [model for model, b in self._open.items()
                 if now - b.opened_mono >= self.seconds and b.n >= self.min_events]
        return [self._close(model, "time") for model in ready]

    def open_sizes(self) -> dict[ModelRef, int]:
        return {model: b.n for model, b in self._open.items()}

    def _close(self, model: ModelRef, reason: str) -> ClosedWindow:
        return self._open.pop(model).close(self._wall(), reason)

    def _make_room(self) -> list[ClosedWindow]:
        """With ``max_versions`` windows open, close the one idle longest (judged if big enough, else dropped)."""
        if len(self._open) < self.max_versions:
            return []
        oldest = min(self._open, key=lambda m: self._open[m].opened_mono)
        window = self._close(oldest, "evicted")
        return [window] if window.size >= self.min_events else []
