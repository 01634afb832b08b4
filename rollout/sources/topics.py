"""The built-in metric source: the tags, shadow, dead-letter and label topics, read since the rollout began.

One reader thread owns a group-less Kafka consumer assigned to every partition of the four topics. When the
rollout it follows changes (``follow``), it seeks each partition to the offset of the rollout's start time
(``offsets_for_times``; Tansu answers a batch's first offset, never a later one, so nothing is missed) and keeps
the records from then on, bounded in number. ``readings`` folds the records since a stage's start into a
``Window`` (rebuilt when the stage changes, then kept up to date as records arrive).

``caught_up`` is True once the reader has reached the high watermark of every partition (from fetch responses,
not ListOffsets: see the README's quirks) after its last seek: until then, counts are still growing and the
controller does not judge.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from kafka import TopicPartition
from kafka.errors import KafkaError

from contracts import Guardrail, GuardrailKind, ReferenceProfile
from rollout.guardrails import Reading
from rollout.sources.records import TOPICS, headers_of, parse
from rollout.window import Record, Window
from runtime import kafka
from runtime.settings import KafkaSettings

log = logging.getLogger(__name__)

#: Read a little before the rollout's start, for clocks that differ between hosts.
SEEK_MARGIN_S = 5.0
_POLL_MS = 200


@dataclass(frozen=True)
class Followed:
    stable: str
    candidate: str
    since: datetime


class TopicSource:
    """Guardrail figures from the topics themselves (the default source)."""

    def __init__(self, settings: KafkaSettings, model: str, *,
                 reference: Callable[[str], ReferenceProfile | None] = lambda _version: None,
                 max_records: int = 200_000, client_id: str = "rollout-window") -> None:
        self._settings = settings
        self._model = model
        self._reference = reference
        self._client_id = client_id
        self._lock = threading.Lock()
        self._records: deque[Record] = deque(maxlen=max_records)
        self._followed: Followed | None = None
        self._positioned: Followed | None = None
        self._window: Window | None = None
        self._caught_up = False
        self._healthy = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rollout-window", daemon=True)

    # -- the controller's side ---------------------------------------------------------------------------------

    def follow(self, stable: str, candidate: str, since: datetime) -> None:
        """Watch this rollout; a different one than before is read again from ``since``."""
        wanted = Followed(stable, candidate, since)
        with self._lock:
            if wanted != self._followed:
                self._followed = wanted
                self._caught_up = False

    @property
    def caught_up(self) -> bool:
        with self._lock:
            return self._caught_up and self._positioned == self._followed

    @property
    def healthy(self) -> bool:
        return self._healthy

    def candidate_events(self, start: datetime) -> int:
        with self._lock:
            return self._window_since(start).candidate_events

    def reading(self, kind: GuardrailKind, guardrail: Guardrail, start: datetime) -> Reading:
        del guardrail  # the built-in figures need nothing from the guardrail but its kind
        with self._lock:
            return self._window_since(start).reading(kind)

    def _window_since(self, start: datetime) -> Window:
        followed = self._followed
        if followed is None:
            return Window(start.timestamp(), stable="", candidate="")
        window = self._window
        if (window is None or window.start != start.timestamp() or
                (window.stable, window.candidate) != (followed.stable, followed.candidate)):
            window = Window(start.timestamp(), stable=followed.stable, candidate=followed.candidate,
                            reference=self._reference(followed.stable))
            for record in self._records:
                window.add(record)
            self._window = window
        return window

    # -- the reader thread -------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._read()
                return
            except KafkaError as e:
                self._healthy = False
                log.warning("reading the tag topics failed (%s); retrying in %.1f s", e, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 10.0)

    def _read(self) -> None:
        consumer = kafka.consumer(self._settings, group_id=None, client_id=self._client_id)
        try:
            partitions = self._assign(consumer)
            self._healthy = True
            while not self._stop.is_set():
                with self._lock:
                    followed = self._followed
                if followed is not None and followed != self._positioned:
                    self._seek(consumer, partitions, followed)
                batches = consumer.poll(timeout_ms=_POLL_MS)
                if followed is None:
                    continue
                parsed = [parse(tp.topic, r.value, headers_of(r), model=self._model)
                          for tp, records in batches.items() for r in records]
                caught_up = all((consumer.highwater(tp) is not None and consumer.position(tp) >= consumer.highwater(tp))
                                for tp in partitions)
                with self._lock:
                    for record in parsed:
                        if record is not None:
                            self._records.append(record)
                            if self._window is not None:
                                self._window.add(record)
                    if self._positioned == self._followed:
                        self._caught_up = self._caught_up or caught_up
        finally:
            consumer.close()

    def _assign(self, consumer: kafka.KafkaConsumer) -> list[TopicPartition]:
        while not self._stop.is_set():
            found = {topic: consumer.partitions_for_topic(topic) for topic in TOPICS}
            if all(found.values()):
                partitions = [TopicPartition(t, p) for t, ps in found.items() for p in sorted(ps or ())]
                consumer.assign(partitions)
                return partitions
            missing = [t for t, ps in found.items() if not ps]
            log.info("waiting for topics %s", ", ".join(missing))
            self._stop.wait(1.0)
        return []

    def _seek(self, consumer: kafka.KafkaConsumer, partitions: list[TopicPartition], followed: Followed) -> None:
        at = int((followed.since.timestamp() - SEEK_MARGIN_S) * 1000)
        offsets = consumer.offsets_for_times(dict.fromkeys(partitions, at))
        for tp in partitions:
            found = offsets.get(tp)
            if found is None:
                consumer.seek_to_end(tp)
            else:
                consumer.seek(tp, found.offset)
        with self._lock:
            self._records.clear()
            self._window = None
            self._positioned = followed
            self._caught_up = False
        log.info("reading tags of versions %s and %s since %s", followed.stable, followed.candidate,
                 followed.since.isoformat())
