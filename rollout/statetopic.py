"""The compacted ``tagstream.rollout`` topic: the controller writes the one rollout state; everyone follows it.

``StateWriter.publish`` writes a ``RolloutState`` keyed by the model name and returns once the broker
acknowledged it (acks=all), or raises ``StatePublishError``: a state is in force only once it is on the topic.

``RolloutFollower`` is what a tagger (and a restarting controller) runs: one thread reads the topic from the
beginning and keeps the latest state of each model (``runtime.compacted``, which every follower of a compacted
topic shares); ``latest(model)`` answers from memory, thread-safe, without touching Kafka. ``wait_caught_up``
returns once the reader reached the high watermark (so the state it holds is the topic's latest, not an older
one). Listeners registered with ``on_change`` are called on the reader thread with every new state, in topic
order; a record that does not validate is skipped with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kafka.errors import KafkaError

from contracts import RolloutState, Topics
from rollout.errors import StatePublishError
from runtime import kafka
from runtime.compacted import CompactedFollower
from runtime.settings import KafkaSettings

log = logging.getLogger(__name__)

TOPIC = Topics.ROLLOUT.name

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
    """The latest ``RolloutState`` of every model on ``tagstream.rollout``, kept current by a reader thread
    (``runtime.compacted.CompactedFollower``; the record key is the model name)."""

    def __init__(self, settings: KafkaSettings, *, client_id: str = "rollout-follower") -> None:
        self._follower = CompactedFollower(settings, TOPIC, RolloutState.model_validate_json, client_id=client_id)

    def latest(self, model: str) -> RolloutState | None:
        return self._follower.latest(model)

    def on_change(self, listener: Listener) -> None:
        def on_record(_key: str, state: RolloutState | None) -> None:
            if state is not None:  # a tombstone deletes the model's record; listeners hear of new states only
                listener(state)
        self._follower.on_change(on_record)

    def wait_caught_up(self, timeout_s: float) -> bool:
        return self._follower.wait_caught_up(timeout_s)

    @property
    def caught_up(self) -> bool:
        return self._follower.caught_up

    def start(self) -> None:
        self._follower.start()

    def stop(self) -> None:
        self._follower.stop()
