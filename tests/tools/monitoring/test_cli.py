import pytest
from typer.testing import CliRunner

from tools.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize("command", [["monitor"], ["label"], ["dashboard"], ["report", "quality"],
                                     ["bench", "monitor"], ["model", "register"]])
def test_the_monitor_commands_answer_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_label_without_synthetic_is_a_one_line_error(tmp_path):
    result = runner.invoke(app, ["label", "--truth", str(tmp_path / "truth.jsonl")])
    assert result.exit_code == 1
    assert "--synthetic" in result.output and "Traceback" not in result.output


def test_label_with_a_missing_truth_file_names_it(tmp_path):
    result = runner.invoke(app, ["label", "--synthetic", "--truth", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 1
    assert "none.jsonl" in result.output and "Traceback" not in result.output


def test_report_quality_wants_a_time_zone():
    result = runner.invoke(app, ["report", "quality", "--since", "2026-11-30T08:00:00"])
    assert result.exit_code == 1 and "time zone" in result.output


def test_up_offers_prometheus():
    result = runner.invoke(app, ["up", "--help"], env={"COLUMNS": "200"})
    assert "--with-prometheus" in result.output
