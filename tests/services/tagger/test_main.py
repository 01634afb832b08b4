"""The process's restart policy decides what happens after any failure of the pipeline."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from services.tagger import main
from tools.stack.ports import free_port


def _broken(*_: object) -> None:
    raise RuntimeError("a bug while wiring the clients")


def test_an_unexpected_exception_is_logged_and_left_to_the_restart_policy(monkeypatch, capsys):
    monkeypatch.setenv("TAGSTREAM_RESTART_ON_ERROR", "false")
    monkeypatch.setenv("TAGSTREAM_METRICS_PORT", "0")
    monkeypatch.setenv("TAGSTREAM_KAFKA_BOOTSTRAP", f"127.0.0.1:{free_port()}")  # nobody there: cards never come
    monkeypatch.setenv("TAGSTREAM_MODEL_CARDS_WAIT_S", "0")
    monkeypatch.setattr(main, "_connect", _broken)
    assert main.main() == 1  # exit 1 for an orchestrator to restart; with the default, rebuilt after a backoff
    assert "the pipeline failed" in capsys.readouterr().err


def test_invalid_settings_exit_2_naming_the_problem(monkeypatch, capsys):
    monkeypatch.setenv("TAGSTREAM_BATCH_MAX_SIZE", "0")
    assert main.main() == 2
    assert "batch_max_size" in capsys.readouterr().err


def test_process_exits_2_with_one_line_naming_the_fix_when_its_metrics_port_is_taken(held_port: int):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAGSTREAM_")}
    env.update(TAGSTREAM_METRICS_HOST="127.0.0.1", TAGSTREAM_METRICS_PORT=str(held_port),
               TAGSTREAM_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    result = subprocess.run([sys.executable, "-m", "services.tagger"], env=env, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert [line for line in lines if line.startswith("error:") or " ERROR " in line] == [lines[-1]], result.stderr
    assert lines[-1] == (f"error: cannot run the tagger: port {held_port} on 127.0.0.1 is taken (it is for /metrics, "
                         "/healthz and /readyz) (set TAGSTREAM_METRICS_PORT to a free port, or stop what holds it)")


@pytest.fixture(autouse=True)
def _restore_signal_handlers():
    import signal

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)
