"""Re-publish dead letters to their source topic, once each.

Each replayed event is the original record (value, key and headers) with one header more,
``tagstream-replay-of: catalog.events.dlq/<partition>/<offset>``. After the broker acknowledges the events, a
``DeadLetterReplay`` per dead letter goes to the compacted ``tagstream.dlq.replays``; a later replay reads
those and refuses what was replayed already, unless forced. The steps run in that order so that a crash
between them can only replay an event twice (the tagger tags it again, with the same ``event_id``), never
record a replay that did not happen.
"""

from __future__ import annotations

import base64
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from kafka.errors import KafkaError

from contracts import REPLAY_HEADER, DeadLetterReplay, SourcePosition, Topics
from runtime.kafka import producer
from runtime.settings import KafkaSettings
from tools.dlq.errors import DlqError
from tools.dlq.reader import Letter

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """What a replay will do: the letters to publish, and the ones it leaves out with the reason."""

    todo: list[Letter] = field(default_factory=list)
    replayed_before: list[Letter] = field(default_factory=list)
    truncated: list[Letter] = field(default_factory=list)


def plan(letters: list[Letter], done: dict[tuple[int, int], DeadLetterReplay], *, force: bool) -> Plan:
    result = Plan()
    for letter in letters:
        if letter.dead is None:
            continue
        if letter.dead.original_truncated:
            result.truncated.append(letter)  # the bytes are incomplete: replaying them would fail again
        elif (letter.partition, letter.offset) in done and not force:
            result.replayed_before.append(letter)
        else:
            result.todo.append(letter)
    return result


def _event_id(value: bytes) -> str | None:
    try:
        doc = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return str(doc["id"])[:128] if isinstance(doc, dict) and "id" in doc else None


def replay(settings: KafkaSettings, letters: list[Letter], done: dict[tuple[int, int], DeadLetterReplay], *,
           by: str) -> list[DeadLetterReplay]:
    """Publish ``letters`` to ``catalog.events`` and record each replay; returns the records written."""
    client = producer(settings, client_id="dlq-replay")
    try:
        sent = []
        for letter in letters:
            dead = letter.dead
            if dead is None:
                continue
            value = base64.b64decode(dead.original_value_b64)
            key = base64.b64decode(dead.original_key_b64) if dead.original_key_b64 else None
            marker = f"{Topics.DEAD_LETTERS.name}/{letter.partition}/{letter.offset}".encode()
            headers = [(name, base64.b64decode(v)) for name, v in dead.original_headers if name != REPLAY_HEADER]
            future = client.send(Topics.EVENTS.name, value=value, key=key, headers=[*headers, (REPLAY_HEADER, marker)])
            sent.append((letter, value, future))
        client.flush(timeout=30)
        records = []
        for letter, value, future in sent:
            metadata = future.get(timeout=30)
            dead = letter.dead
            if dead is None:
                continue
            records.append(DeadLetterReplay(
                dead_letter=SourcePosition(topic=Topics.DEAD_LETTERS.name, partition=letter.partition,
                                           offset=letter.offset),
                original=dead.source,
                republished=SourcePosition(topic=Topics.EVENTS.name, partition=metadata.partition,
                                           offset=metadata.offset),
                event_id=_event_id(value), code=dead.error.code,
                forced=(letter.partition, letter.offset) in done, by=by, time=datetime.now(UTC)))
        for record in records:
            client.send(Topics.DLQ_REPLAYS.name, key=record.key, value=record.to_bytes())
        client.flush(timeout=30)
        return records
    except KafkaError as e:
        raise DlqError(f"replay stopped: the broker did not acknowledge ({type(e).__name__}: {e})",
                       hint="events acknowledged before the failure were replayed but may not be recorded: a "
                            "second replay can tag them twice (same event_id); check `tagstream dlq list`") from e
    finally:
        client.close(timeout=10)
