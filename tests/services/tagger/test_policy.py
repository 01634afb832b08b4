import pytest
from kafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError

from contracts import ErrorCode
from modelspec.errors import InputError
from services.tagger.errors import InferenceUnavailable
from services.tagger.policy import Action, Stage, as_input_error, decide, retry_wait

BAD_IMAGE = InputError(ErrorCode.IMAGE_UNDECODABLE, "broken", field="data.image")


@pytest.mark.parametrize(("stage", "error", "action"), [
    (Stage.VALIDATE, InputError(ErrorCode.NOT_JSON, "x"), Action.DEAD_LETTER),
    (Stage.DECODE, BAD_IMAGE, Action.DEAD_LETTER),
    (Stage.DECODE, RuntimeError("decoder bug"), Action.DEAD_LETTER),
    (Stage.INFER, InferenceUnavailable("down"), Action.RETRY),
    (Stage.INFER, ValueError("odd answer"), Action.RETRY),
    (Stage.PRODUCE, KafkaTimeoutError("no ack"), Action.STOP),
    (Stage.POLL, KafkaConnectionError("broker went away"), Action.RETRY),
    (Stage.POLL, KafkaError("User rebalance callback throws an error"), Action.STOP),
])
def test_policy_table(stage, error, action):
    assert decide(stage, error) is action


def test_an_outage_is_never_dead_lettered():
    assert decide(Stage.INFER, InferenceUnavailable("down")) is not Action.DEAD_LETTER


def test_unexpected_decoder_errors_become_undecodable_with_the_type_named():
    error = as_input_error(RuntimeError("boom"))
    assert error.error_code is ErrorCode.IMAGE_UNDECODABLE
    assert error.field == "data.image"
    assert "RuntimeError: boom" in error.message
    assert as_input_error(BAD_IMAGE) is BAD_IMAGE


@pytest.mark.parametrize(("error", "backoff", "wait"), [
    (InferenceUnavailable("busy", retry_after_s=3.0), 0.2, 3.0),  # the server's wait, when longer
    (InferenceUnavailable("busy", retry_after_s=0.1), 0.8, 0.8),  # never shorter than the backoff
    (InferenceUnavailable("down"), 0.4, 0.4),  # no hint: the backoff
    (ValueError("odd answer"), 0.4, 0.4),
])
def test_retry_waits_what_the_error_asks_and_at_least_the_backoff(error, backoff, wait):
    assert retry_wait(error, backoff) == wait
