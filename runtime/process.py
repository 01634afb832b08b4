"""How every service process runs: settings, logging and signals wired once; an expected failure is one line.

``run_service`` is a service's ``main`` but for what the service does. In order:

1. load the settings; invalid ones are one line on stderr (``error: <what is wrong> (<the fix>)``) and exit
   status 2, before anything starts or logs;
2. configure logging (one line per record, secrets masked);
3. make SIGTERM and SIGINT set a stop event (the handler only logs and requests; the service checks the event
   between units of work and finishes what it holds);
4. run the service with its settings and the stop event; its return value is the exit status.

A ``TagstreamError`` out of the service (a port in use, a model that cannot load, a broker that refused, a missing
token) is an expected failure: one line ``error: cannot run the <service>: <cause> (<the fix>)`` on stderr, as the
``tagstream`` command writes its own, and exit status 2. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import SettingsError as PydanticSettingsError

from contracts.errors import TagstreamError
from runtime.logs import configure

log = logging.getLogger(__name__)

#: The exit status of a process that stopped on a failure it can name (settings, a port, the model, the broker).
EXPECTED_FAILURE = 2

S = TypeVar("S")


def stop_on_signals(stop: threading.Event, *, doing: str = "stopping") -> None:
    """SIGTERM and SIGINT set ``stop``, with a log line ``<SIGNAL> received: <doing>``. Main thread only."""

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: %s", signal.Signals(signum).name, doing)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)


def fail(message: str) -> int:
    """One line on stderr, ``error: <message>``; the exit status of an expected failure."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return EXPECTED_FAILURE


def load_settings(name: str, load: Callable[[], S]) -> S | int:
    """``load()``, or the exit status after one line on stderr saying what is wrong with the settings."""
    try:
        return load()
    except TagstreamError as e:  # runtime.errors.SettingsError names the process, the setting and the fix
        return fail(str(e))
    except (ValidationError, PydanticSettingsError) as e:
        return fail(f"invalid settings for the {name}: {e}")


def run_service(name: str, load: Callable[[], S], serve: Callable[[S, threading.Event], int], *,
                log_level: Callable[[S], str], instance: Callable[[S], str] | None = None,
                on_signal: str = "stopping") -> int:
    """Load the settings, configure logging, stop on signals and ``serve``; the exit status (see the module doc).

    ``name`` is the service's name in messages, ``instance`` the name its log lines carry (``name`` by default),
    ``on_signal`` what a log line says the service does once asked to stop.
    """
    settings = load_settings(name, load)
    if isinstance(settings, int):
        return settings
    configure(log_level(settings), name=instance(settings) if instance is not None else name)
    stop = threading.Event()
    stop_on_signals(stop, doing=on_signal)
    try:
        return serve(settings, stop)
    except TagstreamError as e:
        return fail(f"cannot run the {name}: {e}")
