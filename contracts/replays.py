"""DeadLetterReplay: the record that a dead letter was re-published to its source topic.

``tagstream dlq replay`` writes one per dead letter it replays, on the compacted ``tagstream.dlq.replays``
keyed by the dead letter's position, after the replayed event is acknowledged. A later replay reads them
back and skips (or, when forced, repeats) what was replayed before; the topic survives restarts like any
other. The replayed event itself carries ``REPLAY_HEADER`` naming the dead letter it came from.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from contracts.base import SCHEMA_VERSION, ContractModel
from contracts.deadletter import ErrorCode, SourcePosition

#: Header added to a replayed event: ``<dead-letter topic>/<partition>/<offset>`` of the dead letter.
REPLAY_HEADER = "tagstream-replay-of"


def replay_key(partition: int, offset: int) -> bytes:
    """The Kafka key of a replay record: the dead letter's position in the dead-letter topic."""
    return f"{partition}:{offset}".encode()


class DeadLetterReplay(ContractModel):
    """One dead letter, re-published. Kafka key = ``<partition>:<offset>`` of the dead letter (``replay_key``)."""

    schema_version: Literal[1] = SCHEMA_VERSION
    dead_letter: SourcePosition = Field(description="where the dead letter is")
    original: SourcePosition = Field(description="where the event was first read")
    republished: SourcePosition = Field(description="where the replayed copy was written")
    event_id: str | None = Field(None, description="the event's id, when its bytes parse as an event")
    code: ErrorCode = Field(description="why the event had been dead-lettered")
    forced: bool = Field(False, description="replayed again although an earlier replay was recorded")
    by: Annotated[str, Field(min_length=1, max_length=128)] = Field(description="who ran the replay")
    time: AwareDatetime

    @property
    def key(self) -> bytes:
        return replay_key(self.dead_letter.partition, self.dead_letter.offset)
