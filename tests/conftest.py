"""Fixtures shared by every test room: free loopback ports and local stacks that always stop.

Integration tests (``@pytest.mark.integration``) get real processes from these factories: each stack
lives in its own temporary state directory on free ports, never the defaults, so the tests run
beside a developer's own ``tagstream up``. Do not kill or stop components of the session-scoped
stacks (``triton_stack``, ``local_stack``); use ``stack_factory`` for that.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import readers
from tools.stack import LocalStack, StackSettings
from tools.stack.ports import private_settings

#: ``stack_factory(components=None, **settings_overrides) -> LocalStack`` (started, ready).
StackFactory = Callable[..., LocalStack]

#: Consumer-group timings that make a group join take seconds, not tens of seconds (see environment.md).
FAST_GROUP_ENV = {"TAGSTREAM_SESSION_TIMEOUT_MS": "6000", "TAGSTREAM_HEARTBEAT_INTERVAL_MS": "2000"}


def stack_settings(state_dir: Path, **overrides: Any) -> StackSettings:
    """A private stack's settings (free ports) with the tests' defaults; ``overrides`` win."""
    defaults: dict[str, Any] = {"partitions": 4, "tagger_env": dict(FAST_GROUP_ENV), "ready_timeout_s": 90.0}
    return private_settings(state_dir, **{**defaults, **overrides})


@contextlib.contextmanager
def _stacks(root: Path) -> Iterator[StackFactory]:
    stacks: list[LocalStack] = []

    def make(components: list[str] | None = None, **overrides: Any) -> LocalStack:
        stack = LocalStack(stack_settings(root / f"stack-{len(stacks)}", **overrides))
        stacks.append(stack)
        stack.start(components)
        return stack

    try:
        yield make
    finally:
        for stack in reversed(stacks):
            stack.stop()


@pytest.fixture(autouse=True)
def _close_readers() -> Iterator[None]:
    """Close the topic readers a test opened (``tests/readers.py``)."""
    yield
    readers.close_all()


@pytest.fixture
def stack_factory(tmp_path: Path) -> Iterator[StackFactory]:
    """Start stacks for one test; every one is stopped after it, pass or fail."""
    with _stacks(tmp_path) as make:
        yield make


@pytest.fixture(scope="session")
def session_stack_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackFactory]:
    with _stacks(tmp_path_factory.mktemp("stacks")) as make:
        yield make


@pytest.fixture(scope="session")
def _session_stack(session_stack_factory: StackFactory) -> LocalStack:
    """One stack per test session, started a component at a time by the fixtures below."""
    return session_stack_factory([], taggers=1)


@pytest.fixture(scope="session")
def triton_stack(_session_stack: LocalStack) -> LocalStack:
    """The session stack with Triton running (about 10 s to start, once)."""
    _session_stack.start(["triton"])
    return _session_stack


@pytest.fixture(scope="session")
def local_stack(_session_stack: LocalStack) -> LocalStack:
    """The session stack with everything running: memory broker with topics, Triton, one tagger."""
    _session_stack.start()
    return _session_stack


@pytest.fixture
def held_port() -> Iterator[int]:
    """A loopback port something else listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n N --dist loadgroup`` (``make test``), keep each module on one worker, so its module- and
    session-scoped stacks start once, unless the module is marked ``spread``: its long tests then run side by side."""
    for item in items:
        if item.get_closest_marker("spread") is None:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
