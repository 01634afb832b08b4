"""``LocalStack``: the broker, Triton and the taggers on this machine, started in order, stopped in reverse.

Components, in start order, come from ``tools.stack.components.KINDS``: ``s3`` (only for the durable
broker), ``broker``, ``triton``, ``tagger-0`` .. ``tagger-N-1``. ``start`` starts what is not running and
returns once every component answers its readiness probe. The running stack is recorded in
``<state_dir>/stack.json``; ``LocalStack.recorded()`` finds it again from another process (``tagstream
status``, ``restart``, ``down`` and the keeper). ``start_keeper`` starts the keeper, a detached process that
restarts crashed components (``tools.stack.keeper``).

Every change to the stack holds the state directory's lock and reads the record afresh, so a command and
the keeper never undo each other's work; ``sync`` follows a process that someone else restarted.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from runtime.settings import KafkaSettings
from tools.stack.components import KEEPER, KEEPER_BEAT, Component, build, component_names, keeper_process
from tools.stack.errors import StackError, StackRunningError
from tools.stack.record import RecordedProcess, Restarts, StackRecord
from tools.stack.settings import LOOPBACK, StackSettings
from tools.stack.state import StackState
from tools.stack.supervisor import ManagedProcess, process_alive

log = logging.getLogger(__name__)

#: Called after each component is ready with its name and the seconds it took.
OnReady = Callable[[str, float], None]


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    alive: bool
    ready: bool
    address: str
    log: Path
    recorded: bool
    """Started by this stack and not stopped since (so it should be ready)."""
    restarts: Restarts
    """What the keeper knows: restarts after crashes, failures in a row, when it tries again."""

    @property
    def healthy(self) -> bool:
        return self.ready or (not self.recorded and self.restarts.retry_at is None)


class LocalStack:
    """The local stack of one state directory. A context manager: leaving the block stops it."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self._components: dict[str, Component] = {
            name: build(name, self.settings) for name in component_names(self.settings)}
        self._keeper = keeper_process(self.settings)
        self.state = StackState(self.settings)

    @classmethod
    def recorded(cls, settings: StackSettings | None = None) -> LocalStack | None:
        """The stack recorded in ``settings.state_dir``, attached to its processes; None if none is."""
        base = settings or StackSettings()
        record = StackRecord.load(base.record_path)
        if record is None:
            return None
        stack = cls(StackSettings(**{**record.settings, "state_dir": base.state_dir}))
        stack.sync(record, adopt=True)
        return stack

    # --- what the stack is made of

    @property
    def components(self) -> list[str]:
        """Every component of this stack, in start order."""
        return list(self._components)

    def process(self, name: str) -> ManagedProcess:
        if name not in self._components:
            raise StackError(f"no component {name!r}; this stack has {', '.join(self._components)}")
        return self._components[name].process

    @property
    def keeper(self) -> ManagedProcess:
        return self._keeper

    def missing(self) -> list[str]:
        """The components that do not run, in start order."""
        return [name for name in self._components if not self.process(name).alive()]

    def running(self) -> bool:
        """Whether any component or the keeper runs."""
        return self._keeper.alive() or len(self.missing()) < len(self._components)

    # --- the record

    def locked(self) -> contextlib.AbstractContextManager[None]:
        """Hold the state directory's lock (re-entrant): no other command or keeper changes the stack."""
        return self.state.locked()

    def sync(self, record: StackRecord | None = None, *, adopt: bool = False) -> None:
        """Follow the processes the record names where someone else (the keeper, `restart`) replaced ours.

        With ``adopt``, also attach to recorded processes this object does not track yet.
        """
        record = record if record is not None else self.state.load()
        if record is None:
            return
        pairs = [(self._components[n].process, e) for n, e in record.components.items() if n in self._components]
        if record.keeper is not None:
            pairs.append((self._keeper, record.keeper))
        for proc, entry in pairs:
            if proc.pid != entry.pid and (adopt or proc.pid is not None):
                proc.attach(entry.pid, entry.start_ticks)

    # --- starting and stopping

    def start(self, components: list[str] | None = None, *, on_ready: OnReady | None = None) -> list[str]:
        """Start whichever of ``components`` (all by default) do not run, in stack order; returns their names.

        Returns when every one is ready. On failure, the components this call started are stopped again
        before the error is raised. A component started here gets a fresh backoff from the keeper.
        """
        wanted = set(components) if components is not None else set(self._components)
        for name in wanted:
            self.process(name)  # unknown names fail before anything starts
        with self.locked():
            self.sync()
            self._refuse_another_stack()
            todo = [name for name in self._components if name in wanted and not self.process(name).alive()]
            for name in todo:  # a taken port or a missing binary fails before anything starts
                self.clear(name)
                self.process(name).check_can_start()
            started: list[str] = []
            try:
                for name in todo:
                    elapsed = self.start_component(name)
                    started.append(name)
                    self.state.reset_backoff(name)
                    if on_ready is not None:
                        on_ready(name, elapsed)
            except BaseException:
                for name in reversed(started):
                    self.stop_component(name)
                raise
            return started

    def stop(self) -> None:
        """Stop the keeper, then every component in reverse start order; forget the record once nothing is left."""
        self.stop_keeper()
        with self.locked():
            self.sync()
            record = self.state.load()
            for name in reversed(self._components):
                if self.process(name).pid is not None or (record is not None and name in record.components):
                    try:
                        self.stop_component(name)
                    except OSError as e:  # keep stopping the others
                        log.error("could not stop %s: %s", name, e)
            with self.state.editing() as record:
                record.restarts.clear()

    def start_component(self, name: str, *, note: str | None = None,
                        cancel: threading.Event | None = None) -> float:
        """Start one component and wait until it is ready; returns the seconds it took.

        ``note`` goes into the component's log with the start; ``cancel`` ends the wait (the keeper's stop).
        """
        proc = self.process(name)
        component = self._components[name]
        with self.locked():
            proc.start(note)
            self._remember(name)
            try:
                elapsed = proc.wait_ready(self.settings.ready_timeout_s, cancel=cancel)
                if component.after_ready is not None:
                    component.after_ready()
            except BaseException:
                proc.stop(timeout=5.0)
                self._forget(name)
                raise
            return elapsed

    def stop_component(self, name: str, sig: int = signal.SIGTERM) -> None:
        with self.locked():
            self.sync()
            self.process(name).stop(sig)
            self._forget(name)

    def kill(self, name: str) -> None:
        """SIGKILL a component and its process group and forget it: a crash drill (a keeper restarts it)."""
        with self.locked():
            self.sync()
            self.process(name).kill()
            self._forget(name)

    def restart(self, name: str) -> float:
        """Stop one component and start it again; returns the seconds it took to be ready. Resets its backoff."""
        with self.locked():
            self.stop_component(name)
            elapsed = self.start_component(name, note="tagstream restart")
            self.state.reset_backoff(name)
            return elapsed

    def forget(self) -> None:
        """Forget a stack that no longer runs: kill what its dead processes left behind, delete the record."""
        with self.locked():
            self.sync(adopt=True)
            for proc in [self._keeper, *(c.process for c in self._components.values())]:
                if proc.pid is not None and not proc.alive():
                    proc.stop()
            if not self.running():
                self.settings.record_path.unlink(missing_ok=True)

    # --- the keeper

    def start_keeper(self) -> None:
        """Start the keeper (unless it runs) and wait until its loop runs."""
        with self.locked():
            self.sync()
            if self._keeper.alive():
                return
            self._keeper.stop()  # leftovers of a dead keeper, if any
            (self.settings.state_dir / KEEPER_BEAT).unlink(missing_ok=True)
            self._keeper.start()
            with self.state.editing() as record:
                record.keeper = self._entry(self._keeper, "restarts crashed components")
        try:
            self._keeper.wait_ready(self.settings.ready_timeout_s)
        except BaseException:
            self.stop_keeper()
            raise

    def stop_keeper(self) -> None:
        """Stop the keeper first, without the lock: it may hold it while it restarts a component.

        It cancels a start in progress on SIGTERM, so this takes about one check period.
        """
        record = self.state.load()
        if record is not None and record.keeper is not None:
            self.sync(record, adopt=True)
        if self._keeper.pid is None:
            return
        self._keeper.stop(timeout=self.settings.keeper_period_s + 10.0)
        (self.settings.state_dir / KEEPER_BEAT).unlink(missing_ok=True)
        with self.state.editing() as record:
            record.keeper = None

    # --- what runs

    def status(self) -> list[ComponentStatus]:
        record = self.state.load()
        self.sync(record)
        recorded = record.components if record is not None else {}
        result = []
        for name, component in self._components.items():
            proc = component.process
            alive = proc.alive()
            result.append(ComponentStatus(name=name, pid=proc.pid if alive else None, alive=alive,
                                          ready=alive and proc.probe(), address=component.address,
                                          log=proc.log_path, recorded=name in recorded,
                                          restarts=self.state.restarts(name, record)))
        return result

    def keeper_status(self) -> ComponentStatus | None:
        """The keeper's status, or None when this stack has none."""
        record = self.state.load()
        if record is None or record.keeper is None:
            return None
        self.sync(record, adopt=True)
        alive = self._keeper.alive()
        return ComponentStatus(name=KEEPER, pid=self._keeper.pid if alive else None, alive=alive,
                               ready=alive and self._keeper.probe(), address=record.keeper.address,
                               log=self._keeper.log_path, recorded=True, restarts=Restarts())

    def kafka_settings(self) -> KafkaSettings:
        """Client settings that reach this stack's broker (plaintext, whatever the environment says)."""
        return self.settings.kafka_settings()

    def tagger_metrics_url(self, index: int) -> str:
        if not 0 <= index < self.settings.taggers:
            raise StackError(f"no tagger {index}; this stack runs {self.settings.taggers}")
        return f"http://{LOOPBACK}:{self.settings.tagger_metrics_port + index}"

    # --- helpers

    def _refuse_another_stack(self) -> None:
        """Refuse to start beside live processes of a stack this object did not start or attach to."""
        on_disk = self.state.load()
        if on_disk is None:
            return
        entries = {**on_disk.components, **({KEEPER: on_disk.keeper} if on_disk.keeper else {})}
        ours = {proc.pid for proc in [self._keeper, *(c.process for c in self._components.values())]} - {None}
        if any(entry.pid in ours for entry in entries.values()):
            return
        others = [name for name, entry in entries.items() if process_alive(entry.pid, entry.start_ticks)]
        if others:
            raise StackRunningError(f"a local stack from {self.settings.state_dir} is still running "
                                    f"({', '.join(others)})", hint="run `tagstream down` first")
        log.info("forgetting the record of a stack that no longer runs")
        self.settings.record_path.unlink(missing_ok=True)

    def clear(self, name: str) -> None:
        """Before a start: kill what a dead process left in its group (its ports) and forget its pid."""
        proc = self.process(name)
        if proc.pid is not None and not proc.alive():
            proc.stop()
            self._forget(name)

    def _entry(self, proc: ManagedProcess, address: str) -> RecordedProcess:
        pid = proc.pid
        if pid is None:
            raise StackError(f"{proc.name} has no pid to record: it did not start")
        return RecordedProcess(pid=pid, start_ticks=proc.start_ticks, address=address, log=str(proc.log_path),
                               started_at=time.time())

    def _remember(self, name: str) -> None:
        self.state.remember(name, self._entry(self.process(name), self._components[name].address))

    def _forget(self, name: str) -> None:
        self.state.forget(name)

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
