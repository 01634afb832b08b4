"""The console's side of Kafka: reads ``catalog.review`` into the lease book, publishes decisions on
``catalog.labels``, and commits the review topic's offsets by hand.

One thread owns the consumer (kafka-python's consumer is not thread-safe): it polls, pauses reading while
``max_buffered`` items wait, and commits. Request threads publish decisions with the producer (thread-safe)
and wait for the broker's acknowledgement; only then is the item marked decided in the lease book, and only
decided items let the committed offset move (``leases.py``). The steps of a decision:

1. the reviewer's lease is claimed (nobody else can take the item while it is being saved);
2. the ``LabelFeedback`` is sent with acks=all and awaited; a failure un-claims it and the reviewer retries;
3. the item is marked decided; the consumer thread commits the new committable offset within
   ``commit_interval_ms``, then records the offsets decided above it (``progress.py``), which a console
   taking the partition over skips. A crash between 2 and 3 re-delivers the item: a label twice, never none.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from kafka import ConsumerRebalanceListener, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata
from pydantic import ValidationError

from contracts import ReviewItem, Topics
from services.review import metrics
from services.review.decisions import Decision
from services.review.errors import DecisionNotSaved
from services.review.leases import LeaseBook, Position
from services.review.progress import ProgressLog, read_progress
from services.review.settings import ReviewSettings
from services.review.stats import ReviewStats

log = logging.getLogger(__name__)

TOPIC = Topics.REVIEW.name
#: How often the queue asks the broker for end offsets while its buffer is full (for the depth gauge).
END_OFFSETS_EVERY_S = 2.0


class ReviewQueue:
    def __init__(self, settings: ReviewSettings, *, consumer: Any, producer: Any, book: LeaseBook,
                 stats: ReviewStats) -> None:
        self._settings = settings
        self._progress = ProgressLog(producer, settings.review_group_id)
        self._skip: dict[int, set[int]] = {}  # decided before this console took the partition over
        self._consumer = consumer
        self._producer = producer
        self.book = book
        self.stats = stats
        self._stop = threading.Event()
        self._joined = threading.Event()
        self._thread = threading.Thread(target=self._run, name="review-queue", daemon=True)
        self._unread = 0
        self._ends: dict[TopicPartition, int] = {}
        self._ends_at = 0.0

    # lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._consumer.subscribe([TOPIC], listener=_Listener(self))
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop reading, commit what is decided, leave the group; undecided items go to the next console."""
        self._stop.set()
        self._thread.join(timeout_s)

    def ready(self) -> bool:
        return self._joined.is_set() and self._thread.is_alive()

    def depth(self) -> int:
        """Items waiting for a reviewer: read and not held, plus not yet read."""
        waiting, _ = self.book.counts()
        return waiting + self._unread

    # deciding -----------------------------------------------------------------------------------------------

    def publish(self, position: Position, decision: Decision) -> None:
        """Send the label and wait for the broker; on success the item is decided, else it stays claimed-free."""
        started = time.monotonic()
        feedback = decision.feedback
        try:
            future = self._producer.send(Topics.LABELS.name, key=feedback.key, value=feedback.to_bytes())
            metadata = future.get(timeout=self._settings.ack_timeout_s)
        except KafkaError as e:
            self.book.unclaim(position)
            log.error("label for %s%s not acknowledged: %s", TOPIC, position, e)
            raise DecisionNotSaved("the decision was not saved: the broker did not acknowledge it "
                                   f"({type(e).__name__})", hint="submit again; if it keeps failing, check the broker"
                                   ) from e
        self.book.decided(position)
        self.stats.record(decision)
        metrics.DECISION_SECONDS.observe(time.monotonic() - started)
        log.info("%s decided %s%s (%s, %s) -> %s[%d]@%d", feedback.who, TOPIC, position, feedback.product_id,
                 decision.outcome, Topics.LABELS.name, metadata.partition, metadata.offset)

    # the consumer thread ------------------------------------------------------------------------------------

    def _run(self) -> None:
        last_commit = 0.0
        try:
            while not self._stop.is_set():
                self._flow_control()
                for batch in self._consumer.poll(timeout_ms=100, max_records=200).values():
                    for record in batch:
                        self._read(record)
                if time.monotonic() - last_commit >= self._settings.commit_interval_ms / 1000:
                    self._commit()
                    last_commit = time.monotonic()
                self._update_gauges()
        except Exception:
            log.exception("the review queue stopped on an error; undecided items will be re-delivered")
            raise
        finally:
            self._commit()
            self._consumer.close(autocommit=False)

    def _read(self, record: Any) -> None:
        position = Position(record.partition, record.offset)
        if record.offset in self._skip.get(record.partition, ()):
            log.debug("skipped %s%s: decided before the partition came here", TOPIC, position)
            self.book.skip(position)
            return
        try:
            item = ReviewItem.model_validate_json(record.value or b"")
        except ValidationError as e:
            metrics.ITEMS_INVALID.inc()
            log.warning("skipped %s%s: not a ReviewItem (%d errors, first at %s: %s)", TOPIC, position,
                        e.error_count(), ".".join(map(str, e.errors()[0]["loc"])), e.errors()[0]["msg"])
            self.book.skip(position)
            return
        self.book.add(position, item)

    def _flow_control(self) -> None:
        assigned = self._consumer.assignment()
        if not assigned:
            return
        if self.book.buffered() >= self._settings.max_buffered:
            self._consumer.pause(*assigned)
        elif self._consumer.paused():
            self._consumer.resume(*self._consumer.paused())

    def _commit(self, partitions: Iterable[int] | None = None) -> None:
        """Commit what moved, then record what was decided above it (``progress.py``)."""
        wanted = set(partitions) if partitions is not None else {tp.partition for tp in self._consumer.assignment()}
        offsets = {p: o for p, o in self.book.committable().items() if p in wanted}
        if offsets:
            try:
                self._consumer.commit({TopicPartition(TOPIC, p): OffsetAndMetadata(o, None, -1)
                                       for p, o in offsets.items()})
            except KafkaError as e:  # a rebalance or a broker hiccup: the next cycle tries again
                metrics.COMMITS.labels("failed").inc()
                log.warning("commit of %s failed: %s", offsets, e)
                return
            self.book.mark_committed(offsets)
            metrics.COMMITS.labels("ok").inc()
        for partition in wanted:
            self._progress.write(partition, *self.book.decided_above(partition))

    def _update_gauges(self) -> None:
        assigned = self._consumer.assignment()
        ends = self._end_offsets(assigned)
        unread = 0
        for tp in assigned:
            high = max(self._consumer.highwater(tp) or 0, ends.get(tp, 0))
            try:
                unread += max(0, high - self._consumer.position(tp))
            except KafkaError:
                continue
        self._unread = unread
        waiting, leased = self.book.counts()
        metrics.QUEUE_DEPTH.set(waiting + unread)
        metrics.LEASED.set(leased)

    def _end_offsets(self, assigned: set[TopicPartition]) -> dict[TopicPartition, int]:
        """End offsets asked of the broker, at most every ``END_OFFSETS_EVERY_S``, while the buffer is full.

        The high watermark comes with fetch responses, and a paused partition fetches nothing, so it would stop
        counting new items. Tansu's ListOffsets answers the base offset of the last batch plus one (a lower bound,
        short by at most that batch), so the larger of the two is taken."""
        paused = self._consumer.paused()
        if not paused:
            self._ends = {}
        elif time.monotonic() - self._ends_at >= END_OFFSETS_EVERY_S:
            self._ends_at = time.monotonic()
            try:
                self._ends = dict(self._consumer.end_offsets(list(assigned)))
            except KafkaError as e:
                log.debug("end offsets not read: %s", e)
        return self._ends

    # group membership (called by the consumer inside poll, on the consumer thread) ---------------------------

    def _revoked(self, partitions: list[TopicPartition]) -> None:
        numbers = [tp.partition for tp in partitions if tp.topic == TOPIC]
        self._commit(numbers)
        self.book.forget(numbers)
        self._progress.forget(numbers)
        if numbers:
            log.info("gave up partitions %s; their undecided items go to the next owner", numbers)

    def _assigned(self, partitions: list[TopicPartition]) -> None:
        numbers = {tp.partition for tp in partitions if tp.topic == TOPIC}
        progress = read_progress(self._settings, self._settings.review_group_id) if numbers else {}
        self._skip = {p: set(progress[p].decided) for p in numbers if p in progress}
        if any(self._skip.values()):
            log.info("skipping %d items decided before the takeover", sum(map(len, self._skip.values())))
        self._joined.set()
        log.info("reviewing partitions %s of %s", sorted(tp.partition for tp in partitions), TOPIC)


class _Listener(ConsumerRebalanceListener):
    def __init__(self, queue: ReviewQueue) -> None:
        self._queue = queue

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self._queue._revoked(revoked)

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._queue._assigned(assigned)
