"""The keeper: restarts crashed components of the local stack, with a growing backoff, and logs each restart.

``tagstream up`` starts it as a detached process (``python -m tools.stack.keeper``, pid in
``<state_dir>/keeper.pid``, log in ``logs/keeper.log``); ``tagstream down`` stops it before anything else;
``tagstream up --foreground`` runs the same loop in the foreground instead.

The policy is supervisord's, or Kubernetes' CrashLoopBackOff: a component that is not running is started
again after ``restart_backoff_s``, doubled for each crash or failed start in a row, at most
``restart_backoff_max_s``; once it has run ``restart_stable_s``, its next crash starts from the short wait
again. Every crash, restart and failed restart is one line in the keeper's log and a line at the start in
the component's own log; ``tagstream status`` reads the counts and the next attempt from the record.
Each pass holds the stack lock, so ``up``, ``restart`` and ``down`` wait for a restart in progress (``down``
cancels it) instead of racing it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from types import FrameType

from runtime.logs import configure
from tools.stack.components import write_beat
from tools.stack.errors import StackError, StartCancelledError
from tools.stack.record import Restarts
from tools.stack.settings import StackSettings
from tools.stack.stack import LocalStack
from tools.stack.supervisor import describe_exit

log = logging.getLogger("tools.stack.keeper")

#: From this many failures in a row, status calls it a crash loop.
CRASH_LOOP = 3


def backoff_s(failures: int, base_s: float, max_s: float) -> float:
    """The wait before the next start after ``failures`` crashes or failed starts in a row."""
    return min(max_s, base_s * 2.0 ** max(failures - 1, 0))


def in_a_row(failures: int) -> str:
    text = f"{failures} failure{'s' if failures != 1 else ''} in a row"
    return f"{text}: crash loop" if failures >= CRASH_LOOP else text


class Keeper:
    """Keeps every component of one ``LocalStack`` running; ``tick`` is one pass, ``run`` loops until stopped.

    ``pid``: when set, the keeper stops once the record names another keeper (or none).
    ``clock``: wall-clock seconds; the record keeps when the next attempt is due for other commands to show.
    """

    def __init__(self, stack: LocalStack, *, stop: threading.Event | None = None, pid: int | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.stack = stack
        self.stop = stop or threading.Event()
        self.pid = pid
        self.clock = clock
        self._up_since: dict[str, tuple[int | None, float]] = {}
        """When this keeper first saw each component's current process running, by its own clock."""
        settings = stack.settings
        self._backoff = lambda failures: backoff_s(failures, settings.restart_backoff_s,
                                                   settings.restart_backoff_max_s)

    def run(self) -> None:
        while not self.stop.is_set():
            if not self.tick():
                log.info("the stack in %s is no longer mine to keep; exiting", self.stack.settings.state_dir)
                return
            self.stop.wait(self.stack.settings.keeper_period_s)

    def tick(self) -> bool:
        """Check every component once, restarting what is due; False when there is no stack to keep."""
        with self.stack.locked():
            record = self.stack.state.load()
            if record is None:
                return False
            if self.pid is not None and (record.keeper is None or record.keeper.pid != self.pid):
                return False
            self.stack.sync(record)
            for name in self.stack.components:
                if self.stop.is_set():
                    break
                self._keep(name)
        return True

    def _keep(self, name: str) -> None:
        proc = self.stack.process(name)
        state = self.stack.state.restarts(name)
        now = self.clock()
        if proc.alive():
            pid, since = self._up_since.get(name, (None, now))
            if pid != proc.pid:
                pid, since = self._up_since[name] = (proc.pid, now)
            up_s = now - since
            if state.failures and up_s >= self.stack.settings.restart_stable_s:
                log.info("%s has run %.0f s: stable again", name, up_s)
                self.stack.state.set_restarts(name, replace(state, failures=0, retry_at=None))
            elif state.retry_at is not None:  # started by someone else (`tagstream up`) while it waited
                self.stack.state.set_restarts(name, replace(state, retry_at=None))
            return
        if state.retry_at is None:
            state = self._crashed(name, state, now)
        if state.retry_at is not None and now < state.retry_at:
            return
        attempt = state.count + 1
        log.info("restarting %s (restart %d)", name, attempt)
        try:
            elapsed = self.stack.start_component(name, note=f"restart {attempt} by the keeper: it {state.last_exit}",
                                                 cancel=self.stop)
        except StartCancelledError:
            log.info("restart of %s cancelled: the keeper is stopping", name)
            return
        except StackError as e:
            self._failed_start(name, state, e)
            return
        log.info("restarted %s as pid %s, ready after %.1f s (restart %d)", name, proc.pid, elapsed, attempt)
        self._up_since[name] = (proc.pid, now)
        self.stack.state.set_restarts(name, replace(state, count=attempt, retry_at=None))

    def _crashed(self, name: str, state: Restarts, now: float) -> Restarts:
        proc = self.stack.process(name)
        cause = describe_exit(proc.exit_code()) if proc.pid is not None else "is not running"
        pid = f" (pid {proc.pid})" if proc.pid is not None else ""
        self.stack.clear(name)  # what its group left behind (ports) goes before the next start
        failures = state.failures + 1
        delay = self._backoff(failures)
        log.warning("%s%s %s; restarting it in %.1f s (%s)", name, pid, cause, delay, in_a_row(failures))
        state = replace(state, failures=failures, last_exit=cause, last_failure_at=now, retry_at=now + delay)
        self.stack.state.set_restarts(name, state)
        return state

    def _failed_start(self, name: str, state: Restarts, error: StackError) -> None:
        failures = state.failures + 1
        delay = self._backoff(failures)
        now = self.clock()
        log.error("restart of %s failed: %s; next try in %.1f s (%s)", name, error, delay, in_a_row(failures))
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        self.stack.state.set_restarts(name, replace(state, failures=failures,
                                                    last_exit=f"failed to start: {first_line}",
                                                    last_failure_at=now, retry_at=now + delay))


def main() -> int:
    """``python -m tools.stack.keeper``: keep the stack recorded in TAGSTREAM_STATE_DIR up until SIGTERM."""
    configure("INFO", name="keeper")
    settings = StackSettings()
    stack = LocalStack.recorded(settings)
    if stack is None:
        log.error("no local stack recorded in %s; nothing to keep", settings.state_dir)
        return 1
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: stopping (components keep running)", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    s = stack.settings
    log.info("keeping %s up; restarts after %.1f s, doubling to at most %.0f s, reset after %.0f s up",
             ", ".join(stack.components), s.restart_backoff_s, s.restart_backoff_max_s, s.restart_stable_s)
    write_beat(settings)
    Keeper(stack, stop=stop, pid=os.getpid()).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
