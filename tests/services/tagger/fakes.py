"""Fake Kafka, Triton and fetcher clients for the tagger's unit tests (integration tests use real ones)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any

import numpy as np
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import KafkaTimeoutError
from kafka.future import Future as KafkaFuture

from contracts import Topics
from modelspec.taxonomy import ATTRIBUTES
from modelspec.tensors import OOD_OUTPUT, output_name
from services.tagger.errors import InferenceUnavailable
from services.tagger.pipeline import Tagger
from services.tagger.router import Router
from services.tagger.settings import TaggerSettings
from services.tagger.thresholds import CardLookup

TP = TopicPartition(Topics.EVENTS.name, 0)


def drive(coroutine: Coroutine[Any, Any, Any], timeout_s: float = 10.0) -> Any:
    """Run a rebalance-listener coroutine as kafka-python's IO loop does: resume it when the future it awaits
    (a ``kafka.future.Future``) is done."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            awaited = coroutine.send(None)
        except StopIteration as stop:
            return stop.value
        while not awaited.is_done:
            if time.monotonic() > deadline:
                raise TimeoutError("the listener awaited a future that never finished")
            time.sleep(0.002)


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def add_callback(self, fn: Any) -> FakeFuture:
        if self.error is None:
            fn(None)
        return self

    def add_errback(self, fn: Any) -> FakeFuture:
        if self.error is not None:
            fn(self.error)
        return self


class FakeProducer:
    """Acknowledges every record at once (or refuses every one with ``fail``); keeps them in send order."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self.headers: list[list[tuple[str, bytes]]] = []  # each sent record's, in the same order
        self.fail = fail
        self._lock = threading.Lock()

    def send(self, topic: str, key: bytes | None, value: bytes | None,
             headers: list[tuple[str, bytes]] | None = None) -> FakeFuture:
        with self._lock:
            self.sent.append((topic, key, value))
            self.headers.append(headers or [])
        return FakeFuture(KafkaTimeoutError("not acknowledged") if self.fail else None)

    def values(self, topic: str) -> list[bytes | None]:
        with self._lock:
            return [value for t, _, value in self.sent if t == topic]

    def flush(self, timeout: float | None = None) -> None:
        pass


class FakeConsumer:
    """Hands out the records once, then stops the tagger once everything it read is committed.

    The rebalance listener is driven as kafka-python 3 drives it: ``async`` methods, awaited.
    ``on_poll`` runs before each poll with the poll count (e.g. to revoke partitions mid-stream).
    """

    def __init__(self, values: list[bytes], stop: threading.Event, *, stop_when_committed: bool = True,
                 max_polls: int = 400, on_poll: Callable[[FakeConsumer, int], None] | None = None) -> None:
        self.records = [ConsumerRecord(TP.topic, 0, -1, i, 0, 0, None, v, [], None, 0, len(v), 0)
                        for i, v in enumerate(values)]
        self.stop = stop
        self.stop_when_committed = stop_when_committed
        self.max_polls = max_polls
        self.on_poll = on_poll
        self.commits: list[dict[TopicPartition, int]] = []
        self.async_commits: list[dict[TopicPartition, int]] = []
        self.listener: Any = None
        self.polls = 0
        self.closed = False

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener

    def poll(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        self.polls += 1
        if self.on_poll is not None:
            self.on_poll(self, self.polls)
        if self.polls == 1:
            drive(self.listener.on_partitions_assigned({TP}))
            return {TP: self.records}
        if self.polls > self.max_polls:  # 40 s of fake polling: give up
            self.stop.set()
        threading.Event().wait(timeout_ms / 1000)
        return {}

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})
        if self.stop_when_committed and self.commits[-1].get(TP) == len(self.records):
            self.stop.set()

    def commit_async(self, offsets: dict[TopicPartition, Any]) -> KafkaFuture:
        self.async_commits.append({tp: meta.offset for tp, meta in offsets.items()})
        return KafkaFuture().success(None)

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def pause(self, *partitions: TopicPartition) -> None:
        pass

    def resume(self, *partitions: TopicPartition) -> None:
        pass

    def paused(self) -> set[TopicPartition]:
        return set()

    def position(self, tp: TopicPartition, timeout_ms: int | None = None) -> int:
        return len(self.records)

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.records)

    def close(self, autocommit: bool = True) -> None:
        if not self.closed and self.listener is not None:
            drive(self.listener.on_partitions_revoked({TP}))
        self.closed = True


class FakeTriton:
    """Answers like the served model: calibrated probabilities per head and an ``ood_score`` of shape (N, 1).

    ``confident``: every head puts 0.97 on one class (else a uniform guess); ``ood``: the score of each image;
    ``failures``: the first calls raise ``InferenceUnavailable`` asking to wait ``retry_after_s``; ``failing``:
    every call to these versions raises it; ``serving``: what ``ready`` says.
    """

    model = "catalog_tagger"
    url = "fake:8001"

    def __init__(self, failures: int = 0, *, confident: bool = False,
                 ood: Callable[[np.ndarray], float] = lambda _: 0.3, retry_after_s: float | None = None,
                 failing: frozenset[str] = frozenset()) -> None:
        self.failures = failures
        self.failing = failing
        self.serving = True
        self.confident = confident
        self.ood = ood
        self.retry_after_s = retry_after_s
        self.calls: list[tuple[str, str, int]] = []  # model, version, images

    def ready(self, model: str | None = None, version: str | None = None) -> bool:
        return self.serving and (version or "") not in self.failing

    def served_version(self, model: str | None = None, version: str | None = None) -> str:
        return version or "1"

    def infer(self, images: np.ndarray, *, model: str | None = None, version: str | None = None,
              ) -> dict[str, np.ndarray]:
        self.calls.append((model or self.model, version or "", images.shape[0]))
        if len(self.calls) <= self.failures:
            raise InferenceUnavailable("Triton is down", retry_after_s=self.retry_after_s)
        if (version or "") in self.failing:
            raise InferenceUnavailable(f"version {version} fails")
        n = images.shape[0]
        outputs = {}
        for a in ATTRIBUTES:
            probs = np.full((n, a.size), 1.0 / a.size, dtype=np.float32)
            if self.confident:
                probs[:] = 0.03 / (a.size - 1)
                probs[:, 0] = 0.97
            outputs[output_name(a.name)] = probs
        outputs[OOD_OUTPUT] = np.array([[self.ood(image)] for image in images], dtype=np.float32)
        return outputs


class FakeFetcher:
    """Serves URLs from a dict; a URL in ``slow`` answers only when its event is set. Thread-safe."""

    def __init__(self, bodies: dict[str, bytes], slow: dict[str, threading.Event] | None = None) -> None:
        self.bodies = bodies
        self.slow = slow or {}
        self.urls: list[str] = []

    def fetch(self, url: str) -> Future[bytes]:
        self.urls.append(url)
        future: Future[bytes] = Future()

        def answer() -> None:
            if url in self.slow:
                self.slow[url].wait(10)
            future.set_result(self.bodies[url])

        threading.Thread(target=answer, daemon=True).start()
        return future


def run(values: list[bytes], *, producer: FakeProducer, triton: FakeTriton, fetcher: FakeFetcher | None = None,
        router: Router | None = None, settings: dict[str, Any] | None = None, cards: CardLookup | None = None,
        **consumer_options: Any) -> tuple[int, FakeConsumer]:
    """Run a tagger on fake clients over ``values`` until the consumer stops it (no audit sample unless
    ``settings`` asks for one; ``cards``: the model cards it knows, none by default)."""
    stop = threading.Event()
    consumer = FakeConsumer(values, stop, **consumer_options)
    tagger_settings = TaggerSettings(**{"commit_interval_ms": 20, "batch_max_wait_ms": 1, "triton_backoff_max_s": 0.05,
                                 "rebalance_drain_s": 2.0, "audit_share": 0.0, **(settings or {})})
    tagger = Tagger(tagger_settings, consumer=consumer, producer=producer, triton=triton,  # type: ignore[arg-type]
                    fetcher=fetcher or FakeFetcher({}), router=router, cards=cards)
    return tagger.run(stop), consumer
