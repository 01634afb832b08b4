"""The keeper: its backoff policy, and real components that crash, keep crashing, and come back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tools.stack.cli import describe
from tools.stack.keeper import Keeper, backoff_s
from tools.stack.lock import LOCK_FILE, stack_lock
from tools.stack.record import FORMAT_VERSION, RecordedProcess, Restarts, StackRecord


def _until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class Clock:
    """Wall-clock seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("failures", "expected_s"), [
    (0, 1.0), (1, 1.0), (2, 2.0), (3, 4.0), (6, 32.0), (7, 60.0), (30, 60.0),
])
def test_backoff_doubles_with_each_failure_in_a_row_up_to_the_cap(failures: int, expected_s: float) -> None:
    assert backoff_s(failures, base_s=1.0, max_s=60.0) == expected_s


def test_record_keeps_the_keeper_restarts_and_start_times(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    record = StackRecord(settings={"taggers": 1},
                         components={"broker": RecordedProcess(11, "42", "kafka", "broker.log", started_at=5.0)},
                         keeper=RecordedProcess(12, "43", "keeps", "keeper.log"),
                         restarts={"tagger-0": Restarts(count=2, failures=1, last_exit="was killed by SIGKILL",
                                                        last_failure_at=7.0, retry_at=8.0)})
    record.save(path)
    assert StackRecord.load(path) == record
    assert (path.stat().st_mode & 0o777) == 0o600


def test_record_of_the_first_format_reads_without_keeper_or_restarts(tmp_path: Path) -> None:
    path = tmp_path / "stack.json"
    path.write_text('{"version": 1, "settings": {}, "components": {"broker": '
                    '{"pid": 11, "start_ticks": "42", "address": "kafka", "log": "broker.log"}}}')
    record = StackRecord.load(path)
    assert record is not None and FORMAT_VERSION == 2
    assert (record.keeper, record.restarts, record.components["broker"].started_at) == (None, {}, None)


def test_a_pending_restart_keeps_the_record_when_nothing_runs() -> None:
    assert StackRecord(settings={}).empty
    assert not StackRecord(settings={}, restarts={"broker": Restarts(failures=1, retry_at=3.0)}).empty


_TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("free")
except BlockingIOError:
    print("held")
"""


def _other_process_sees(lock_file: Path) -> str:
    return subprocess.run([sys.executable, "-c", _TRY_LOCK, str(lock_file)], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_stack_lock_is_reentrant_here_and_excludes_other_processes_until_released(tmp_path: Path) -> None:
    with stack_lock(tmp_path):
        with stack_lock(tmp_path):
            assert _other_process_sees(tmp_path / LOCK_FILE) == "held"
        assert _other_process_sees(tmp_path / LOCK_FILE) == "held", "the outer block still holds it"
    assert _other_process_sees(tmp_path / LOCK_FILE) == "free"


@pytest.mark.integration
def test_component_that_keeps_crashing_waits_twice_as_long_each_time_and_status_says_crash_loop(
        stack_factory) -> None:
    # tagger-0 exits with code 2 at once (invalid settings); the broker beside it must not be touched
    stack = stack_factory(["broker"], taggers=1, tagger_env={"TAGSTREAM_BATCH_MAX_SIZE": "0"},
                          restart_backoff_s=2.0, restart_backoff_max_s=10.0)
    broker_pid = stack.process("broker").pid
    clock = Clock()
    keeper = Keeper(stack, clock=clock)
    waits = []
    for _ in range(5):
        assert keeper.tick()
        restarts = stack.state.restarts("tagger-0")
        assert restarts.retry_at is not None
        waits.append(restarts.retry_at - clock.now)
        clock.now = restarts.retry_at
    assert waits == [2.0, 4.0, 8.0, 10.0, 10.0]
    tagger = {s.name: s for s in stack.status()}["tagger-0"]
    assert (tagger.restarts.failures, tagger.restarts.count, tagger.alive) == (5, 0, False)
    assert not tagger.healthy
    state = describe(tagger, clock.now - 3.0)
    assert "crash loop" in state and "code 2" in state and "restart in 3 s" in state
    assert "invalid settings" in tagger.log.read_text()
    assert tagger.log.read_text().count("by the keeper") == 4
    broker = {s.name: s for s in stack.status()}["broker"]
    assert (broker.pid, broker.ready) == (broker_pid, True)


@pytest.mark.integration
def test_crashed_broker_is_restarted_with_its_topics_and_its_backoff_resets_once_it_stays_up(stack_factory) -> None:
    stack = stack_factory(["broker"], taggers=0, restart_backoff_s=1.0, restart_stable_s=30.0)
    clock = Clock()
    keeper = Keeper(stack, clock=clock)
    old_pid = stack.process("broker").pid
    assert old_pid is not None
    os.killpg(old_pid, signal.SIGKILL)
    _until(lambda: not stack.process("broker").alive())

    keeper.tick()
    restarts = stack.state.restarts("broker")
    assert (restarts.failures, restarts.last_exit, restarts.retry_at) == (1, "was killed by SIGKILL",
                                                                         clock.now + 1.0)
    clock.now += 1.0
    keeper.tick()
    broker = {s.name: s for s in stack.status()}["broker"]
    assert broker.ready and broker.pid not in (None, old_pid)
    assert (broker.restarts.count, broker.restarts.failures, broker.restarts.retry_at) == (1, 1, None)
    from runtime.kafka import admin

    client = admin(stack.kafka_settings())
    try:
        assert "catalog.events" in set(client.list_topics()), "a memory broker comes back with every topic"
    finally:
        client.close()

    clock.now += 29.0
    keeper.tick()
    assert stack.state.restarts("broker").failures == 1
    clock.now += 2.0
    keeper.tick()
    assert (stack.state.restarts("broker").failures, stack.state.restarts("broker").count) == (0, 1)
