"""The counters the console shows on its pages, kept beside the Prometheus metrics of ``metrics.py``.

Prometheus keeps the history; the page shows this console's view since it started: decisions in the last
hour and, per attribute, how often reviewers kept the model's label.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from services.review import metrics
from services.review.decisions import Decision

HOUR_S = 3600.0


@dataclass(frozen=True)
class Agreement:
    attribute: str
    decided: int
    agreed: int

    @property
    def share(self) -> float:
        return self.agreed / self.decided if self.decided else 0.0


class ReviewStats:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._recent: deque[float] = deque()
        self._agreement: dict[str, list[int]] = {}  # attribute -> [decided, agreed]

    def record(self, decision: Decision) -> None:
        metrics.DECISIONS.labels(decision.feedback.source.value, decision.outcome).inc()
        for attribute, agreed in decision.agreed.items():
            metrics.ATTRIBUTE_DECISIONS.labels(attribute, "true" if agreed else "false").inc()
        with self._lock:
            self._recent.append(self._clock())
            for attribute, agreed in decision.agreed.items():
                counts = self._agreement.setdefault(attribute, [0, 0])
                counts[0] += 1
                counts[1] += int(agreed)

    def decisions_last_hour(self) -> int:
        with self._lock:
            horizon = self._clock() - HOUR_S
            while self._recent and self._recent[0] < horizon:
                self._recent.popleft()
            return len(self._recent)

    def agreement(self) -> list[Agreement]:
        with self._lock:
            return [Agreement(a, d, g) for a, (d, g) in sorted(self._agreement.items())]
