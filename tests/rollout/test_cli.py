"""``tagstream rollout``: one line and an exit status for every expected failure, and a readable status."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from rollout.cli import render
from tests.rollout.factories import plan
from tests.rollout.test_controller import Rig
from tools.cli.main import app
from tools.stack.ports import free_port


@pytest.fixture(autouse=True)
def nowhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TAGSTREAM_ROLLOUT_API_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("TAGSTREAM_ROLLOUT_API_TOKEN_FILE", str(tmp_path / "no-token"))
    monkeypatch.delenv("TAGSTREAM_ROLLOUT_API_TOKEN", raising=False)


def test_an_unreachable_controller_is_one_line_and_exit_2() -> None:
    result = CliRunner().invoke(app, ["rollout", "status"])
    assert result.exit_code == 2 and "does not answer" in result.output and "Traceback" not in result.output


def test_a_change_without_a_token_says_where_to_put_it() -> None:
    result = CliRunner().invoke(app, ["rollout", "pause"])
    assert result.exit_code == 2 and "TAGSTREAM_ROLLOUT_API_TOKEN" in result.output


def test_a_broken_plan_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: x\nstages:\n  - {name: full, kind: fullest}\n")
    result = CliRunner().invoke(app, ["rollout", "start", "--candidate", "2", "--plan", str(plan)])
    assert result.exit_code == 2 and f"{plan}:3: stages[0].kind" in result.output


def test_the_status_shows_stage_share_bake_guardrails_and_next_gate(tmp_path: Path) -> None:
    rig = Rig(tmp_path)
    rig.controller.recover(None)
    rig.controller.start("2", plan(), actor="ana")
    rig.run(2)
    console = Console(width=160, record=True)
    console.print(render(rig.controller.view().model_dump(mode="json")))
    text = console.export_text()
    assert "stage shadow (shadow), traffic share 0%" in text and "bake 2/10 s" in text
    assert "disagreement │ collar" in text and "next: automatic gate after 8 s" in text
