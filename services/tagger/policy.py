"""The tagger's error policy, in one place: for each failure, dead-letter, retry or stop.

- The event is at fault (``InputError``), or a decoder broke on its image: **dead-letter** it with the
  reason and move on; a poison message never stalls a partition.
- Triton failed, whatever the error: **retry** the batch while consumption is paused, after the wait
  the error asks for (``InferenceUnavailable.retry_after_s``) or an exponential backoff, whichever is
  longer; an outage is never the event's fault, so nothing is dead-lettered for it.
- The Kafka client failed while polling: a retriable error (a lost connection, a coordinator that
  moved) is **retried** on the next poll; any other error **stops** the pipeline, and the process's
  restart policy (``main.py``) decides whether it is rebuilt on fresh clients.
- The broker never acknowledged our output: **stop** without committing past it, so the events are
  re-delivered to whoever owns the partitions next.
"""

from __future__ import annotations

from enum import StrEnum

from kafka.errors import RetriableError

from contracts import ErrorCode
from modelspec.errors import InputError
from services.tagger.errors import InferenceUnavailable


class Stage(StrEnum):
    VALIDATE = "validate"
    DECODE = "decode"
    INFER = "infer"
    PRODUCE = "produce"
    POLL = "poll"


class Action(StrEnum):
    DEAD_LETTER = "dead_letter"
    RETRY = "retry"
    STOP = "stop"


def decide(stage: Stage, error: BaseException) -> Action:
    if isinstance(error, InputError) or stage in (Stage.VALIDATE, Stage.DECODE):
        return Action.DEAD_LETTER
    if stage is Stage.INFER:
        return Action.RETRY
    if stage is Stage.POLL and isinstance(error, RetriableError):
        return Action.RETRY
    return Action.STOP


def retry_wait(error: BaseException, backoff_s: float) -> float:
    """How long to wait before retrying after ``error``: at least what it asks for, at least the backoff."""
    asked = error.retry_after_s if isinstance(error, InferenceUnavailable) else None
    return max(backoff_s, asked or 0.0)


def as_input_error(error: BaseException) -> InputError:
    """The reason recorded in the dead letter; an unexpected decoder error is named by its type."""
    if isinstance(error, InputError):
        return error
    return InputError(ErrorCode.IMAGE_UNDECODABLE, f"image could not be decoded: {type(error).__name__}: {error}",
                      field="data.image")
