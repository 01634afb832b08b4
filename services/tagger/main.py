"""The tagger process: wire settings, clients, the image fetcher and the pipeline; SIGTERM drains and exits 0.

The rollout state is followed for the whole process (``rollout.statetopic.RolloutFollower`` reads the compacted
``tagstream.rollout`` topic on its own thread and hands every new state to the router), across restarts of the
pipeline. Consumption starts once the topic was read to its end (at most ``rollout_wait_s``), so a tagger that
(re)starts mid-rollout routes its first events as every other tagger does.

If the pipeline stops on an error (a produce that the broker never acknowledged, a Kafka client
error that is not retriable, any unexpected exception), it is rebuilt on fresh clients after a
backoff, as an orchestrator would restart the process: nothing was committed past the failure, so
the events are re-delivered. ``TAGSTREAM_RESTART_ON_ERROR=false`` exits 1 instead. No exception ends
the process without this policy deciding.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
import time
from contextlib import ExitStack

from kafka import KafkaConsumer, KafkaProducer

from contracts import Topics
from rollout.statetopic import RolloutFollower
from runtime import kafka
from runtime.health import serving_health
from runtime.process import run_service
from services.tagger.fetch import FetchPolicy, ImageFetcher
from services.tagger.inference import TritonTagger
from services.tagger.pipeline import Tagger
from services.tagger.router import Router
from services.tagger.settings import TaggerSettings
from services.tagger.thresholds import CardLookup, cards_of, model_cards

log = logging.getLogger("services.tagger")

#: A pipeline that ran this long before it failed restarts after the shortest backoff again.
HEALTHY_RUN_S = 300.0


def _clients(settings: TaggerSettings) -> tuple[KafkaConsumer, KafkaProducer]:
    consumer = kafka.consumer(settings, group_id=settings.group_id, client_id=settings.instance_id,
                              session_timeout_ms=settings.session_timeout_ms,
                              heartbeat_interval_ms=settings.heartbeat_interval_ms,
                              max_poll_records=settings.max_poll_records)
    producer = kafka.producer(settings, client_id=settings.instance_id, batch_size=settings.produce_batch_bytes,
                              linger_ms=settings.produce_linger_ms)
    return consumer, producer


def _connect(settings: TaggerSettings, stop: threading.Event) -> tuple[KafkaConsumer, KafkaProducer] | None:
    """Consumer and producer; waits for the broker (with a log line now and then) until stopped."""
    return kafka.until_connected(lambda: _clients(settings), stop, bootstrap=settings.kafka_bootstrap)


def main() -> int:
    return run_service("tagger", TaggerSettings, serve, log_level=lambda s: s.log_level,
                       instance=lambda s: s.instance_id, on_signal="finishing in-flight work")


def serve(settings: TaggerSettings, stop: threading.Event) -> int:
    """Tag until ``stop``, rebuilding the pipeline after a failure as the restart policy says; the exit status."""
    log.info("starting with %s", settings.redacted())
    # Everything imported so far (modules, pydantic schemas, gRPC and Kafka machinery: some 50,000 objects)
    # lives as long as the process. Frozen, it is no longer scanned by full collections, which took 25 to
    # 75 ms at a time here, every thread waiting, and showed in the tail of event-to-tag latency.
    gc.freeze()
    current: list[Tagger | None] = [None]
    with ExitStack() as stack:
        stack.enter_context(serving_health(settings.metrics_host, settings.metrics_port, lambda: current[0]))
        router = Router(settings.triton_model, settings.triton_model_version)
        if settings.follow_rollout:
            stack.callback(_follow(settings, router, stop).stop)
        cards = model_cards(settings, client_id=f"{settings.instance_id}-models")  # each version's review thresholds
        cards.start()
        stack.callback(cards.stop)
        if not cards.wait_caught_up(settings.model_cards_wait_s):
            log.warning("%s not read to its end within %.0f s; tagging anyway, versions without a card yet held to "
                        "TAGSTREAM_REVIEW_THRESHOLD", Topics.MODELS.name, settings.model_cards_wait_s)
        attempt = 0
        while True:
            started = time.monotonic()
            code = _serve(settings, stop, current, router, cards_of(cards))
            if code == 0 or stop.is_set() or not settings.restart_on_error:
                return code
            attempt = 1 if time.monotonic() - started > HEALTHY_RUN_S else attempt + 1
            delay = min(30.0, 2.0**attempt)
            log.warning("pipeline stopped on an error; restarting on fresh clients in %.0f s (attempt %d); "
                        "uncommitted events will be re-delivered", delay, attempt)
            current[0] = None
            stop.wait(delay)


def _follow(settings: TaggerSettings, router: Router, stop: threading.Event) -> RolloutFollower:
    """Follow ``tagstream.rollout`` into ``router``; wait until it is read to its end (or ``rollout_wait_s``)."""
    follower = RolloutFollower(settings, client_id=f"{settings.instance_id}-rollout")
    follower.on_change(router.update)
    follower.start()
    deadline = time.monotonic() + settings.rollout_wait_s
    while not follower.wait_caught_up(0.2) and not stop.is_set():
        if time.monotonic() > deadline:
            log.warning("tagstream.rollout not read to its end within %.0f s: routing to version %s until a rollout "
                        "state arrives", settings.rollout_wait_s, settings.triton_model_version or "(Triton's latest)")
            break
    if follower.caught_up:
        state = router.state
        log.info("following tagstream.rollout: %s", "no rollout state yet" if state is None else
                 f"revision {state.status.revision}, stage {state.status.step or state.status.stage.value}")
    return follower


def _serve(settings: TaggerSettings, stop: threading.Event, current: list[Tagger | None], router: Router,
           cards: CardLookup) -> int:
    """One life of the pipeline on fresh Kafka and Triton clients; returns its exit code (1 on any error)."""
    try:
        with ExitStack() as stack:
            clients = _connect(settings, stop)
            if clients is None:
                return 0
            consumer, producer = clients
            stack.callback(producer.close, timeout=10)
            stack.callback(_close_quietly, consumer)
            triton = TritonTagger(settings.triton_url, settings.triton_model, settings.triton_model_version,
                                  settings.triton_timeout_s)
            stack.callback(triton.close)
            fetcher = stack.enter_context(ImageFetcher(FetchPolicy(
                timeout_s=settings.fetch_timeout_s, max_bytes=settings.image_max_bytes,
                allow_hosts=frozenset(settings.url_allow_hosts))))
            tagger = Tagger(settings, consumer=consumer, producer=producer, triton=triton, fetcher=fetcher,
                            router=router, cards=cards)
            current[0] = tagger
            return tagger.run(stop)
    except Exception:  # the restart policy in main() decides what happens next
        log.exception("the pipeline failed")
        return 1


def _close_quietly(consumer: KafkaConsumer) -> None:
    try:
        consumer.close(autocommit=False)
    except Exception as e:  # noqa: BLE001 -- closing is best effort; what is uncommitted is re-delivered
        log.warning("closing the consumer failed: %s", e)


if __name__ == "__main__":
    sys.exit(main())
