"""A small process supervisor: start a server in its own process group, wait until it really serves, stop it.

Each ``ManagedProcess`` writes ``<state_dir>/logs/<name>.log`` (stdout and stderr, appended) and
``<state_dir>/<name>.pid``. Readiness is a probe that asks the server itself (no fixed sleeps); a
process that exits while starting fails at once with the end of its log. Stopping sends SIGTERM to
the process (it stops its own children), waits, then SIGKILLs whatever is left of its process group,
so no grandchild (tritonserver, the python-backend stubs) outlives it.

A process started by an earlier ``tagstream`` command can be re-attached by pid; its identity is
checked against the start time the kernel reports, so a recycled pid is never signalled. When such a
process has died, what is left of its process group (a tritonserver whose host was SIGKILLed) is still
killed on stop: a group outlives its leader's pid only while members remain, and the kernel does not
hand that pid to a new process until the group is empty.

Restarting what crashed is the keeper's job (``tools.stack.keeper``); this module only starts and stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.stack.errors import (
    INSTALL_HINT,
    ComponentFailedError,
    MissingBinaryError,
    PortInUseError,
    StartCancelledError,
)
from tools.stack.probes import Probe, port_free

log = logging.getLogger(__name__)

TAIL_LINES = 20
_POLL_S = 0.05


@dataclass(frozen=True)
class PortClaim:
    """A port a process will listen on, and the setting (environment variable) that moves it."""

    port: int
    setting: str


def process_start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux /proc), or None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return fields[19] if fields[0] != "Z" else None  # fields[0] is the state; zombies count as gone


def process_alive(pid: int, start_ticks: str | None) -> bool:
    """Whether ``pid`` still runs and is the same process (same start time) as when it was recorded."""
    if Path("/proc/self/stat").exists():
        now = process_start_ticks(pid)
        return now is not None and (start_ticks is None or now == start_ticks)
    try:  # no /proc: all we can check is that some process has this pid
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def describe_exit(code: int | None) -> str:
    """How a process ended, from its exit status as ``subprocess`` reports it (negative: killed by a signal)."""
    if code is None:
        return "is gone (exit status unknown)"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def log_tail(path: Path, lines: int = TAIL_LINES) -> list[str]:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 64 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


class ManagedProcess:
    """One server process: start, wait until ready, stop, kill."""

    def __init__(self, name: str, argv: Sequence[str], *, state_dir: Path, probe: Probe,
                 env: Mapping[str, str] | None = None, ports: Sequence[PortClaim] = (),
                 preflight: Callable[[], None] | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env or {})
        self.probe = probe
        self.ports = tuple(ports)
        self.log_path = state_dir / "logs" / f"{name}.log"
        self.pid_path = state_dir / f"{name}.pid"
        self._preflight = preflight
        self._popen: subprocess.Popen[bytes] | None = None
        self._attached: tuple[int, str | None] | None = None
        self.returncode: int | None = None
        """Exit code of the last run this object started and saw end (None: unknown or still running)."""

    @property
    def pid(self) -> int | None:
        if self._popen is not None:
            return self._popen.pid
        return self._attached[0] if self._attached else None

    @property
    def start_ticks(self) -> str | None:
        pid = self.pid
        return process_start_ticks(pid) if pid is not None else None

    def attach(self, pid: int, start_ticks: str | None) -> None:
        """Adopt a process started by another ``tagstream`` command (from stack.json)."""
        self._popen = None
        self._attached = (pid, start_ticks)

    def alive(self) -> bool:
        if self._popen is not None:
            return self._popen.poll() is None
        if self._attached is None:
            return False
        return process_alive(*self._attached)

    def ready(self) -> bool:
        return self.alive() and self.probe()

    def check_can_start(self) -> None:
        """Raise the one-line error for a missing binary or a taken port; start nothing."""
        if self._preflight is not None:
            self._preflight()
        program = self.argv[0]
        if shutil.which(program) is None:
            raise MissingBinaryError(f"{self.name}: {program} is not installed or not executable",
                                     hint=INSTALL_HINT)
        for claim in self.ports:
            if not port_free(claim.port):
                raise PortInUseError(f"port {claim.port} on 127.0.0.1 is taken ({self.name} needs it)",
                                hint=f"set {claim.setting} to a free port, or run `tagstream down` "
                                     "if an earlier stack holds it")

    def start(self, note: str | None = None) -> None:
        """Start the process (not waiting for it); ``note`` goes into the log's start line (e.g. why)."""
        if self.alive():
            raise ComponentFailedError(f"{self.name} is already running as pid {self.pid}", tail=[],
                                       hint="stop it first")
        self.check_can_start()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            why = f" ({note})" if note else ""
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}{why}\n".encode())
            out.flush()
            self._popen = subprocess.Popen(self.argv, env={**os.environ, **self.env},
                                           stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                           start_new_session=True)
        self._attached = None
        self.returncode = None
        self.pid_path.write_text(f"{self._popen.pid}\n")
        log.info("started %s as pid %d (log: %s)", self.name, self._popen.pid, self.log_path)

    def exit_code(self) -> int | None:
        """The exit status of a process this object started and that has ended; None otherwise."""
        return self._popen.poll() if self._popen is not None else None

    def wait_ready(self, timeout: float, cancel: threading.Event | None = None) -> float:
        """Poll the probe until it passes; returns the seconds it took. Fails fast if the process exits.

        ``cancel``, when set, ends the wait with ``StartCancelledError`` (the process keeps running).
        """
        started = time.monotonic()
        while True:
            if not self.alive():
                code = self._popen.returncode if self._popen is not None else None
                raise ComponentFailedError(f"{self.name} exited (code {code}) before it was ready; "
                                           f"end of {self.log_path}:", tail=log_tail(self.log_path))
            if cancel is not None and cancel.is_set():
                raise StartCancelledError(f"start of {self.name} cancelled")
            if self.probe():
                elapsed = time.monotonic() - started
                log.info("%s ready after %.2f s", self.name, elapsed)
                return elapsed
            if time.monotonic() - started > timeout:
                raise ComponentFailedError(f"{self.name} not ready after {timeout:.0f} s; end of {self.log_path}:",
                                           tail=log_tail(self.log_path),
                                           hint="raise TAGSTREAM_READY_TIMEOUT_S if the machine is just slow")
            time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        """Send ``sig`` to the process, wait up to ``timeout``, then SIGKILL its whole group.

        Returns the exit code where it is known (a process this object started), else None.
        """
        pid = self.pid
        if pid is None:
            return None
        was_alive = self.alive()
        if was_alive:
            log.info("stopping %s (pid %d) with %s", self.name, pid, signal.Signals(sig).name)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
            if not self._wait_gone(timeout):
                log.warning("%s did not exit within %.0f s of %s; killing it", self.name, timeout,
                            signal.Signals(sig).name)
        self._kill_group()
        if was_alive:
            self._wait_gone(5.0)
        self._forget()
        return self.returncode

    def kill(self) -> None:
        """SIGKILL the process and its whole group at once: a crash, as the tests need it."""
        if self.pid is None:
            return
        if self.alive():
            log.info("killing %s (pid %d) and its process group", self.name, self.pid)
        self._kill_group()
        self._wait_gone(5.0)
        self._forget()

    def _kill_group(self) -> None:
        """SIGKILL the process group, unless the leader's pid now names an unrelated process."""
        pid = self.pid
        if pid is None:
            return
        if not self.alive():
            # A dead leader's group may still hold leftovers (a tritonserver). Its id is safe to signal only
            # while no other process has taken the leader's pid.
            if not Path("/proc/self/stat").exists():
                if self._popen is None:
                    return
            elif process_start_ticks(pid) is not None:
                return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)  # start_new_session: the group id is the leader's pid

    def _wait_gone(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                return False
            if self._popen is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._popen.wait(timeout=_POLL_S)
            else:
                time.sleep(_POLL_S)
        return True

    def _forget(self) -> None:
        self.pid_path.unlink(missing_ok=True)
        if self._popen is not None:
            self.returncode = self._popen.poll()
        self._popen = None
        self._attached = None

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, alive={self.alive()})"
