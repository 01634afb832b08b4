"""The poll stage, on the main thread: poll, validate, route, and hand each event on; pause when full.

Each record is tracked by the checkpoint, then validated (``validate.py``): a bad one is
dead-lettered at once; a valid one is routed (``router.py``), takes its place in its product's order
(``publish.py``), and goes to the load stage, or, for a deletion, straight to publishing its
tombstone. Consumption pauses while ``max_in_flight`` events are unacknowledged or Triton is down,
and resumes below half of it.
"""

from __future__ import annotations

import logging
import threading

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from contracts import Topics
from modelspec.errors import InputError
from services.tagger import metrics
from services.tagger.checkpoint import Checkpoint
from services.tagger.load import LoadStage
from services.tagger.publish import PublishStage
from services.tagger.router import Router
from services.tagger.settings import TaggerSettings
from services.tagger.validate import parse_event
from services.tagger.work import Valid

log = logging.getLogger(__name__)

#: How long one poll waits for records when there are none.
POLL_TIMEOUT_MS = 100


class PollStage:
    def __init__(self, consumer: KafkaConsumer, settings: TaggerSettings, *, checkpoint: Checkpoint, router: Router,
                 publish: PublishStage, load: LoadStage, triton_down: threading.Event) -> None:
        self.consumer = consumer
        self.settings = settings
        self.paused = False
        self._checkpoint = checkpoint
        self._router = router
        self._publish = publish
        self._load = load
        self._triton_down = triton_down

    def subscribe(self) -> None:
        self.consumer.subscribe([Topics.EVENTS.name], listener=self._checkpoint.listener())

    def poll(self) -> None:
        """One round: apply backpressure, poll, and hand every record on. Kafka errors are the caller's."""
        self._backpressure()
        batches = self.consumer.poll(timeout_ms=POLL_TIMEOUT_MS, max_records=self.settings.max_poll_records)
        for tp, records in batches.items():
            for record in records:
                self._accept(tp, record)

    def pause_all(self) -> None:
        self.consumer.pause(*self.consumer.assignment())

    def _accept(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        metrics.EVENTS_CONSUMED.inc()
        received = self._checkpoint.receive(tp, record)
        try:
            event = parse_event(record.value, record.headers, max_event_bytes=self.settings.max_event_bytes)
        except InputError as e:
            self._publish.invalid(received, e)
            return
        valid = Valid(received=received, event=event, route=self._router.route(event))
        self._publish.admit(valid)
        if event.deletes:
            self._publish.deleted(valid)
        else:
            self._load.load(valid)

    def _backpressure(self) -> None:
        in_flight = self._checkpoint.offsets.in_flight()
        metrics.IN_FLIGHT.set(in_flight)
        full = in_flight >= self.settings.max_in_flight
        if full or self._triton_down.is_set():
            self.pause_all()  # again each round: covers new assignments
            if not self.paused:
                log.info("pausing consumption (%s)", "Triton down" if not full else f"{in_flight} in flight")
            self.paused = True
        elif self.paused and in_flight <= self.settings.max_in_flight // 2:
            self.consumer.resume(*self.consumer.paused())
            self.paused = False
            log.info("resuming consumption")
        metrics.PAUSED.set(1 if self.paused else 0)
