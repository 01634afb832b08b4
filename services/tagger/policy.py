"""The tagger's error policy, in one place: for each failure, dead-letter, retry or stop.

- The event is at fault (``InputError``), or a decoder broke on its image: **dead-letter** it with the
  reason and move on; a poison message never stalls a partition.
- Triton failed, whatever the error: **retry** the batch with backoff while consumption is paused;
  an outage is never the event's fault, so nothing is dead-lettered for it.
- The broker never acknowledged our output: **stop** without committing past it, so the events are
  re-delivered to whoever owns the partitions next.
"""

from __future__ import annotations

from enum import StrEnum

from contracts import ErrorCode
from modelspec.errors import InputError


class Stage(StrEnum):
    VALIDATE = "validate"
    DECODE = "decode"
    INFER = "infer"
    PRODUCE = "produce"


class Action(StrEnum):
    DEAD_LETTER = "dead_letter"
    RETRY = "retry"
    STOP = "stop"


def decide(stage: Stage, error: BaseException) -> Action:
    if isinstance(error, InputError) or stage in (Stage.VALIDATE, Stage.DECODE):
        return Action.DEAD_LETTER
    if stage is Stage.INFER:
        return Action.RETRY
    return Action.STOP


def as_input_error(error: BaseException) -> InputError:
    """The reason recorded in the dead letter; an unexpected decoder error is named by its type."""
    if isinstance(error, InputError):
        return error
    return InputError(ErrorCode.IMAGE_UNDECODABLE, f"image could not be decoded: {type(error).__name__}: {error}",
                      field="data.image")
