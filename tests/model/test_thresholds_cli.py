"""`tagstream model thresholds`: recomputes an exported version's thresholds, prints them, writes only when asked,
and refuses bad input with one line naming the option."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from model.thresholds import THRESHOLDS_FILE, ThresholdsError, read_thresholds
from modelspec.taxonomy import ATTRIBUTE_NAMES
from modelspec.tensors import MODEL_NAME
from tests.model.factories import export_tiny_repository, reference_images, tiny_trained_model
from tools.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = export_tiny_repository(tmp_path_factory.mktemp("repository"))
    (out / MODEL_NAME / "1" / THRESHOLDS_FILE).unlink()  # as a version exported before thresholds existed
    return out


def _invoke(repository: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["model", "thresholds", "--repository", str(repository), "--synthetic", "150",
                                 *args], env={"COLUMNS": "200"})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_thresholds_are_printed_per_attribute_and_written_only_with_write(repository: Path) -> None:
    version_dir = repository / MODEL_NAME / "1"
    code, output = _invoke(repository, "--held-out", "100")
    assert code == 0, output
    assert all(name in output for name in ATTRIBUTE_NAMES)
    assert "150 fresh synthetic products, data seed 2001" in output and "held-out precision" in output
    assert "always go to review" in output  # an untrained model certifies nothing at 0.95
    assert "nothing written" in output and not (version_dir / THRESHOLDS_FILE).exists()

    code, output = _invoke(repository, "--target", "0.3", "--confidence", "0.8", "--write")
    assert code == 0, output
    stored = read_thresholds(version_dir)
    assert stored is not None and stored.confidence == 0.8 and stored.calibration_size == 150
    assert {e.target_precision for e in stored.attributes.values()} == {0.3}
    assert stored.calibration_description == "150 fresh synthetic products, data seed 2001"


@pytest.mark.parametrize(("args", "named"), [
    (["--held-out", "10", "--held-out-seed", "2001"], "--held-out-seed"),
    (["--version", "9"], "has no version 9"),
    (["--run", "a", "--catalogue", "b"], "not both"),
])
def test_bad_options_are_refused_naming_the_option(repository: Path, args: list[str], named: str) -> None:
    code, output = _invoke(repository, *args)
    assert code == 2
    assert named in " ".join(output.split())


def test_a_run_whose_validation_split_is_not_the_versions_reference_set_is_refused(repository: Path,
                                                                                   tmp_path: Path) -> None:
    images = np.zeros((7, 64, 64, 3), dtype=np.uint8)
    np.savez_compressed(tmp_path / "validation.npz", images=images, labels=np.zeros((7, 13), dtype=np.int64))
    code, output = _invoke(repository, "--run", str(tmp_path))
    assert code == 2 and "not the reference set of version 1" in " ".join(output.split())


def test_an_unknown_attribute_in_the_targets_file_is_refused(repository: Path, tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text("targets: {colour: 0.9}\n")
    with pytest.raises(ThresholdsError, match="unknown attribute colour"):
        _invoke(repository, "--targets", str(targets))


def test_export_stores_thresholds_for_the_targets_it_is_given(tmp_path: Path) -> None:
    run, out = tmp_path / "run", tmp_path / "repository"
    tiny_trained_model().save(run / "model.pt")
    validation = reference_images(n=30)
    np.savez_compressed(run / "validation.npz", images=validation.images, labels=validation.labels)
    targets = tmp_path / "targets.yaml"
    targets.write_text("confidence: 0.8\ntargets: {fabric: 0.6}\n")
    result = runner.invoke(app, ["model", "export", "--version", "4", "--run", str(run), "--out", str(out),
                                 "--targets", str(targets), "--target", "0.5"])
    assert result.exit_code == 0, result.output
    stored = read_thresholds(out / MODEL_NAME / "4")
    assert stored is not None and (stored.confidence, stored.calibration_size) == (0.8, 30)
    assert stored.attributes["fabric"].target_precision == 0.6 and stored.attributes["fit"].target_precision == 0.5
    assert stored.calibration_description.startswith("validation split of the training run (30 images")
