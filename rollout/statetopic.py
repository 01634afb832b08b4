"""The compacted ``tagstream.rollout`` topic: the controller writes the one rollout state; everyone follows it.

``StateWriter.publish`` writes a ``RolloutState`` keyed by the model name and returns once the broker
acknowledged it (acks=all), or raises ``StatePublishError``: a state is in force only once it is on the topic.

``RolloutFollower`` is what a tagger (and a restarting controller) runs: one thread reads the topic from the
beginning and keeps the latest state of each model; ``latest(model)`` answers from memory, thread-safe, without
touching Kafka. ``wait_caught_up`` returns once the reader reached the high watermark it saw after assignment (so
the state it holds is the topic's latest, not an older one). Listeners registered with ``on_change`` are called on
the reader thread with every new state, in topic order; a record that does not validate is skipped with a warning.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from kafka import TopicPartition
from kafka.errors import KafkaError
from pydantic import ValidationError

from contracts import RolloutState, Topics
from rollout.errors import StatePublishError
from runtime import kafka
from runtime.settings import KafkaSettings

log = logging.getLogger(__name__)

TOPIC = Topics.ROLLOUT.name
#: How long a follower's poll waits for new records: a state change reaches it within about this (plus a fetch).
POLL_MS = 100

Listener = Callable[[RolloutState], None]


class StateWriter:
    def __init__(self, settings: KafkaSettings, *, client_id: str = "rollout-controller",
                 timeout_s: float = 10.0) -> None:
        self._producer = kafka.producer(settings, client_id=client_id, linger_ms=0)
        self._timeout_s = timeout_s

    def publish(self, state: RolloutState) -> None:
        try:
            self._producer.send(TOPIC, key=state.key, value=state.to_bytes()).get(timeout=self._timeout_s)
        except KafkaError as e:
            raise StatePublishError(f"could not write the rollout state of {state.spec.model} to {TOPIC}: {e}",
                                    hint="check the broker; nothing changed") from e

    def close(self) -> None:
        self._producer.close(timeout=5)


class RolloutFollower:
    """The latest ``RolloutState`` of every model on ``tagstream.rollout``, kept current by a reader thread."""

    def __init__(self, settings: KafkaSettings, *, client_id: str = "rollout-follower") -> None:
        self._settings = settings
        self._client_id = client_id
        self._lock = threading.Lock()
        self._states: dict[str, RolloutState] = {}
        self._listeners: list[Listener] = []
        self._caught_up = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rollout-follower", daemon=True)

    def latest(self, model: str) -> RolloutState | None:
        with self._lock:
            return self._states.get(model)

    def on_change(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def wait_caught_up(self, timeout_s: float) -> bool:
        return self._caught_up.wait(timeout_s)

    @property
    def caught_up(self) -> bool:
        return self._caught_up.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        delay = 0.5
        while not self._stop.is_set():
            try:
                self._follow()
                return
            except KafkaError as e:
                log.warning("following %s failed (%s); retrying in %.1f s", TOPIC, e, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, 5.0)

    def _follow(self) -> None:
        consumer = kafka.consumer(self._settings, group_id=None, client_id=self._client_id)
        try:
            partitions = self._assign(consumer)
            consumer.seek_to_beginning(*partitions)
            while not self._stop.is_set():
                for records in consumer.poll(timeout_ms=POLL_MS).values():
                    for record in records:
                        self._apply(record.key, record.value)
                if not self._caught_up.is_set() and partitions and all(
                        consumer.highwater(tp) is not None and consumer.position(tp) >= consumer.highwater(tp)
                        for tp in partitions):
                    self._caught_up.set()
        finally:
            consumer.close()

    def _assign(self, consumer: kafka.KafkaConsumer) -> list[TopicPartition]:
        while not self._stop.is_set():
            found = consumer.partitions_for_topic(TOPIC)
            if found:
                partitions = [TopicPartition(TOPIC, p) for p in sorted(found)]
                consumer.assign(partitions)
                return partitions
            log.info("waiting for topic %s", TOPIC)
            self._stop.wait(1.0)
        return []

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if value is None:  # a tombstone: the model's rollout record was deleted
            if key is not None:
                with self._lock:
                    self._states.pop(key.decode(errors="replace"), None)
            return
        try:
            state = RolloutState.model_validate_json(value)
        except ValidationError as e:
            log.warning("skipping a record on %s that is not a RolloutState: %s", TOPIC, e.errors()[:1])
            return
        with self._lock:
            self._states[state.spec.model] = state
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(state)
            except Exception:  # a listener's bug must not stop the following
                log.exception("a rollout-state listener failed on revision %d", state.status.revision)
