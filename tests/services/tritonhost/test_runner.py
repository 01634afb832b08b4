"""OnnxRunner serves the exported file as the serving contract says, and refuses anything else by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import model
from model.export import predict_all, torch_predictor
from modelspec.taxonomy import ATTRIBUTES
from modelspec.tensors import INPUT_NAME, INPUT_SHAPE, MODEL_NAME, OOD_OUTPUT, OUTPUT_NAMES, output_name
from services.tritonhost.runner import ModelLoadError, OnnxRunner, TensorSpec
from services.tritonhost.settings import DEFAULT_REPOSITORY, TritonHostSettings
from tests.model.factories import reference_images, tiny_trained_model


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return reference_images().images


@pytest.fixture(scope="module")
def runner(exported_repository: Path) -> OnnxRunner:
    return OnnxRunner(exported_repository / MODEL_NAME / "1" / "model.onnx", threads=1)


def test_runner_binds_the_contract_tensors_read_from_the_file(runner: OnnxRunner) -> None:
    assert runner.input == TensorSpec(INPUT_NAME, np.uint8, INPUT_SHAPE)
    assert [o.name for o in runner.outputs] == list(OUTPUT_NAMES)
    shapes = {o.name: o.shape for o in runner.outputs}
    assert shapes == {output_name(a.name): (a.size,) for a in ATTRIBUTES} | {OOD_OUTPUT: (1,)}
    assert all(o.dtype is np.float32 for o in runner.outputs)
    assert runner.provider == "CPUExecutionProvider"


@pytest.mark.parametrize("batch", [1, 7])
def test_runner_outputs_equal_the_torch_model_it_was_exported_from(runner: OnnxRunner, images: np.ndarray,
                                                                   batch: int) -> None:
    served = runner(images[:batch])
    expected = predict_all(torch_predictor(tiny_trained_model()), images[:batch])
    assert list(served) == list(OUTPUT_NAMES)
    for name in OUTPUT_NAMES:
        assert served[name].dtype == np.float32
        np.testing.assert_allclose(served[name], expected[name], atol=1e-4, rtol=0)
    for attribute in ATTRIBUTES:
        np.testing.assert_allclose(served[output_name(attribute.name)].sum(axis=1), 1.0, atol=1e-5)


def test_missing_model_names_the_path_the_versions_there_and_the_export_command(exported_repository: Path) -> None:
    path = exported_repository / MODEL_NAME / "4" / "model.onnx"
    with pytest.raises(ModelLoadError) as info:
        OnnxRunner(path)
    text = str(info.value)
    assert str(path) in text
    assert "versions there: 1" in text
    assert "tagstream model export --version 4" in text


def test_a_file_onnxruntime_cannot_load_is_a_model_load_error(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not an onnx file")
    with pytest.raises(ModelLoadError, match="onnxruntime cannot load"):
        OnnxRunner(path)


def test_a_model_without_the_contract_outputs_is_refused_naming_them(tmp_path: Path) -> None:
    image = helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["batch", *INPUT_SHAPE])
    category = helper.make_tensor_value_info(output_name("category"), TensorProto.FLOAT, ["batch", 64, 64, 3])
    graph = helper.make_graph([helper.make_node("Cast", [INPUT_NAME], [output_name("category")], to=TensorProto.FLOAT)],
                              "partial", [image], [category])
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(ModelLoadError) as info:
        OnnxRunner(path)
    assert OOD_OUTPUT in str(info.value) and output_name("fabric") in str(info.value)


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA is available here")
def test_cuda_without_a_cuda_onnxruntime_says_how_to_fix_it(exported_repository: Path) -> None:
    with pytest.raises(ModelLoadError, match="TAGSTREAM_DEVICE=cpu"):
        OnnxRunner(exported_repository / MODEL_NAME / "1" / "model.onnx", device="cuda")


def test_default_repository_is_the_committed_one_wherever_the_process_runs(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TAGSTREAM_MODEL_REPOSITORY", raising=False)
    monkeypatch.delenv("TAGSTREAM_MODEL_VERSION", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = TritonHostSettings()
    assert settings.model_repository == DEFAULT_REPOSITORY
    assert DEFAULT_REPOSITORY.is_absolute()
    assert Path(model.__file__).resolve().parent / "repository" == DEFAULT_REPOSITORY
    assert settings.model_path == DEFAULT_REPOSITORY / MODEL_NAME / "1" / "model.onnx"


def test_repository_and_version_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TAGSTREAM_MODEL_REPOSITORY", str(tmp_path))
    monkeypatch.setenv("TAGSTREAM_MODEL_VERSION", "3")
    assert TritonHostSettings().model_path == tmp_path / MODEL_NAME / "3" / "model.onnx"
