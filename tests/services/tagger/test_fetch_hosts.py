"""The circuit breaker as a table of steps on a fake clock, and the host table's lifecycle."""

from __future__ import annotations

import asyncio
import socket

import pytest

from services.tagger.fetch_hosts import CheckedAddresses, CircuitBreaker, HostGates, Pass, State

THRESHOLD, RESET = 3, 10.0

# Each step: (action, then the state, then what admit() would grant now). Actions: "ok"/"fail"/"drop" finish
# the last granted pass (success, failure, abandon); "admit" takes a pass; "wait N" moves the clock.
CASES = {
    "failures below the threshold keep it closed": [
        ("admit", State.CLOSED), ("fail", State.CLOSED), ("admit", State.CLOSED), ("fail", State.CLOSED),
    ],
    "a success resets the count": [
        ("admit", State.CLOSED), ("fail", State.CLOSED), ("admit", State.CLOSED), ("fail", State.CLOSED),
        ("admit", State.CLOSED), ("ok", State.CLOSED), ("admit", State.CLOSED), ("fail", State.CLOSED),
        ("admit", State.CLOSED), ("fail", State.CLOSED), ("refused?", False),
    ],
    "the threshold opens it and it refuses until the reset": [
        ("admit", State.CLOSED), ("fail", State.CLOSED), ("admit", State.CLOSED), ("fail", State.CLOSED),
        ("admit", State.CLOSED), ("fail", State.OPEN), ("refused?", True), ("wait 9.9", State.OPEN),
        ("refused?", True),
    ],
    "after the reset one trial goes, others wait for it": [
        *[step for _ in range(THRESHOLD) for step in (("admit", State.CLOSED), ("fail", None))],
        ("wait 10", State.OPEN), ("trial", State.HALF_OPEN), ("refused?", True),
    ],
    "a successful trial closes it": [
        *[step for _ in range(THRESHOLD) for step in (("admit", State.CLOSED), ("fail", None))],
        ("wait 10", State.OPEN), ("trial", State.HALF_OPEN), ("ok", State.CLOSED), ("refused?", False),
    ],
    "a failed trial opens it for another period": [
        *[step for _ in range(THRESHOLD) for step in (("admit", State.CLOSED), ("fail", None))],
        ("wait 10", State.OPEN), ("trial", State.HALF_OPEN), ("fail", State.OPEN), ("refused?", True),
        ("wait 9.9", State.OPEN), ("refused?", True), ("wait 0.1", State.OPEN), ("trial", State.HALF_OPEN),
    ],
    "an abandoned trial lets the next request be the trial": [
        *[step for _ in range(THRESHOLD) for step in (("admit", State.CLOSED), ("fail", None))],
        ("wait 10", State.OPEN), ("trial", State.HALF_OPEN), ("drop", State.HALF_OPEN),
        ("trial", State.HALF_OPEN),
    ],
}


@pytest.mark.parametrize("steps", CASES.values(), ids=CASES.keys())
def test_circuit_breaker_follows_its_states(steps: list[tuple[str, object]]) -> None:
    now = [0.0]
    changes: list[tuple[State, State]] = []
    breaker = CircuitBreaker(THRESHOLD, RESET, clock=lambda: now[0], on_change=lambda a, b: changes.append((a, b)))
    granted: list[Pass] = []
    for action, expected in steps:
        if action.startswith("wait"):
            now[0] += float(action.split()[1])
        elif action == "refused?":
            assert (breaker.admit() is None) is expected
            if not expected:
                breaker.abandon(Pass.NORMAL)
            continue
        elif action in ("admit", "trial"):
            ticket = breaker.admit()
            assert ticket is (Pass.TRIAL if action == "trial" else Pass.NORMAL)
            granted.append(ticket)
        else:
            {"ok": breaker.success, "fail": breaker.failure, "drop": breaker.abandon}[action](granted.pop())
        if expected is not None:
            assert breaker.state is expected, action
    assert all(old is not new for old, new in changes)


def test_late_outcomes_do_not_decide_when_circuit_is_not_closed() -> None:
    now = [0.0]
    breaker = CircuitBreaker(1, RESET, clock=lambda: now[0])
    early = breaker.admit()
    assert early is Pass.NORMAL
    breaker.failure(breaker.admit() or Pass.NORMAL)
    assert breaker.state is State.OPEN
    breaker.success(early)  # a request admitted before it opened ends well: still open
    assert breaker.state is State.OPEN
    now[0] += RESET
    trial = breaker.admit()
    breaker.failure(Pass.NORMAL)  # another late one fails: the trial still decides
    assert breaker.state is State.HALF_OPEN
    assert trial is Pass.TRIAL
    breaker.success(trial)
    assert breaker.state is State.CLOSED


def test_host_table_forgets_a_healthy_host_once_idle_and_remembers_a_failing_one() -> None:
    now = [0.0]
    gates = HostGates(per_host=4, breaker_failures=THRESHOLD, breaker_reset_s=RESET, clock=lambda: now[0])
    with gates.using(("ok.example", 443)) as gate:
        gate.breaker.success(gate.breaker.admit() or Pass.NORMAL)
    with gates.using(("bad.example", 443)) as gate:
        gate.breaker.failure(gate.breaker.admit() or Pass.NORMAL)
    assert len(gates) == 1  # bad.example, with one failure to remember
    now[0] += gates.retain_s + 1
    assert gates.sweep() == 1
    assert len(gates) == 0


def test_checked_addresses_answer_only_hosts_in_use() -> None:
    gates = HostGates(per_host=4, breaker_failures=THRESHOLD, breaker_reset_s=RESET)
    resolver = CheckedAddresses(gates)
    answer = {"hostname": "cdn.example", "host": "127.0.0.1", "port": 80, "family": socket.AF_INET,
              "proto": 6, "flags": 0}

    async def scenario() -> None:
        with gates.using(("cdn.example", 80)) as gate:
            gate.addresses = [answer]  # type: ignore[list-item]
            assert await resolver.resolve("cdn.example", 80, socket.AF_UNSPEC) == [answer]
            with pytest.raises(OSError, match="no checked address"):
                await resolver.resolve("cdn.example", 8080, socket.AF_UNSPEC)
        with pytest.raises(OSError, match="no checked address"):
            await resolver.resolve("cdn.example", 80, socket.AF_UNSPEC)  # forgotten once idle

    asyncio.run(scenario())
