"""Expected failures on the command line: one line naming the cause and the fix, exit 2 or 1, no traceback.

The real ``tagstream`` script runs in a subprocess where the formatting is the point (``run()`` turns a
``TagstreamError`` into the line); typer's CliRunner checks that the other failures are such errors.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from contracts.errors import TagstreamError
from tests.conftest import stack_settings
from tools.cli.main import app
from tools.stack.ports import free_port

#: The installed console script, as a user runs it.
TAGSTREAM = Path(sys.executable).parent / "tagstream"


def _run(args: list[str], env: dict[str, str], timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TAGSTREAM_")}
    return subprocess.run([str(TAGSTREAM), *args], env={**clean, "COLUMNS": "80", **env}, capture_output=True,
                          text=True, timeout=timeout_s, check=False)


def _one_line(result: subprocess.CompletedProcess[str], *, progress_lines: int = 0) -> str:
    """The error line; ``progress_lines`` lines that the command printed before it failed are allowed."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == progress_lines + 1, result.stderr
    assert lines[-1].startswith("error: ")
    return lines[-1]


def _stack_env(tmp_path: Path, **overrides: object) -> dict[str, str]:
    settings = stack_settings(tmp_path / "state", **overrides)
    return {f"TAGSTREAM_{k.upper()}": str(v) for k, v in settings.model_dump(mode="json").items()
            if not isinstance(v, dict | list)}


def test_export_without_a_trained_run_says_to_train_first(tmp_path: Path) -> None:
    result = _run(["model", "export", "--version", "9", "--run", str(tmp_path / "no-run")], {})
    assert result.returncode == 2
    line = _one_line(result)
    assert "no model at" in line and "tagstream model train" in line


def test_produce_to_a_broker_that_does_not_answer_names_the_address_and_the_fix() -> None:
    address = f"127.0.0.1:{free_port()}"
    result = _run(["produce", "--synthetic", "1", "--no-progress"], {"TAGSTREAM_KAFKA_BOOTSTRAP": address})
    assert result.returncode == 1
    line = _one_line(result)
    assert f"no Kafka broker answers at {address}" in line and "tagstream up" in line


def test_up_with_a_port_in_use_names_the_port_and_the_setting(tmp_path: Path, held_port: int) -> None:
    result = _run(["up"], _stack_env(tmp_path, broker_port=held_port))
    assert result.returncode == 2
    line = _one_line(result, progress_lines=1)  # "starting broker, triton, tagger-0; logs in ..."
    assert f"port {held_port}" in line and "TAGSTREAM_BROKER_PORT" in line
    assert not (tmp_path / "state" / "stack.json").exists()


def test_tagger_with_its_metrics_port_in_use_ends_with_one_line_naming_it(held_port: int) -> None:
    result = _run(["tagger"], {"TAGSTREAM_METRICS_PORT": str(held_port),
                               "TAGSTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"})
    assert result.returncode == 2
    line = _one_line(result, progress_lines=1)  # the tagger's own "starting with ..." log line
    assert f"port {held_port}" in line and "TAGSTREAM_METRICS_PORT" in line


def test_invalid_setting_in_the_environment_names_the_setting_and_its_variable() -> None:
    result = _run(["status"], {"TAGSTREAM_TAGGERS": "many"})
    assert result.returncode == 2
    line = _one_line(result)
    assert "taggers" in line and "TAGSTREAM_TAGGERS" in line


runner = CliRunner()


def _fails_with(args: list[str], env: dict[str, str] | None = None) -> TagstreamError:
    """Invoke the app in-process; the failure must be the kind that ``run()`` prints as one line."""
    result = runner.invoke(app, args, env=env)
    assert isinstance(result.exception, TagstreamError), (result.output, result.exception)
    assert "\n" not in str(result.exception)
    return result.exception


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    error = _fails_with(["status"], {"TAGSTREAM_CONFIG": str(tmp_path / "nope.yaml")})
    assert "TAGSTREAM_CONFIG" in str(error) and "nope.yaml" in str(error)


def test_misspelt_key_in_the_config_file_is_named_with_the_file(tmp_path: Path) -> None:
    config = tmp_path / "tagstream.yaml"
    config.write_text("stack:\n  tagers: 2\n")
    error = _fails_with(["up"], {"TAGSTREAM_CONFIG": str(config)})
    assert "'stack.tagers'" in str(error) and str(config) in str(error) and "'taggers'" in str(error)


def test_missing_label_file_is_named(tmp_path: Path) -> None:
    error = _fails_with(["model", "catalogue", str(tmp_path / "labels.csv")])
    assert "labels.csv" in str(error) and "no such label file" in str(error)


def test_evaluate_without_a_trained_run_says_to_train_first(tmp_path: Path) -> None:
    error = _fails_with(["model", "evaluate", "--run", str(tmp_path)])
    assert "tagstream model train" in str(error)


def test_restart_without_a_stack_says_to_start_one(tmp_path: Path) -> None:
    error = _fails_with(["restart", "tagger-0"], {"TAGSTREAM_STATE_DIR": str(tmp_path)})
    assert "no local stack recorded" in str(error) and "tagstream up" in str(error)
