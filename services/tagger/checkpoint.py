"""The checkpoint stage: what may be committed, the commit steps, rebalances and lag.

Commit steps. An offset becomes committable only when every output of its event is acknowledged
(``offsets.py``), so a commit never needs a producer flush first and never runs ahead of lost
output. The main thread commits what is committable every ``commit_interval_ms``, and once more
when it stops; a failed commit is logged and retried at the next step, and the events after the
last commit are re-delivered to whoever owns the partition next. After a fatal error nothing more
is committed (:meth:`Checkpoint.freeze`).

Rebalances. kafka-python 3 calls the rebalance listener on its IO thread, the one that also sends
heartbeats and commits; a blocking call there (``consumer.commit``) fails with "Cannot block on
net.run() from the IO thread itself" and ``poll`` then raises. So the listener is an
``AsyncConsumerRebalanceListener`` and never blocks:

- on revoke, a helper thread waits up to ``rebalance_drain_s`` for the revoked partitions'
  in-flight events to finish, then commits what is acknowledged with ``consumer.commit_async``; the
  listener awaits that commit's future, so the loop keeps heartbeating meanwhile and the next owner
  starts right after our last acknowledged output. Whatever is still in flight is abandoned: its
  epoch ends (every stage drops it, the key order forgets it) and the next owner re-processes it;
- on loss (the group evicted us), nothing is committed: the partitions are already someone else's;
  their work is abandoned at once;
- on assignment, each partition starts a new epoch.

Errors inside the listener are logged and never raised into ``poll``: the next owner re-processes
from the last commit, which is at-least-once as always.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from kafka import AsyncConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaError
from kafka.future import Future
from kafka.structs import OffsetAndMetadata

from services.tagger import metrics
from services.tagger.offsets import OffsetTracker
from services.tagger.settings import TaggerSettings
from services.tagger.work import Received

log = logging.getLogger(__name__)

#: Called with partitions this process no longer owns, so that each stage drops their work.
OnRelease = Callable[[set[TopicPartition]], None]


class Checkpoint:
    def __init__(self, consumer: KafkaConsumer, settings: TaggerSettings) -> None:
        self.consumer = consumer
        self.settings = settings
        self.offsets = OffsetTracker()
        self.joined = False
        self.last_committed: dict[int, int] = {}  # partition -> the last offset this process committed for it
        self._frozen = False
        self._on_release: list[OnRelease] = []
        self._next_step = time.monotonic() + settings.commit_interval_ms / 1000

    # -- what the other stages ask -----------------------------------------------------------------

    def on_release(self, callback: OnRelease) -> None:
        self._on_release.append(callback)

    def receive(self, tp: TopicPartition, record: ConsumerRecord) -> Received:
        """Start tracking a polled record, in the epoch of its partition's current assignment."""
        epoch = self.offsets.epoch(tp)
        received = Received(tp=tp, record=record, received_at=datetime.now(UTC), epoch=epoch)
        self.offsets.track(tp, received.offset, epoch)
        return received

    def owns(self, received: Received) -> bool:
        return self.offsets.owns(received.tp, received.epoch)

    def done(self, received: Received) -> None:
        """Every output of this event is acknowledged."""
        self.offsets.done(received.tp, received.offset, received.epoch)

    def freeze(self) -> None:
        """After a fatal error: commit nothing more, so that everything since the last commit is re-delivered."""
        self._frozen = True

    # -- commit steps (main thread) ----------------------------------------------------------------

    def step(self) -> None:
        """Commit and observe lag when the interval has passed; call between polls."""
        if time.monotonic() < self._next_step:
            return
        self.commit()
        self.observe_positions()
        self._next_step = time.monotonic() + self.settings.commit_interval_ms / 1000

    def commit(self) -> None:
        offsets = self.offsets.committable()
        if not offsets or self._frozen:
            return
        try:
            self.consumer.commit(_metadata(offsets))
        except KafkaError as e:  # e.g. a rebalance took the partitions: the new owner reprocesses
            metrics.COMMITS.labels("failed").inc()
            log.warning("commit failed, the events will be re-delivered: %s", e)
            return
        self._committed(offsets)

    def observe_positions(self) -> None:
        # Lag comes from the high watermark of fetch responses: Tansu's ListOffsets "latest" answers the
        # base offset of the last record batch plus one, so consumer.end_offsets() is wrong there.
        for tp in self.consumer.assignment():
            try:
                position = self.consumer.position(tp, timeout_ms=50)
            except KafkaError:
                continue
            label = str(tp.partition)
            metrics.POSITION.labels(label).set(position)
            high = self.consumer.highwater(tp)
            if high is not None:
                metrics.HIGH_WATERMARK.labels(label).set(high)
                metrics.LAG.labels(label).set(max(0, high - position))

    def _committed(self, offsets: dict[TopicPartition, int]) -> None:
        self.offsets.mark_committed(offsets)
        metrics.COMMITS.labels("ok").inc()
        for tp, offset in offsets.items():
            metrics.COMMITTED.labels(str(tp.partition)).set(offset)
            self.last_committed[tp.partition] = offset

    # -- rebalances (the consumer's IO thread) -----------------------------------------------------

    def listener(self) -> AsyncConsumerRebalanceListener:
        return _Listener(self)

    async def revoked(self, revoked: set[TopicPartition]) -> None:
        try:
            if revoked and not self._frozen:
                offsets = await self._finish_and_commit(revoked)
                if offsets:
                    self._committed(offsets)
                log.info("partitions revoked: %s; committed %s", _names(revoked),
                         {tp.partition: o for tp, o in sorted(offsets.items())})
        except Exception as e:  # noqa: BLE001 -- never into poll(): the next owner re-processes from the last commit
            metrics.COMMITS.labels("failed").inc()
            log.warning("partitions revoked: %s; commit failed, their events since the last commit will be "
                        "re-delivered: %s", _names(revoked), e)
        finally:
            self._release(revoked)

    async def lost(self, lost: set[TopicPartition]) -> None:
        log.warning("partitions lost: %s (evicted from the group); their in-flight events are abandoned and "
                    "re-delivered to the next owner, nothing is committed", _names(lost))
        self._release(lost)

    async def assigned(self, assigned: set[TopicPartition]) -> None:
        self._release(assigned)  # anything left of an earlier assignment is stale
        self.offsets.assign(assigned)
        self.joined = True
        log.info("partitions assigned: %s", _names(assigned))

    def _finish_and_commit(self, revoked: set[TopicPartition]) -> Future:
        """A future of the offsets committed for ``revoked``; the waiting happens on a helper thread.

        The helper ends with ``consumer.commit_async``, which wakes the IO loop; the commit's future is
        resolved on the IO thread, and with it the listener's.
        """
        result = Future()

        def finish_then_commit() -> None:
            try:
                finished = self.offsets.wait_drained(self.settings.rebalance_drain_s, revoked)
                if not finished:
                    log.warning("rebalance: %d events of the revoked partitions did not finish within %.1f s; "
                                "they are abandoned and re-delivered to the next owner",
                                self.offsets.in_flight(revoked), self.settings.rebalance_drain_s)
                offsets = self.offsets.committable(revoked)
                future = self.consumer.commit_async(_metadata(offsets))
                future.add_callback(lambda _: result.success(offsets))
                future.add_errback(result.failure)
            except Exception as e:  # noqa: BLE001 -- handed to the listener, which logs it
                result.failure(e)

        threading.Thread(target=finish_then_commit, name="rebalance", daemon=True).start()
        return result

    def _release(self, partitions: set[TopicPartition]) -> None:
        if not partitions:
            return
        self.offsets.forget(partitions)
        for callback in self._on_release:
            try:
                callback(set(partitions))
            except Exception:
                log.exception("releasing partitions %s", _names(partitions))


class _Listener(AsyncConsumerRebalanceListener):
    def __init__(self, checkpoint: Checkpoint) -> None:
        self._checkpoint = checkpoint

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._checkpoint.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._checkpoint.assigned(set(assigned))

    async def on_partitions_lost(self, lost: set[TopicPartition]) -> None:
        await self._checkpoint.lost(set(lost))


def _metadata(offsets: dict[TopicPartition, int]) -> dict[TopicPartition, OffsetAndMetadata]:
    return {tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()}


def _names(partitions: set[TopicPartition]) -> list[int]:
    return sorted(tp.partition for tp in partitions)
