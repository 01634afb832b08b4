"""Choosing dead letters: codes, ages and positions as the operator types them; what a replay leaves out."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from contracts import DeadLetter, DeadLetterReplay, ErrorCode, ErrorInfo, SourcePosition
from tools.dlq.errors import DlqError
from tools.dlq.reader import Letter
from tools.dlq.replay import plan
from tools.dlq.select import matching, parse_code, parse_position, parse_since

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def letter(offset: int, code: ErrorCode, age: timedelta, *, truncated: bool = False) -> Letter:
    dead = DeadLetter(original_value_b64=base64.b64encode(b"{}").decode(), original_truncated=truncated,
                      source=SourcePosition(topic="catalog.events", partition=0, offset=offset),
                      error=ErrorInfo(code=code, message="m"), consumer_group="g", time=NOW - age)
    return Letter(0, offset, dead)


@pytest.mark.parametrize(("text", "expected"), [("30m", NOW - timedelta(minutes=30)), ("2h", NOW - timedelta(hours=2)),
                                                ("1d", NOW - timedelta(days=1)),
                                                ("2026-12-01T09:00:00Z", datetime(2026, 12, 1, 9, tzinfo=UTC)),
                                                ("2026-12-01T09:00", datetime(2026, 12, 1, 9, tzinfo=UTC))])
def test_since_takes_a_duration_or_a_time(text, expected):
    assert parse_since(text, now=NOW) == expected


@pytest.mark.parametrize(("parse", "text", "field"), [(parse_since, "yesterday", "since"),
                                                      (parse_code, "image_broken", "code"),
                                                      (parse_position, "3:x", "offset"),
                                                      (parse_position, "-1", "offset")])
def test_bad_options_name_the_field_and_the_fix(parse, text, field):
    with pytest.raises(DlqError) as info:
        parse(text)
    assert info.value.field == field and info.value.hint


def test_positions_are_an_offset_or_partition_and_offset():
    assert parse_position("17") == (None, 17) and parse_position("2:17") == (2, 17)


def test_matching_filters_by_code_and_age_and_a_replay_leaves_out_what_it_cannot_or_did():
    letters = [letter(0, ErrorCode.IMAGE_URL_FAILED, timedelta(minutes=5)),
               letter(1, ErrorCode.IMAGE_URL_FAILED, timedelta(hours=3)),
               letter(2, ErrorCode.NOT_JSON, timedelta(minutes=1)),
               letter(3, ErrorCode.IMAGE_URL_FAILED, timedelta(minutes=1), truncated=True),
               Letter(0, 4, None, "not a DeadLetter")]
    chosen = matching(letters, ErrorCode.IMAGE_URL_FAILED, NOW - timedelta(hours=1))
    assert [x.offset for x in chosen] == [0, 3]
    done = {(0, 0): DeadLetterReplay(
        dead_letter=SourcePosition(topic="catalog.events.dlq", partition=0, offset=0),
        original=SourcePosition(topic="catalog.events", partition=0, offset=0),
        republished=SourcePosition(topic="catalog.events", partition=0, offset=9),
        code=ErrorCode.IMAGE_URL_FAILED, by="oncall", time=NOW)}
    result = plan(chosen, done, force=False)
    assert ([x.offset for x in result.todo], [x.offset for x in result.replayed_before],
            [x.offset for x in result.truncated]) == ([], [0], [3])
    assert [x.offset for x in plan(chosen, done, force=True).todo] == [0]


@pytest.mark.parametrize("command", [["dlq", "list"], ["dlq", "show"], ["dlq", "replay"], ["review"],
                                     ["review", "hash-password"]])
def test_the_new_commands_answer_help(command):
    from typer.testing import CliRunner

    from tools.cli.main import app

    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output, result.output
