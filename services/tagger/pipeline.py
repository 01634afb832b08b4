"""The tagging pipeline: its stages composed, the main loop, the probes, and how it stops.

    poll and validate ─► load and decode ─► micro-batch ─► infer ─► publish ─► checkpoint
    (main thread)        (fetcher; decode   (batcher.py)   (infer   (publish   (commit steps,
     poll.py              threads) load.py                 threads)  .py)       rebalance, lag)

Each stage is a module with one job; they meet in this class only. Delivery is at-least-once: an
offset is committed only when every output of its event is acknowledged, and a crash re-delivers.
Tags of one product are published in event order (``ordering.py``). What each failure leads to is
decided in ``policy.py``: bad input is dead-lettered, a Triton failure pauses and retries, a Kafka
client error while polling is retried or stops the pipeline, unacknowledged output stops it without
committing. ``run`` returns the exit code; ``main.py`` decides whether a pipeline that stopped on an
error is rebuilt.
"""

from __future__ import annotations

import logging
import threading
import time

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from services.tagger import metrics, policy
from services.tagger.batcher import MicroBatcher
from services.tagger.checkpoint import Checkpoint
from services.tagger.infer import InferStage
from services.tagger.inference import TritonTagger
from services.tagger.load import Fetcher, LoadStage
from services.tagger.policy import Action, Stage
from services.tagger.poll import PollStage
from services.tagger.publish import PublishStage
from services.tagger.router import Router
from services.tagger.settings import TaggerSettings
from services.tagger.thresholds import CardLookup, VersionThresholds
from services.tagger.work import Loaded, Valid

log = logging.getLogger(__name__)

#: The main loop counts as stalled (liveness fails) when it has not come round for this long.
STALLED_S = 60.0


class Tagger:
    def __init__(self, settings: TaggerSettings, *, consumer: KafkaConsumer, producer: KafkaProducer,
                 triton: TritonTagger, fetcher: Fetcher, router: Router | None = None,
                 cards: CardLookup | None = None) -> None:
        self.settings = settings
        self.consumer = consumer
        self.producer = producer
        self.router = router or Router(settings.triton_model, settings.triton_model_version)
        self._fatal: BaseException | None = None
        self._last_loop = time.monotonic()
        self.checkpoint = Checkpoint(consumer, settings)
        self.publish = PublishStage(producer, group=settings.group_id, max_original_bytes=settings.max_event_bytes,
                                    on_done=self.checkpoint.done, on_fatal=self._fail,
                                    audit_share=settings.audit_share)
        self.batcher: MicroBatcher[Loaded] = MicroBatcher(
            max_size=settings.batch_max_size, max_wait_s=settings.batch_max_wait_ms / 1000,
            capacity=settings.max_in_flight + settings.max_poll_records)
        self.infer = InferStage(triton, self.batcher, settings, owns=lambda item: self._owns(item.valid),
                                on_inferred=self.publish.tagged, on_fatal=self._fail, router=self.router,
                                thresholds=VersionThresholds.of(settings, cards))
        self.load = LoadStage(fetcher, settings, owns=self._owns, on_loaded=self.batcher.put,
                              on_failed=lambda valid, error: self.publish.failed(valid, Stage.DECODE, error),
                              on_fatal=self._fail)
        self.poll = PollStage(consumer, settings, checkpoint=self.checkpoint, router=self.router,
                              publish=self.publish, load=self.load, triton_down=self.infer.triton_down)
        self.checkpoint.on_release(self.publish.forget)

    # -- probes -------------------------------------------------------------------------------

    def liveness(self) -> tuple[bool, dict[str, object]]:
        stalled_s = time.monotonic() - self._last_loop
        return stalled_s < STALLED_S and self._fatal is None, {"loop_age_s": round(stalled_s, 1)}

    def readiness(self) -> tuple[bool, dict[str, object]]:
        triton_up = not self.infer.triton_down.is_set()
        ok = self.checkpoint.joined and triton_up and self._fatal is None
        return ok, {"joined": self.checkpoint.joined, "triton_up": triton_up, "paused": self.poll.paused,
                    "in_flight": self.checkpoint.offsets.in_flight()}

    # -- main loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> int:
        """Run until ``stop`` is set or a stage fails; then drain (or not), commit and return the exit code."""
        self.load.start()
        self.infer.start()
        metrics.TRITON_UP.set(1 if self.infer.triton.ready() else 0)
        self.poll.subscribe()
        while not stop.is_set() and self._fatal is None:
            self._last_loop = time.monotonic()
            try:
                self.poll.poll()
            except KafkaError as e:
                if policy.decide(Stage.POLL, e) is not Action.RETRY:
                    log.error("the Kafka client failed while polling: %s", e)
                    self._fail(e)
                    break
                log.warning("polling failed, retrying: %s", e)
                stop.wait(0.5)
            self.checkpoint.step()
        return self._shutdown()

    def _shutdown(self) -> int:
        if self._fatal is not None:
            log.error("stopping without committing after a fatal error: %s", self._fatal)
            self.checkpoint.freeze()
            self.infer.stop()
            self.load.stop(wait=False)
            self._close_consumer()
            return 1
        log.info("stop requested: draining %d in-flight events", self.checkpoint.offsets.in_flight())
        self.poll.pause_all()
        if not self.checkpoint.offsets.wait_drained(self.settings.drain_timeout_s):
            log.warning("drain timed out after %.0f s with %d events in flight; they will be re-delivered",
                        self.settings.drain_timeout_s, self.checkpoint.offsets.in_flight())
        self.load.stop()
        self.infer.stop()
        self.producer.flush(timeout=30)
        self.checkpoint.commit()
        self._close_consumer()
        log.info("stopped cleanly; last committed offsets by partition: %s", dict(sorted(
            self.checkpoint.last_committed.items())))
        return 0

    def _close_consumer(self) -> None:
        try:
            self.consumer.close(autocommit=False)
        except Exception as e:  # noqa: BLE001 -- closing is best effort; what is uncommitted is re-delivered
            log.warning("closing the consumer failed: %s", e)

    def _owns(self, valid: Valid) -> bool:
        return self.checkpoint.owns(valid.received)

    def _fail(self, error: BaseException) -> None:
        """A stage hit an error the policy says to stop on; the main loop stops at its next round."""
        if self._fatal is None:
            self._fatal = error
