"""Follow a compacted topic: the latest value of every key, kept current by one reader thread.

Compacted topics hold state rather than events (the rollout state on ``tagstream.rollout``, each model version's
card on ``tagstream.models``): a reader wants the newest record of every key, from the beginning, and then every
change. ``CompactedFollower`` does that once for all of them:

- ``start`` starts a thread that assigns every partition of the topic (waiting for the topic to exist), seeks to
  the beginning and polls until ``stop``; a Kafka error restarts the reading on a fresh consumer after a backoff;
- ``latest(key)`` and ``items()`` answer from memory, thread-safe, without touching Kafka;
- ``wait_caught_up`` returns once the reader reached the high watermark of every partition, taken from fetch
  responses (Tansu's ``end_offsets`` answer is wrong for multi-record batches), so what it holds is the topic's
  latest, not an older value;
- listeners registered with ``on_change`` are called on the reader thread with ``(key, value)`` for every
  record in topic order, ``value`` None for a tombstone (the key was deleted); a listener that raises is logged
  and the following goes on;
- a record that ``parse`` refuses (``ValueError``, which pydantic's ``ValidationError`` is) or that has no key
  is skipped with a warning.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, Self, TypeVar

from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from runtime import kafka
from runtime.settings import KafkaSettings

log = logging.getLogger(__name__)

T = TypeVar("T")
#: How long the broker holds an empty fetch, and a poll waits for new records: a change reaches a follower within
#: about this. Every follower of every process fetches this often while nothing changes: at the 50 ms of the
#: tagger's own consumer, a tagger's two followers took a seventh of its CPU (py-spy, draining a backlog).
POLL_MS = 250
#: The first wait before reading again after a Kafka error; it doubles up to ``MAX_BACKOFF_S``.
FIRST_BACKOFF_S, MAX_BACKOFF_S = 0.5, 5.0
#: How long one attempt waits for a broker to answer (kafka-python's 30 s would hold up ``stop``).
BOOTSTRAP_TIMEOUT_MS = 3000

Listener = Callable[[str, T | None], None]


class CompactedFollower(Generic[T]):
    """The latest value of every key on ``topic``, parsed by ``parse``; start/stop (or use as a context)."""

    def __init__(self, settings: KafkaSettings, topic: str, parse: Callable[[bytes], T], *, client_id: str) -> None:
        self.topic = topic
        self._settings = settings
        self._parse = parse
        self._client_id = client_id
        self._lock = threading.Lock()
        self._values: dict[str, T] = {}
        self._listeners: list[Listener[T]] = []
        self._caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"follow-{topic}", daemon=True)

    # -- reading what is known --------------------------------------------------------------------------------

    def latest(self, key: str) -> T | None:
        with self._lock:
            return self._values.get(key)

    def items(self) -> dict[str, T]:
        """A copy of every key's latest value."""
        with self._lock:
            return dict(self._values)

    def on_change(self, listener: Listener[T]) -> None:
        with self._lock:
            self._listeners.append(listener)

    def wait_caught_up(self, timeout_s: float) -> bool:
        return self._caught_up.wait(timeout_s)

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    # -- the reader thread --------------------------------------------------------------------------------------

    def _run(self) -> None:
        delay = FIRST_BACKOFF_S
        while not self._stop.is_set():
            try:
                self._follow()
                return
            except KafkaError as e:
                log.warning("following %s failed (%s); retrying in %.1f s", self.topic, e, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF_S)

    def _follow(self) -> None:
        consumer = kafka.consumer(self._settings, group_id=None, client_id=self._client_id,
                                  bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS, fetch_max_wait_ms=POLL_MS)
        try:
            partitions = self._assign(consumer)
            if partitions:
                consumer.seek_to_beginning(*partitions)
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=POLL_MS).values():
                    for record in records:
                        self._apply(record.key, record.value, f"{record.topic}[{record.partition}]@{record.offset}")
                if not self._caught_up.is_set() and partitions and all(
                        consumer.highwater(tp) is not None and consumer.position(tp) >= consumer.highwater(tp)
                        for tp in partitions):
                    self._caught_up.set()
        finally:
            consumer.close()

    def _assign(self, consumer: KafkaConsumer) -> list[TopicPartition]:
        while not self._stop.is_set():
            found = consumer.partitions_for_topic(self.topic)
            if found:
                partitions = [TopicPartition(self.topic, p) for p in sorted(found)]
                consumer.assign(partitions)
                return partitions
            log.info("waiting for topic %s", self.topic)
            self._stop.wait(1.0)
        return []

    def _apply(self, raw_key: bytes | None, raw_value: bytes | None, position: str) -> None:
        if raw_key is None:
            log.warning("skipping %s: a record without a key means nothing on a compacted topic", position)
            return
        key = raw_key.decode(errors="replace")
        value: T | None = None
        if raw_value is not None:
            try:
                value = self._parse(raw_value)
            except ValueError as e:
                log.warning("skipping %s: not a valid record of %s: %s", position, self.topic, str(e)[:300])
                return
        with self._lock:
            if value is None:
                self._values.pop(key, None)
            else:
                self._values[key] = value
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(key, value)
            except Exception:  # a listener's bug must not stop the following
                log.exception("a listener of %s failed on %s", self.topic, position)
