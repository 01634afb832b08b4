"""The publish stage: each event's outputs to the producer, in key order, and the event done when all are acked.

Every event the poll stage accepts ends here exactly once, from whichever thread finished it: tagged
(tags, review items: a doubt item, or an audit item when the event is in the audit sample), deleted (a
tombstone) or failed (a dead letter). Valid events go through the
key order (``ordering.py``): their outputs leave in event order per product, held only behind an
earlier event of the same product. An event is done for the checkpoint when the broker has
acknowledged every one of its outputs (acks=all); an output the broker refuses stops the pipeline
without committing past it (``policy.py``).

Sends happen under one lock together with the key order, so that the order decided is the order in
which the producer gets them; acknowledgements arrive on the producer's own thread and take no lock
of this stage.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from kafka import KafkaProducer, TopicPartition

from contracts import RolloutArm
from modelspec.errors import InputError
from services.tagger import messages, metrics, policy
from services.tagger.messages import Output
from services.tagger.ordering import KeyOrder, Ticket
from services.tagger.policy import Action, Stage
from services.tagger.postprocess import in_audit_sample
from services.tagger.work import Inferred, Received, Valid

log = logging.getLogger(__name__)

_TicketKey = tuple[TopicPartition, int, int]  # partition, epoch, offset


@dataclass(frozen=True)
class _Ready:
    received: Received
    outputs: list[Output]
    on_acked: Callable[[], None]


class PublishStage:
    def __init__(self, producer: KafkaProducer, *, group: str, max_original_bytes: int,
                 on_done: Callable[[Received], None], on_fatal: Callable[[BaseException], None],
                 audit_share: float = 0.0) -> None:
        self._producer = producer
        self._audit_share = audit_share
        self._group = group
        self._max_original_bytes = max_original_bytes
        self._on_done = on_done
        self._on_fatal = on_fatal
        self._lock = threading.Lock()
        self._order: KeyOrder[_Ready] = KeyOrder()
        self._tickets: dict[_TicketKey, Ticket[_Ready]] = {}

    def admit(self, valid: Valid) -> None:
        """Give a valid event its place among the events of its product; call in the order they were read."""
        received = valid.received
        with self._lock:
            self._tickets[_ticket_key(received)] = self._order.admit(valid.key, received.tp)

    def tagged(self, item: Inferred) -> None:
        valid = item.loaded.valid
        audit = in_audit_sample(valid.event.id, self._audit_share)
        self._release(valid.received, messages.tag_outputs(item, audit=audit),
                      on_acked=lambda: _count_tagged(item, audit=audit))

    def deleted(self, valid: Valid) -> None:
        self._release(valid.received, [messages.tombstone(valid)], on_acked=metrics.TOMBSTONES.inc)

    def failed(self, valid: Valid, stage: Stage, error: BaseException) -> None:
        """A stage could not finish a valid event: dead-letter it in its product's order, or stop, as the error
        policy decides."""
        self._dead_letter(valid.received, stage, error, ordered=True, arm=valid.route.publish.arm)

    def invalid(self, received: Received, error: InputError) -> None:
        """An event that breaks the contract: it has no product to wait for, so its dead letter goes at once."""
        self._dead_letter(received, Stage.VALIDATE, error, ordered=False)

    def forget(self, partitions: set[TopicPartition]) -> None:
        """A rebalance took ``partitions``: their events' outputs will never be sent from here."""
        with self._lock:
            for key in [k for k in self._tickets if k[0] in partitions]:
                del self._tickets[key]
            self._send(self._order.forget(partitions))

    def _dead_letter(self, received: Received, stage: Stage, error: BaseException, *, ordered: bool,
                     arm: RolloutArm | None = None) -> None:
        if policy.decide(stage, error) is Action.STOP:
            self._on_fatal(error)
            return
        bad = policy.as_input_error(error)
        log.warning("dead-lettered %s: %s%s: %s", received.position, bad.code,
                    f" ({bad.field})" if bad.field else "", bad.message)
        letter = messages.dead_letter(received, bad, group=self._group, max_original_bytes=self._max_original_bytes,
                                      arm=arm)
        self._release(received, [letter], on_acked=lambda: _count_dead_letter(bad.code, arm), ordered=ordered)

    def _release(self, received: Received, outputs: list[Output], on_acked: Callable[[], None], *,
                 ordered: bool = True) -> None:
        ready = _Ready(received, outputs, on_acked)
        with self._lock:
            if not ordered:
                self._send([ready])
                return
            ticket = self._tickets.pop(_ticket_key(received), None)
            if ticket is not None:  # None: a rebalance took the partition; its next owner publishes the event
                self._send(self._order.release(ticket, ready))

    def _send(self, ready: list[_Ready]) -> None:
        for item in ready:
            acks = _Acks(len(item.outputs), _when_acked(self._on_done, item))
            for output in item.outputs:
                try:
                    future = self._producer.send(output.topic, key=output.key, value=output.value,
                                                 headers=list(output.headers) or None)
                except Exception as e:  # noqa: BLE001 -- a producer that cannot take a record: stop, re-deliver
                    self._refused(item.received, e)
                    return
                future.add_callback(acks.ack).add_errback(lambda e, r=item.received: self._refused(r, e))

    def _refused(self, received: Received, error: BaseException) -> None:
        log.error("producing for %s failed: %s", received.position, error)
        if policy.decide(Stage.PRODUCE, error) is Action.STOP:
            self._on_fatal(error)


def _when_acked(on_done: Callable[[Received], None], item: _Ready) -> Callable[[], None]:
    def done() -> None:
        item.on_acked()
        on_done(item.received)
    return done


class _Acks:
    """Counts one event's acknowledgements; calls ``done`` once, on the last."""

    def __init__(self, expected: int, done: Callable[[], None]) -> None:
        self._left = expected
        self._lock = threading.Lock()
        self._done = done

    def ack(self, _: object) -> None:
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            self._done()


def _ticket_key(received: Received) -> _TicketKey:
    return received.tp, received.epoch, received.offset


def _count_dead_letter(code: str, arm: RolloutArm | None) -> None:
    metrics.DEAD_LETTERS.labels(code).inc()
    if arm is not None:
        metrics.DEAD_LETTERS_BY_ARM.labels(arm.value).inc()


def _count_tagged(item: Inferred, *, audit: bool) -> None:
    for answer in item.answers:
        metrics.EVENTS_TAGGED.labels(answer.arm.value).inc()
    published = item.answers[0].tagged
    if published.ood_score is not None:
        metrics.OOD_SCORE.observe(published.ood_score)
    if published.needs_review:
        metrics.EVENTS_REVIEW.inc()
        for reason in published.review_reasons:
            metrics.REVIEWS_BY_REASON.labels(reason.value).inc()
    if audit:
        metrics.EVENTS_AUDIT.inc()
    event_time = item.loaded.valid.event.time
    metrics.END_TO_END_SECONDS.observe(max(0.0, (datetime.now(UTC) - event_time).total_seconds()))
