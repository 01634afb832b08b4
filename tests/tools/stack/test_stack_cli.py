"""``tagstream up``, ``status``, ``restart`` and ``down`` as a user runs them: real commands, real processes.

One stack (broker, Triton, one tagger, the keeper) started by ``tagstream up`` serves the module; each test
leaves it whole again. Ports and the state directory are private, passed as TAGSTREAM_* variables.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import stack_settings
from tools.stack import LocalStack, StackSettings
from tools.stack.supervisor import process_start_ticks

pytestmark = pytest.mark.integration

#: The installed console script, as a user runs it.
TAGSTREAM = Path(sys.executable).parent / "tagstream"


def _env(settings: StackSettings) -> dict[str, str]:
    """The settings as the TAGSTREAM_* variables a user would export."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAGSTREAM_")}
    for key, value in settings.model_dump(mode="json").items():
        env[f"TAGSTREAM_{key.upper()}"] = json.dumps(value) if isinstance(value, dict | list) else str(value)
    return {**env, "COLUMNS": "250"}


def tagstream(settings: StackSettings, *args: str, timeout_s: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TAGSTREAM), *args], env=_env(settings), capture_output=True, text=True,
                          timeout=timeout_s, check=False)


def _until(condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def _pids(settings: StackSettings) -> dict[str, int | None]:
    stack = LocalStack.recorded(settings)
    assert stack is not None
    keeper = stack.keeper_status()
    return {**{s.name: s.pid for s in stack.status()}, "keeper": keeper.pid if keeper else None}


def _ready(settings: StackSettings) -> bool:
    stack = LocalStack.recorded(settings)
    return stack is not None and all(s.ready for s in stack.status())


@pytest.fixture(scope="module")
def cli_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackSettings]:
    settings = stack_settings(tmp_path_factory.mktemp("cli-stack") / "state", taggers=1, restart_backoff_s=0.5)
    started = tagstream(settings, "up")
    try:
        assert started.returncode == 0, started.stderr
        yield settings
    finally:
        tagstream(settings, "down")
        leftover = LocalStack.recorded(settings)
        if leftover is not None:
            leftover.stop()


def test_up_on_a_running_stack_starts_nothing_and_says_so(cli_stack: StackSettings) -> None:
    before = _pids(cli_stack)
    again = tagstream(cli_stack, "up")
    assert again.returncode == 0, again.stderr
    assert "every component runs" in again.stderr
    assert not [line for line in again.stderr.splitlines() if line.strip().startswith("ready ")]
    assert _pids(cli_stack) == before


def test_sigkilled_tagger_comes_back_ready_and_the_restart_is_logged(cli_stack: StackSettings) -> None:
    before = _pids(cli_stack)
    tagger = before["tagger-0"]
    assert tagger is not None
    os.kill(tagger, signal.SIGKILL)
    _until(lambda: _pids(cli_stack)["tagger-0"] not in (None, tagger) and _ready(cli_stack))

    status = tagstream(cli_stack, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    row = next(line for line in status.stdout.splitlines() if "tagger-0" in line)
    assert "ready" in row and row.split("│")[5].strip() == "1", row
    keeper_log = (cli_stack.logs_dir / "keeper.log").read_text()
    assert f"tagger-0 (pid {tagger}) is gone" in keeper_log
    assert f"restarted tagger-0 as pid {_pids(cli_stack)['tagger-0']}" in keeper_log
    assert "restart 1 by the keeper" in (cli_stack.logs_dir / "tagger-0.log").read_text()
    after = _pids(cli_stack)
    assert {k: after[k] for k in ("broker", "triton", "keeper")} == {k: before[k] for k in ("broker", "triton",
                                                                                            "keeper")}


def test_restart_replaces_one_component_and_leaves_the_others(cli_stack: StackSettings) -> None:
    before = _pids(cli_stack)
    result = tagstream(cli_stack, "restart", "tagger-0")
    assert result.returncode == 0, result.stderr
    assert "ready tagger-0" in result.stderr
    after = _pids(cli_stack)
    assert after["tagger-0"] not in (None, before["tagger-0"])
    assert {k: v for k, v in after.items() if k != "tagger-0"} == {k: v for k, v in before.items() if k != "tagger-0"}
    assert _ready(cli_stack)


def test_restart_of_an_unknown_component_names_the_ones_there_are(cli_stack: StackSettings) -> None:
    result = tagstream(cli_stack, "restart", "tagger-7")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: no component 'tagger-7'; this stack has broker, triton, tagger-0"]


def test_up_on_a_partly_running_stack_starts_only_what_is_missing(cli_stack: StackSettings) -> None:
    before = _pids(cli_stack)
    keeper, tagger = before["keeper"], before["tagger-0"]
    assert keeper is not None and tagger is not None
    os.kill(keeper, signal.SIGTERM)  # without its keeper the stack stays down where it crashes
    _until(lambda: _pids(cli_stack)["keeper"] is None)
    os.kill(tagger, signal.SIGKILL)
    _until(lambda: _pids(cli_stack)["tagger-0"] is None)
    down = tagstream(cli_stack, "status")
    assert down.returncode == 1
    assert "down" in next(line for line in down.stdout.splitlines() if "tagger-0" in line)

    result = tagstream(cli_stack, "up")
    assert result.returncode == 0, result.stderr
    assert "starting what is missing: tagger-0" in result.stderr
    assert [line.split()[1] for line in result.stderr.splitlines() if line.strip().startswith("ready ")] == [
        "tagger-0"]
    after = _pids(cli_stack)
    assert (after["broker"], after["triton"]) == (before["broker"], before["triton"])
    assert after["tagger-0"] not in (None, tagger) and after["keeper"] not in (None, keeper)
    assert _ready(cli_stack)


def test_option_that_contradicts_the_running_stack_is_refused_in_one_line(cli_stack: StackSettings) -> None:
    result = tagstream(cli_stack, "up", "--taggers", "3")
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: the running stack has taggers=1, not 3 (run `tagstream down` first "
                                     "to change it)")


def test_down_stops_the_keeper_and_every_component(tmp_path: Path) -> None:
    settings = stack_settings(tmp_path / "state", taggers=0)
    assert tagstream(settings, "up").returncode == 0
    pids = [pid for pid in _pids(settings).values() if pid is not None]
    assert len(pids) == 3  # broker, triton, keeper (private stacks leave the controller and the console out)
    result = tagstream(settings, "down")
    assert result.returncode == 0, result.stderr
    assert [pid for pid in pids if process_start_ticks(pid) is not None] == []
    assert LocalStack.recorded(settings) is None
    assert not (settings.state_dir / "keeper.beat").exists()
