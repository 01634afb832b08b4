"""Per image host: a bound on requests in flight, a circuit breaker, and the addresses last checked for it.

Everything here runs on the fetcher's event loop thread, so nothing needs a lock. A host's gate lives while
a request uses it and, after that, while its breaker remembers failures; :meth:`HostGates.sweep` forgets
hosts idle for long, so a stream of one-off hosts cannot grow the table without bound.

The resolver given to aiohttp is an address book, not a resolver: it answers only the addresses the
fetcher has just resolved and checked for that very host, and fails for any other host. A connection is
therefore always opened to a checked address, also when aiohttp opens it (a new connection for the pool).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from aiohttp.abc import AbstractResolver, ResolveResult

from services.tagger.fetch_metrics import CIRCUIT_CHANGES, CIRCUITS_OPEN

logger = logging.getLogger(__name__)

HostKey = tuple[str, int]  # the host as aiohttp sees it (the URL's raw host) and the port


class State(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Pass(enum.Enum):
    """What :meth:`CircuitBreaker.admit` granted: a normal request, or the one trial of a half-open circuit."""

    NORMAL = "normal"
    TRIAL = "trial"


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures, refuses for ``reset_s``, then lets one trial through:
    its success closes the circuit, its failure opens it again. Only a trial's outcome decides while the
    circuit is not closed; late outcomes of requests admitted earlier are ignored then."""

    def __init__(self, threshold: int, reset_s: float, *, clock: Callable[[], float] = time.monotonic,
                 on_change: Callable[[State, State], None] | None = None) -> None:
        self.threshold, self.reset_s = threshold, reset_s
        self.state = State.CLOSED
        self.failures = 0
        self.opened_at = 0.0
        self._trial = False
        self._clock = clock
        self._on_change = on_change

    @property
    def open_until(self) -> float:
        """When (on the breaker's clock) the open period ends and a trial may go."""
        return self.opened_at + self.reset_s

    @property
    def trial_in_flight(self) -> bool:
        return self._trial

    def allows(self) -> bool:
        """Whether :meth:`admit` would grant a request now (changes nothing)."""
        if self.state is State.CLOSED:
            return True
        if self.state is State.OPEN:
            return self._clock() >= self.open_until
        return not self._trial

    def admit(self) -> Pass | None:
        """A pass for one request, or None when the circuit refuses it."""
        if not self.allows():
            return None
        if self.state is State.CLOSED:
            return Pass.NORMAL
        self._enter(State.HALF_OPEN)
        self._trial = True
        return Pass.TRIAL

    def success(self, granted: Pass) -> None:
        if granted is Pass.TRIAL:
            self._trial = False
            self._enter(State.CLOSED)
        if self.state is State.CLOSED:
            self.failures = 0

    def failure(self, granted: Pass) -> None:
        if granted is Pass.TRIAL:
            self._trial = False
            self._open()
        elif self.state is State.CLOSED:
            self.failures += 1
            if self.failures >= self.threshold:
                self._open()

    def abandon(self, granted: Pass) -> None:
        """The request said nothing about the host (refused before sending, cancelled): a trial may go again."""
        if granted is Pass.TRIAL:
            self._trial = False

    def _open(self) -> None:
        self.opened_at = self._clock()
        self._enter(State.OPEN)

    def _enter(self, state: State) -> None:
        old, self.state = self.state, state
        if state is State.CLOSED:
            self.failures = 0
        if old is not state and self._on_change is not None:
            self._on_change(old, state)


class HostGate:
    """One image host: its request slots, its breaker, and the addresses last checked for it."""

    def __init__(self, key: HostKey, per_host: int, threshold: int, reset_s: float,
                 clock: Callable[[], float]) -> None:
        self.key = key
        self.slots = asyncio.Semaphore(per_host)
        self.breaker = CircuitBreaker(threshold, reset_s, clock=clock, on_change=self._changed)
        self.addresses: list[ResolveResult] = []
        self.users = 0
        self.last_used = 0.0

    @property
    def name(self) -> str:
        host, port = self.key
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def refusal(self) -> str:
        """Why the circuit refuses a request now, for an error message."""
        if self.breaker.state is State.OPEN:
            wall = time.time() + self.breaker.open_until - time.monotonic()
            until = datetime.fromtimestamp(wall, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
            return (f"the circuit of image host {self.name} is open until {until} after "
                    f"{self.breaker.threshold} consecutive failures (timeouts, connection errors or 5xx)")
        return f"the circuit of image host {self.name} is half-open and its one trial request is in flight"

    def _changed(self, old: State, new: State) -> None:
        CIRCUIT_CHANGES.labels(new.value).inc()
        if old is State.CLOSED:
            CIRCUITS_OPEN.inc()
        elif new is State.CLOSED:
            CIRCUITS_OPEN.dec()
        if new is State.OPEN:
            cause = "a failed trial" if old is State.HALF_OPEN else f"{self.breaker.threshold} consecutive failures"
            logger.warning("image host %s: circuit open for %.1fs after %s", self.name, self.breaker.reset_s, cause)
        else:
            logger.info("image host %s: circuit %s", self.name, new.value.replace("_", "-"))


class HostGates:
    """The gates of every host in use or remembered, with the lifecycle described in the module docstring."""

    def __init__(self, *, per_host: int, breaker_failures: int, breaker_reset_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._per_host = per_host
        self._failures, self._reset_s = breaker_failures, breaker_reset_s
        self._clock = clock
        self._gates: dict[HostKey, HostGate] = {}
        #: an idle host is forgotten after this long (its breaker with it)
        self.retain_s = max(60.0, 10 * breaker_reset_s)

    def __len__(self) -> int:
        return len(self._gates)

    @contextmanager
    def using(self, key: HostKey) -> Iterator[HostGate]:
        """The gate of ``key``, kept while the block runs."""
        gate = self._gates.get(key)
        if gate is None:
            gate = HostGate(key, self._per_host, self._failures, self._reset_s, self._clock)
            self._gates[key] = gate
        gate.users += 1
        try:
            yield gate
        finally:
            gate.users -= 1
            gate.last_used = self._clock()
            if gate.users == 0 and gate.breaker.state is State.CLOSED and gate.breaker.failures == 0:
                gate.addresses = []
                del self._gates[key]

    def addresses(self, key: HostKey) -> list[ResolveResult]:
        gate = self._gates.get(key)
        return gate.addresses if gate is not None else []

    def sweep(self) -> int:
        """Forget hosts idle for ``retain_s``; returns how many were forgotten."""
        now = self._clock()
        idle = [key for key, gate in self._gates.items() if gate.users == 0 and now - gate.last_used > self.retain_s]
        for key in idle:
            gate = self._gates.pop(key)
            if gate.breaker.state is not State.CLOSED:
                CIRCUITS_OPEN.dec()
        return len(idle)


class CheckedAddresses(AbstractResolver):
    """aiohttp's resolver: the addresses just checked for a host, and nothing for a host not checked."""

    def __init__(self, gates: HostGates) -> None:
        self._gates = gates

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = [a for a in self._gates.addresses((host, port))
                 if family in (socket.AF_UNSPEC, a["family"])]
        if not found:  # never resolve here: that would be a second, unchecked lookup
            raise OSError(f"no checked address for {host}:{port}")
        return found

    async def close(self) -> None:
        pass
