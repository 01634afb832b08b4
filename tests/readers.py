"""Consumers the tests open to read topics, closed after every test by ``tests/conftest.py``.

A reader left open keeps its client's IO thread reconnecting to a broker the test has stopped: log noise after
the test, and CPU taken from the tests that follow on the same worker.
"""

from __future__ import annotations

import contextlib
from typing import Any, TypeVar

C = TypeVar("C")
_open: list[Any] = []


def track(consumer: C) -> C:
    """Close ``consumer`` after the test that opened it (closing it earlier as well is fine)."""
    _open.append(consumer)
    return consumer


def close_all() -> None:
    while _open:
        consumer = _open.pop()
        with contextlib.suppress(Exception):  # a reader of a stopped broker closes with a complaint
            consumer.close()
