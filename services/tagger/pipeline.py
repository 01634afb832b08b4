"""The tagging pipeline: poll → validate → load and decode → micro-batch → Triton → produce → commit.

Three kinds of threads overlap so one slow stage does not idle the others:

- the caller's thread polls Kafka, validates, applies backpressure and commits;
- ``decode_workers`` threads fetch and decode images (Pillow and gRPC release the GIL);
- ``inference_workers`` threads take micro-batches to Triton and produce the tags.

Delivery is at-least-once. An offset becomes committable only when every record produced for
it (tag, review copy or dead letter) is acknowledged by the broker (see ``offsets.py``); the
producer uses acks=all (idempotent by default). What each failure leads to is decided in
``policy.py``: bad input is dead-lettered, a Triton failure pauses and retries, unacknowledged
output stops the pipeline without committing. Tags for one product may be produced out of event
order when two events for it are in flight together: consumers order by ``timings.event_time``.

Every decoded event gets a tag on ``catalog.tags``. A tag that needs review (``postprocess.py`` decides:
low confidence, out of distribution, or a blank, blurred or tiny image from ``quality.py``) carries
the reasons and goes to ``catalog.review`` as well; it is never published as if it were fine.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import numpy as np
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from contracts import ModelRef, TagPrediction, Topics
from modelspec import quality
from modelspec.errors import InputError
from modelspec.features import feature_summaries, measure
from modelspec.preprocess import decode, stack
from services.tagger import messages, metrics, policy
from services.tagger.batcher import MicroBatcher
from services.tagger.errors import InferenceUnavailable
from services.tagger.fetch import SafeFetcher
from services.tagger.inference import TritonTagger
from services.tagger.load import image_bytes
from services.tagger.messages import Work
from services.tagger.offsets import OffsetTracker
from services.tagger.policy import Action, Stage
from services.tagger.postprocess import to_tags
from services.tagger.settings import TaggerSettings
from services.tagger.validate import parse_event

log = logging.getLogger(__name__)


class Tagger:
    def __init__(self, settings: TaggerSettings, *, consumer: KafkaConsumer, producer: KafkaProducer,
                 triton: TritonTagger, fetcher: SafeFetcher) -> None:
        self.settings = settings
        self.consumer = consumer
        self.producer = producer
        self.triton = triton
        self.fetcher = fetcher
        self.offsets = OffsetTracker()
        self.batcher: MicroBatcher[Work] = MicroBatcher(max_size=settings.batch_max_size,
                                                        max_wait_s=settings.batch_max_wait_ms / 1000,
                                                        capacity=settings.max_in_flight + settings.max_poll_records)
        self._decoders = ThreadPoolExecutor(settings.decode_workers, thread_name_prefix="decode")
        self._workers_stop = threading.Event()
        self._triton_down = threading.Event()
        self._fatal: BaseException | None = None
        self._paused = False
        self._joined = False
        self._last_loop = time.monotonic()
        self._model: ModelRef | None = None
        self._last_outage_log = 0.0

    # -- probes -------------------------------------------------------------------------------

    def liveness(self) -> tuple[bool, dict[str, object]]:
        stalled_s = time.monotonic() - self._last_loop
        return stalled_s < 60 and self._fatal is None, {"loop_age_s": round(stalled_s, 1)}

    def readiness(self) -> tuple[bool, dict[str, object]]:
        triton_up = not self._triton_down.is_set()
        ok = self._joined and triton_up and self._fatal is None
        return ok, {"joined": self._joined, "triton_up": triton_up, "paused": self._paused,
                    "in_flight": self.offsets.in_flight()}

    # -- main loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> int:
        """Run until ``stop`` is set; then drain, commit and return the exit code."""
        workers = [threading.Thread(target=self._infer_loop, name=f"infer-{i}", daemon=True)
                   for i in range(self.settings.inference_workers)]
        for w in workers:
            w.start()
        metrics.TRITON_UP.set(1 if self.triton.ready() else 0)
        self.consumer.subscribe([Topics.EVENTS.name], listener=_Rebalance(self))
        next_commit = time.monotonic() + self.settings.commit_interval_ms / 1000
        while not stop.is_set() and self._fatal is None:
            self._last_loop = time.monotonic()
            self._backpressure()
            batches = self.consumer.poll(timeout_ms=100, max_records=self.settings.max_poll_records)
            for tp, records in batches.items():
                for record in records:
                    self._accept(tp, record)
            if time.monotonic() >= next_commit:
                self._commit()
                self._observe_positions()
                next_commit = time.monotonic() + self.settings.commit_interval_ms / 1000
        return self._shutdown(workers)

    def _shutdown(self, workers: list[threading.Thread]) -> int:
        if self._fatal is not None:
            log.error("stopping without committing after a fatal error: %s", self._fatal)
            self._workers_stop.set()
            self._decoders.shutdown(wait=False, cancel_futures=True)
            self.consumer.close(autocommit=False)
            return 1
        log.info("stop requested: draining %d in-flight events", self.offsets.in_flight())
        self.consumer.pause(*self.consumer.assignment())
        drained = self.offsets.wait_drained(self.settings.drain_timeout_s)
        if not drained:
            log.warning("drain timed out after %.0f s with %d events in flight; they will be re-delivered",
                        self.settings.drain_timeout_s, self.offsets.in_flight())
        self._workers_stop.set()
        self._decoders.shutdown(wait=True, cancel_futures=True)
        for w in workers:
            w.join(timeout=self.settings.triton_timeout_s + 1)
        self.producer.flush(timeout=30)
        self._commit()
        committed = {tp.partition: offset for tp, offset in sorted(self.offsets.committed().items())}
        self.consumer.close(autocommit=False)
        log.info("stopped cleanly; committed offsets by partition: %s", committed)
        return 0

    def _accept(self, tp: TopicPartition, record: Any) -> None:
        metrics.EVENTS_CONSUMED.inc()
        self.offsets.track(tp, record.offset)
        work = Work(tp=tp, record=record, received_at=datetime.now(UTC))
        try:
            work.event = parse_event(record.value, record.headers, max_event_bytes=self.settings.max_event_bytes)
        except InputError as e:
            self._on_error(Stage.VALIDATE, work, e)
            return
        self._decoders.submit(self._decode, work)

    def _decode(self, work: Work) -> None:
        assert work.event is not None
        start = time.perf_counter()
        try:
            raw = image_bytes(work.event.data.image, self.fetcher, self.settings.image_max_bytes)
            work.image = decode(raw, max_pixels=self.settings.image_max_pixels)
        except Exception as e:  # a poison image must never kill a worker
            if not isinstance(e, InputError):
                log.exception("unexpected error decoding %s", work.position)
            self._on_error(Stage.DECODE, work, e)
            return
        elapsed = time.perf_counter() - start
        work.preprocess_ms = elapsed * 1000
        metrics.PREPROCESS_SECONDS.observe(elapsed)
        self.batcher.put(work)

    # -- inference and publishing ---------------------------------------------------------------

    def _infer_loop(self) -> None:
        while not self._workers_stop.is_set():
            batch = self.batcher.next_batch(idle_timeout_s=0.1)
            if not batch:
                continue
            images = stack([w.image for w in batch if w.image is not None])  # all decoded
            outputs = self._infer_with_retry(images)
            if outputs is None:
                return  # stopping during an outage: the batch stays uncommitted and is re-delivered
            try:
                self._publish(batch, images, outputs[0], outputs[1])
            except Exception as e:
                log.exception("publishing a batch failed")
                self._fatal = e
                return

    def _infer_with_retry(self, images: np.ndarray) -> tuple[dict[str, np.ndarray], float] | None:
        delay = 0.2
        while not self._workers_stop.is_set():
            start = time.perf_counter()
            try:
                outputs = self.triton.infer(images)
                if self._model is None:
                    self._model = ModelRef(name=self.triton.model, version=self.triton.served_version())
            except Exception as e:  # noqa: BLE001 -- the policy decides; by default every failure is retried
                if policy.decide(Stage.INFER, e) is not Action.RETRY:
                    self._fatal = e
                    return None
                self._outage(e)
                self._workers_stop.wait(delay)
                delay = min(delay * 2, self.settings.triton_backoff_max_s)
                continue
            elapsed = time.perf_counter() - start
            if self._triton_down.is_set():
                log.info("Triton answers again at %s; resuming", self.triton.url)
                self._triton_down.clear()
            metrics.TRITON_UP.set(1)
            metrics.INFERENCE_SECONDS.observe(elapsed)
            metrics.BATCH_SIZE.observe(images.shape[0])
            return outputs, elapsed * 1000
        return None

    def _outage(self, error: Exception) -> None:
        metrics.TRITON_ERRORS.inc()
        metrics.TRITON_UP.set(0)
        self._triton_down.set()
        now = time.monotonic()
        if now - self._last_outage_log > 10:
            self._last_outage_log = now
            kind = "unavailable" if isinstance(error, InferenceUnavailable) else f"error ({type(error).__name__})"
            log.warning("Triton %s: %s; consumption paused, retrying with backoff", kind, error)

    def _publish(self, batch: list[Work], images: np.ndarray, outputs: dict[str, np.ndarray],
                 inference_ms: float) -> None:
        """Tag every image of the batch: on ``catalog.tags`` always, on ``catalog.review`` too when it needs review."""
        assert self._model is not None
        decoded = [w.image for w in batch if w.image is not None]
        widths, heights = [d.width for d in decoded], [d.height for d in decoded]
        stats = measure(images)  # once, for the drift summary and the quality check
        features = feature_summaries(stats, widths, heights, [d.nbytes for d in decoded])
        tags = to_tags(outputs, top_k=self.settings.top_k, threshold=self.settings.threshold,
                       ood_threshold=self.settings.ood_threshold,
                       image_reasons=quality.assess(stats, widths, heights, self.settings.quality))
        for work, tagged, summary in zip(batch, tags, features, strict=True):
            tag = messages.prediction(work, tagged, features=summary, model=self._model, rollout=messages.STABLE,
                                      inference_ms=inference_ms)
            topics = [Topics.TAGS.name, Topics.REVIEW.name] if tag.needs_review else [Topics.TAGS.name]
            self._send_all(work, topics, tag.key, tag.to_bytes(), on_done=lambda w=work, t=tag: self._tagged(w, t))

    def _tagged(self, work: Work, tag: TagPrediction) -> None:
        metrics.EVENTS_TAGGED.labels("stable").inc()
        if tag.ood_score is not None:
            metrics.OOD_SCORE.observe(tag.ood_score)
        if tag.needs_review:
            metrics.EVENTS_REVIEW.inc()
            for reason in tag.review_reasons:
                metrics.REVIEWS_BY_REASON.labels(reason.value).inc()
        if work.event is not None:
            metrics.END_TO_END_SECONDS.observe(max(0.0, (datetime.now(UTC) - work.event.time).total_seconds()))

    def _on_error(self, stage: Stage, work: Work, error: BaseException) -> None:
        """Carry out what the error policy decides for one event."""
        action = policy.decide(stage, error)
        if action is Action.DEAD_LETTER:
            self._dead_letter(work, policy.as_input_error(error))
        elif action is Action.STOP:
            self._fatal = error

    def _dead_letter(self, work: Work, error: InputError) -> None:
        log.warning("dead-lettered %s: %s%s: %s", work.position, error.code,
                    f" ({error.field})" if error.field else "", error.message)
        letter = messages.dead_letter(work, error, group=self.settings.group_id,
                                      max_original_bytes=self.settings.max_event_bytes)
        self._send_all(work, [Topics.DEAD_LETTERS.name], work.record.key, letter.to_bytes(),
                       on_done=lambda: metrics.DEAD_LETTERS.labels(error.code).inc())

    def _send_all(self, work: Work, topics: list[str], key: bytes | None, value: bytes, on_done: Any) -> None:
        """Produce ``value`` to every topic; the offset is done when all are acknowledged."""
        remaining = [len(topics)]
        lock = threading.Lock()

        def acked(_: object) -> None:
            with lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                on_done()
                self.offsets.done(work.tp, work.record.offset)

        def failed(error: BaseException) -> None:
            log.error("producing for %s failed: %s", work.position, error)
            self._on_error(Stage.PRODUCE, work, error)

        for topic in topics:
            self.producer.send(topic, key=key, value=value).add_callback(acked).add_errback(failed)

    # -- offsets, backpressure, lag -----------------------------------------------------------

    def _commit(self, partitions: set[TopicPartition] | None = None) -> None:
        offsets = self.offsets.committable()
        if partitions is not None:
            offsets = {tp: o for tp, o in offsets.items() if tp in partitions}
        if not offsets:
            return
        try:
            self.consumer.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()})
        except KafkaError as e:  # e.g. a rebalance took the partitions: the new owner reprocesses
            metrics.COMMITS.labels("failed").inc()
            log.warning("commit failed, the events will be re-delivered: %s", e)
            return
        self.offsets.mark_committed(offsets)
        metrics.COMMITS.labels("ok").inc()
        for tp, o in offsets.items():
            metrics.COMMITTED.labels(str(tp.partition)).set(o)

    def _backpressure(self) -> None:
        in_flight = self.offsets.in_flight()
        metrics.IN_FLIGHT.set(in_flight)
        full = in_flight >= self.settings.max_in_flight
        if full or self._triton_down.is_set():
            self.consumer.pause(*self.consumer.assignment())  # again each loop: covers new assignments
            if not self._paused:
                log.info("pausing consumption (%s)", "Triton down" if not full else f"{in_flight} in flight")
            self._paused = True
        elif self._paused and in_flight <= self.settings.max_in_flight // 2:
            self.consumer.resume(*self.consumer.paused())
            self._paused = False
            log.info("resuming consumption")
        metrics.PAUSED.set(1 if self._paused else 0)

    def _observe_positions(self) -> None:
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

    def on_revoked(self, revoked: set[TopicPartition]) -> None:
        self._commit(set(revoked))
        self.offsets.forget(revoked)
        log.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        self._joined = True
        log.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, tagger: Tagger) -> None:
        self.tagger = tagger

    def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        self.tagger.on_revoked(revoked)

    def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.tagger.on_assigned(assigned)
