import pytest
from typer.testing import CliRunner

from tools.cli.main import app
from tools.cli.scrape import quantile

runner = CliRunner()


@pytest.mark.parametrize("command", [[], ["up"], ["down"], ["status"], ["produce"], ["tail"], ["demo"],
                                     ["bench", "pipeline"], ["contracts", "export"], ["tagger"]])
def test_every_command_answers_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_committed_schemas_match_the_models_through_the_cli():
    result = runner.invoke(app, ["contracts", "export", "--check"])
    assert result.exit_code == 0, result.output


def test_quantile_interpolates_within_the_bucket_that_holds_the_rank():
    buckets = {0.01: 10.0, 0.1: 90.0, 1.0: 100.0, float("inf"): 100.0}
    assert quantile(buckets, None, 0.5) == pytest.approx(0.01 + 0.09 * (50 - 10) / 80)
    assert quantile(buckets, None, 0.99) == pytest.approx(0.1 + 0.9 * (99 - 90) / 10)


def test_quantile_uses_only_the_interval_between_two_scrapes():
    before = {0.01: 100.0, 0.1: 100.0, float("inf"): 100.0}
    now = {0.01: 100.0, 0.1: 200.0, float("inf"): 200.0}
    assert 0.01 < quantile(now, before, 0.5) <= 0.1
    assert quantile(before, before, 0.5) is None
