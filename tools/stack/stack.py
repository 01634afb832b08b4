"""``LocalStack``: the broker, Triton and the taggers on this machine, started in order, stopped in reverse.

Components, in start order: ``s3`` (only for the durable broker), ``broker``, ``triton``,
``tagger-0`` .. ``tagger-N-1``. ``start`` returns once every component answers its readiness probe.
The running stack is recorded in ``<state_dir>/stack.json``; ``LocalStack.recorded()`` finds it again
from another process (``tagstream status`` and ``tagstream down``).
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from runtime.settings import KafkaSettings
from tools.stack.components import Component, build, component_names, create_bucket
from tools.stack.errors import StackError, StackRunningError
from tools.stack.record import RecordedProcess, StackRecord
from tools.stack.settings import LOOPBACK, StackSettings
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

    @property
    def healthy(self) -> bool:
        return self.ready or not self.recorded


class LocalStack:
    """The local stack of one state directory. A context manager: leaving the block stops it."""

    def __init__(self, settings: StackSettings | None = None) -> None:
        self.settings = settings or StackSettings()
        self._components: dict[str, Component] = {
            name: build(name, self.settings) for name in component_names(self.settings)}
        self._record = StackRecord(settings=self.settings.model_dump(mode="json"))

    @classmethod
    def recorded(cls, settings: StackSettings | None = None) -> LocalStack | None:
        """The stack recorded in ``settings.state_dir``, attached to its processes; None if none is."""
        base = settings or StackSettings()
        record = StackRecord.load(base.record_path)
        if record is None:
            return None
        stack = cls(StackSettings(**{**record.settings, "state_dir": base.state_dir}))
        stack._record = record
        for name, entry in record.components.items():
            if name in stack._components:
                stack._components[name].process.attach(entry.pid, entry.start_ticks)
        return stack

    @property
    def components(self) -> list[str]:
        """Every component of this stack, in start order."""
        return list(self._components)

    def process(self, name: str) -> ManagedProcess:
        if name not in self._components:
            raise StackError(f"no component {name!r}; this stack has {', '.join(self._components)}")
        return self._components[name].process

    def start(self, components: list[str] | None = None, *, on_ready: OnReady | None = None) -> None:
        """Start ``components`` (all by default) in stack order; returns when every one is ready.

        On failure, the components this call started are stopped again before the error is raised.
        """
        wanted = set(components) if components is not None else set(self._components)
        for name in wanted:
            self.process(name)  # unknown names fail before anything starts
        self._refuse_if_another_stack_runs()
        todo = [name for name in self._components if name in wanted and not self.process(name).alive()]
        for name in todo:  # a taken port or a missing binary fails before anything starts
            self.process(name).check_can_start()
        started: list[str] = []
        try:
            for name in todo:
                elapsed = self.start_component(name)
                started.append(name)
                if on_ready is not None:
                    on_ready(name, elapsed)
        except BaseException:
            for name in reversed(started):
                self.stop_component(name)
            raise

    def stop(self) -> None:
        """Stop every component, in reverse start order; forget the record once nothing is left."""
        for name in reversed(self._components):
            if self.process(name).pid is not None or name in self._record.components:
                try:
                    self.stop_component(name)
                except OSError as e:  # keep stopping the others
                    log.error("could not stop %s: %s", name, e)

    def start_component(self, name: str) -> float:
        """Start one component and wait until it is ready; returns the seconds it took."""
        proc = self.process(name)
        proc.start()
        self._remember(name)
        try:
            elapsed = proc.wait_ready(self.settings.ready_timeout_s)
            if name == "s3":
                create_bucket(self.settings)
            elif name == "broker":
                from runtime.kafka import ensure_topics  # kafka clients only where a broker is started

                created = ensure_topics(self.kafka_settings(), partitions=self.settings.partitions)
                if created:
                    log.info("created topics %s", ", ".join(created))
                from tools.monitoring.stack import register_models  # model cards: the monitor's references

                register_models(self.kafka_settings())
        except BaseException:
            proc.stop(timeout=5.0)
            self._forget(name)
            raise
        return elapsed

    def stop_component(self, name: str, sig: int = signal.SIGTERM) -> None:
        self.process(name).stop(sig)
        self._forget(name)

    def kill(self, name: str) -> None:
        """SIGKILL a component and its process group (a crash, for tests and drills)."""
        self.process(name).kill()
        self._forget(name)

    def restart(self, name: str) -> float:
        self.stop_component(name)
        return self.start_component(name)

    def status(self) -> list[ComponentStatus]:
        result = []
        for name, component in self._components.items():
            proc = component.process
            alive = proc.alive()
            result.append(ComponentStatus(name=name, pid=proc.pid if alive else None, alive=alive,
                                          ready=alive and proc.probe(), address=component.address,
                                          log=proc.log_path, recorded=name in self._record.components))
        return result

    def kafka_settings(self) -> KafkaSettings:
        """Client settings that reach this stack's broker (plaintext, whatever the environment says)."""
        return KafkaSettings(kafka_bootstrap=self.settings.bootstrap, kafka_security_protocol="PLAINTEXT",
                             kafka_sasl_mechanism=None, kafka_ssl_cafile=None, kafka_ssl_certfile=None,
                             kafka_ssl_keyfile=None)

    def tagger_metrics_url(self, index: int) -> str:
        if not 0 <= index < self.settings.taggers:
            raise StackError(f"no tagger {index}; this stack runs {self.settings.taggers}")
        return f"http://{LOOPBACK}:{self.settings.tagger_metrics_port + index}"

    def _refuse_if_another_stack_runs(self) -> None:
        on_disk = StackRecord.load(self.settings.record_path)
        if on_disk is None:
            return
        others = [name for name, entry in on_disk.components.items()
                  if process_alive(entry.pid, entry.start_ticks)
                  and (name not in self._components or self.process(name).pid != entry.pid)]
        if others:
            raise StackRunningError(f"a local stack from {self.settings.state_dir} is still running "
                               f"({', '.join(others)})", hint="run `tagstream down` first")

    def _remember(self, name: str) -> None:
        proc = self.process(name)
        assert proc.pid is not None
        self._record.components[name] = RecordedProcess(pid=proc.pid, start_ticks=proc.start_ticks,
                                                        address=self._components[name].address,
                                                        log=str(proc.log_path))
        self._record.save(self.settings.record_path)

    def _forget(self, name: str) -> None:
        if self._record.components.pop(name, None) is None:
            return
        if self._record.components:
            self._record.save(self.settings.record_path)
        else:
            self.settings.record_path.unlink(missing_ok=True)

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
