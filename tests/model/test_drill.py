"""Drill candidates: a copy of a version with its classes shuffled, in every head or in one."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from contracts import ReferenceProfile
from model.drill import DrillError, drill_candidate
from model.export import PROFILE_FILE, onnx_predictor, onnx_session
from model.registry import model_card
from model.tritonconfig import DEFAULT_REPOSITORY, ONNX_FILE
from modelspec.taxonomy import ATTRIBUTES
from modelspec.tensors import INPUT_SHAPE, MODEL_NAME, output_name
from tools.cli.main import app


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A copy of the committed repository (version 1)."""
    shutil.copytree(DEFAULT_REPOSITORY, tmp_path / "repository")
    return tmp_path / "repository"


def _labels(path: Path) -> dict[str, np.ndarray]:
    images = np.random.default_rng(3).integers(0, 256, size=(64, *INPUT_SHAPE), dtype=np.uint8)
    outputs = onnx_predictor(onnx_session(path))(images)
    return {a.name: outputs[output_name(a.name)].argmax(axis=1) for a in ATTRIBUTES}


def test_one_attributes_head_is_scrambled_and_the_others_are_untouched(repository: Path) -> None:
    target = drill_candidate(repository, version=2, attribute="fabric")
    before, after = _labels(repository / MODEL_NAME / "1" / ONNX_FILE), _labels(target / ONNX_FILE)
    assert (before["fabric"] != after["fabric"]).all()
    assert all(np.array_equal(before[a.name], after[a.name]) for a in ATTRIBUTES if a.name != "fabric")
    profile = ReferenceProfile.model_validate_json((target / PROFILE_FILE).read_text())
    assert profile.model.version == "2" and profile.reference_description.startswith("drill: version 1's profile")


def test_every_head_is_scrambled_by_default_through_the_command(repository: Path) -> None:
    result = CliRunner().invoke(app, ["model", "drill-candidate", "--version", "3", "--out", str(repository)])
    assert result.exit_code == 0, result.output
    before, after = _labels(repository / MODEL_NAME / "1" / ONNX_FILE), _labels(repository / MODEL_NAME / "3" /
                                                                                   ONNX_FILE)
    assert all((before[a.name] != after[a.name]).all() for a in ATTRIBUTES)


@pytest.mark.parametrize(("kwargs", "says"), [
    ({"version": 1}, "exists"),
    ({"version": 2, "attribute": "colour"}, "no attribute 'colour'"),
    ({"version": 2, "source": 9}, "no version to copy"),
])
def test_a_drill_that_cannot_be_written_says_why_and_leaves_nothing(repository: Path, kwargs: dict[str, object],
                                                                     says: str) -> None:
    with pytest.raises(DrillError, match=says):
        drill_candidate(repository, version=kwargs.pop("version"), **kwargs)  # type: ignore[arg-type]
    assert sorted(p.name for p in (repository / MODEL_NAME).iterdir() if p.is_dir()) == ["1"]


def test_a_copy_candidate_answers_as_its_source_and_registers_with_its_thresholds(repository: Path) -> None:
    result = CliRunner().invoke(app, ["model", "drill-candidate", "--version", "2", "--copy", "--out",
                                      str(repository)])
    assert result.exit_code == 0, result.output
    before, after = _labels(repository / MODEL_NAME / "1" / ONNX_FILE), _labels(repository / MODEL_NAME / "2" /
                                                                                   ONNX_FILE)
    assert all(np.array_equal(before[a.name], after[a.name]) for a in ATTRIBUTES)
    card, source = model_card(repository, 2), model_card(repository, 1)
    assert card.model.version == "2" and card.review == source.review and card.review is not None
    assert card.profile.reference_description.startswith("a copy of version 1")


def test_a_copy_refuses_an_attribute(repository: Path) -> None:
    result = CliRunner().invoke(app, ["model", "drill-candidate", "--version", "2", "--copy", "--attribute", "fabric",
                                      "--out", str(repository)])
    said = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2 and "leave out --attribute" in said
    assert not (repository / MODEL_NAME / "2").exists()


def test_a_failing_candidate_loads_with_the_serving_contract_and_fails_every_run(repository: Path) -> None:
    result = CliRunner().invoke(app, ["model", "drill-candidate", "--version", "2", "--failing", "--out",
                                      str(repository)])
    assert result.exit_code == 0, result.output
    session = onnx_session(repository / MODEL_NAME / "2" / ONNX_FILE)  # loads, with the contract's tensors
    original = onnx_session(repository / MODEL_NAME / "1" / ONNX_FILE)
    assert [(t.name, t.shape) for t in session.get_inputs() + session.get_outputs()] == [
        (t.name, t.shape) for t in original.get_inputs() + original.get_outputs()]
    images = np.zeros((3, *INPUT_SHAPE), dtype=np.uint8)
    with pytest.raises(Exception, match="out of data bounds"):
        onnx_predictor(session)(images)
    assert model_card(repository, 2).model.version == "2"
