"""The monitor's consume loop: Kafka records into ``Monitor``, its reports into metrics and snapshots.

Two consumers: one in the monitor's group on ``catalog.tags``, ``catalog.tags.shadow`` and ``catalog.labels``
(offsets committed every ``monitor_commit_interval_ms``), and one without a group on the compacted
``tagstream.models``, read from the beginning, for every version's reference profile. A record that is not a
valid contract message is counted, logged with ``topic[partition]@offset`` and skipped: the monitor only reads,
so nothing is dead-lettered. The monitor's state lives in memory; after a restart it resumes from the committed
offsets with empty windows, its label index rebuilt from the tags before them (``services.monitor.replay``).

Readiness: the group has its partitions and ``tagstream.models`` has been read to its end once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from pydantic import ValidationError

from contracts import LabelFeedback, ModelCard, ModelRef, TagPrediction, Topics
from monitoring import metrics
from monitoring.evaluate import WindowReport
from monitoring.monitor import Monitor
from monitoring.publish import Publisher
from monitoring.realised import LabelReport
from monitoring.writer import SnapshotWriter

log = logging.getLogger(__name__)

#: Log the first of these many invalid records per topic, then one in every ``_LOG_EVERY``.
_LOG_FIRST, _LOG_EVERY = 10, 1000
#: Seconds between ticks (time-closed windows, label reports) when records keep coming.
TICK_S = 0.5

OnWindow = Callable[[WindowReport], None]
OnLabels = Callable[[LabelReport], None]


class MonitorLoop:
    def __init__(self, *, consumer: KafkaConsumer, models: KafkaConsumer, monitor: Monitor, publisher: Publisher,
                 snapshots: SnapshotWriter | None, max_poll_records: int, commit_interval_s: float,
                 on_window: OnWindow | None = None, on_labels: OnLabels | None = None) -> None:
        self.consumer, self.models, self.monitor, self.publisher = consumer, models, monitor, publisher
        self.snapshots = snapshots
        self.max_poll_records, self.commit_interval_s = max_poll_records, commit_interval_s
        self.on_window, self.on_labels = on_window, on_labels
        self.cards: dict[ModelRef, ModelCard] = {}
        self.models_read = False
        self.assigned = 0  # partitions of the group, as of the last poll (the health thread reads this, not Kafka)
        self.last_poll = time.monotonic()
        self._invalid: dict[str, int] = {}

    @staticmethod
    def assign_models(models: KafkaConsumer) -> None:
        partitions = models.partitions_for_topic(Topics.MODELS.name) or {0}
        models.assign([TopicPartition(Topics.MODELS.name, p) for p in sorted(partitions)])
        models.seek_to_beginning()

    # -- probes ---------------------------------------------------------------------------------------------------

    def liveness(self) -> tuple[bool, dict[str, object]]:
        stalled = time.monotonic() - self.last_poll
        return stalled < 60.0, {"seconds_since_poll": round(stalled, 1)}

    def readiness(self) -> tuple[bool, dict[str, object]]:
        ready = self.assigned > 0 and self.models_read
        return ready, {"partitions": self.assigned, "model_cards": len(self.cards), "models_read": self.models_read,
                       "windows_open": {m.version: n for m, n in self.monitor.windows.open_sizes().items()}}

    # -- the loop -------------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> int:
        last_commit = last_tick = time.monotonic()
        while not stop.is_set():
            self._read_models()
            batches = self.consumer.poll(timeout_ms=200, max_records=self.max_poll_records)
            self.assigned = len(self.consumer.assignment())
            self.last_poll = time.monotonic()
            for records in batches.values():
                for record in records:
                    self._handle(record)
            now = time.monotonic()
            if now - last_tick >= TICK_S or not batches:
                self._tick()
                last_tick = now
            if batches and now - last_commit >= self.commit_interval_s:
                self._commit()
                last_commit = now
        self._tick()
        self._commit()
        return 0

    def _read_models(self) -> None:
        batches = self.models.poll(timeout_ms=0 if self.models_read else 100)
        if not self.models_read:
            self.models_read = self._models_caught_up()
        for records in batches.values():
            for record in records:
                if record.value is None:
                    continue
                try:
                    card = ModelCard.model_validate_json(record.value)
                except ValidationError as e:
                    self._invalid_record(record, e)
                    continue
                self.cards[card.model] = card
                self.monitor.observe_card(card)

    def _models_caught_up(self) -> bool:
        """Whether tagstream.models has been read to its high watermark (from fetch responses: Tansu's
        end_offsets answer is wrong for multi-record batches)."""
        partitions = self.models.assignment()
        for tp in partitions:
            highwater = self.models.highwater(tp)
            if highwater is None or self.models.position(tp) < highwater:
                return False
        return bool(partitions)

    def _handle(self, record: Any) -> None:
        if record.value is None:  # a tombstone: the product was deleted
            return
        try:
            if record.topic == Topics.LABELS.name:
                self.monitor.observe_label(LabelFeedback.model_validate_json(record.value))
                return
            tag = TagPrediction.model_validate_json(record.value)
        except ValidationError as e:
            self._invalid_record(record, e)
            return
        metrics.TAGS.labels(record.topic).inc()
        for report in self.monitor.observe_tag(tag):
            self._window(report)

    def _tick(self) -> None:
        windows, labels = self.monitor.tick()
        for report in windows:
            self._window(report)
        for label_report in labels:
            self.publisher.labels(label_report)
            if self.snapshots is not None:
                self.snapshots.submit_labels(label_report)
            if self.on_labels is not None:
                self.on_labels(label_report)
        self.publisher.joins(self.monitor.drain_joins())
        self.publisher.state(self.monitor)

    def _window(self, report: WindowReport) -> None:
        self.publisher.window(report)
        self.publisher.decisions(report.model, self.monitor.decisions(report.model))
        card = self.cards.get(report.model)
        if self.snapshots is not None and card is not None:
            self.snapshots.submit_window(report, card.profile, self.monitor.config.policy)
        drifted = report.drifted_columns()
        log.log(logging.WARNING if drifted else logging.INFO,
                "version %s window %d (%d tags, %s): drifted %s; estimate %s", report.model.version, report.index,
                report.size, report.reason, ", ".join(drifted) or "nothing",
                "trusted" if report.trusted else f"not trusted ({', '.join(report.untrusted)})")
        if self.on_window is not None:
            self.on_window(report)

    def _commit(self) -> None:
        try:
            self.consumer.commit()
        except KafkaError as e:  # the state is in memory: a lost commit only means re-reading some records
            log.warning("offset commit failed (%s); will retry", e)

    def _invalid_record(self, record: Any, error: ValidationError) -> None:
        metrics.INVALID_RECORDS.labels(record.topic).inc()
        seen = self._invalid[record.topic] = self._invalid.get(record.topic, 0) + 1
        if seen <= _LOG_FIRST or seen % _LOG_EVERY == 0:
            first = error.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "(root)"
            log.warning("skipping %s[%d]@%d (%d invalid so far): %s: %s", record.topic, record.partition,
                        record.offset, seen, where, first["msg"])
