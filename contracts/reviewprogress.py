"""ReviewProgress: which review items a console group decided above its committed offset.

Reviewers decide items out of order (several at once, leases that expire), and a consumer group's offset can
only say "everything below this is done". So after each commit the console also writes, per partition, the
offsets decided above it, on the compacted ``tagstream.review.progress`` keyed ``<group>:<partition>``. A
console that takes the partition over (after a restart or a rebalance) skips those offsets instead of
showing reviewers items that were already decided. The record lists only offsets whose labels the broker
acknowledged, so skipping them never loses a decision; a stale record only means an item is shown again.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from contracts.base import SCHEMA_VERSION, ContractModel


def progress_key(group: str, partition: int) -> bytes:
    return f"{group}:{partition}".encode()


class ReviewProgress(ContractModel):
    """One partition of ``catalog.review`` as one console group left it. Kafka key = ``<group>:<partition>``."""

    schema_version: Literal[1] = SCHEMA_VERSION
    group: Annotated[str, Field(min_length=1, max_length=256)]
    partition: Annotated[int, Field(ge=0)]
    committed: Annotated[int, Field(ge=0, description="the group's committed offset when this was written")]
    decided: list[Annotated[int, Field(ge=0)]] = Field(
        default_factory=list, description="offsets at or above `committed` whose decisions were acknowledged")
    time: AwareDatetime

    @property
    def key(self) -> bytes:
        return progress_key(self.group, self.partition)
