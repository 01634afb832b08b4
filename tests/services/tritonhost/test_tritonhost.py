"""The local Triton host, started by LocalStack, serves the exported model file under the catalog_tagger contract.

Which repository it serves: see ``served_repository`` in this folder's conftest.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from model.export import onnx_predictor, onnx_session
from modelspec.taxonomy import ATTRIBUTES
from modelspec.tensors import INPUT_NAME, INPUT_SHAPE, MODEL_NAME, OOD_OUTPUT, OUTPUT_NAMES, output_name
from services.tritonhost.settings import TritonHostSettings
from tools.stack import LocalStack
from tools.stack.errors import ComponentFailedError
from tools.stack.supervisor import process_start_ticks

pytestmark = pytest.mark.integration


@pytest.fixture
def client(triton_stack: LocalStack) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(triton_stack.settings.triton_url)


def test_server_is_live_and_ready_with_the_model_loaded(client: grpcclient.InferenceServerClient) -> None:
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(MODEL_NAME)


def test_model_metadata_matches_the_serving_contract(client: grpcclient.InferenceServerClient) -> None:
    metadata = client.get_model_metadata(MODEL_NAME, as_json=True)
    [image] = metadata["inputs"]
    assert (image["name"], image["datatype"]) == (INPUT_NAME, "UINT8")
    assert [int(d) for d in image["shape"]] == [-1, *INPUT_SHAPE]
    outputs = {o["name"]: o for o in metadata["outputs"]}
    assert set(outputs) == set(OUTPUT_NAMES)
    for attribute in ATTRIBUTES:
        out = outputs[output_name(attribute.name)]
        assert out["datatype"] == "FP32"
        assert [int(d) for d in out["shape"]] == [-1, attribute.size]
    assert outputs[OOD_OUTPUT]["datatype"] == "FP32"
    assert [int(d) for d in outputs[OOD_OUTPUT]["shape"]] == [-1, 1]


def _infer(client: grpcclient.InferenceServerClient, images: np.ndarray) -> grpcclient.InferResult:
    tensor = grpcclient.InferInput(INPUT_NAME, list(images.shape), "UINT8")
    tensor.set_data_from_numpy(images)
    return client.infer(MODEL_NAME, [tensor], timeout=30)


def test_batch_of_eight_images_gets_one_probability_row_per_image(client: grpcclient.InferenceServerClient) -> None:
    images = np.random.default_rng(0).integers(0, 256, size=(8, *INPUT_SHAPE), dtype=np.uint8)
    result = _infer(client, images)
    for attribute in ATTRIBUTES:
        probs = result.as_numpy(output_name(attribute.name))
        assert probs.shape == (8, attribute.size)
        assert probs.dtype == np.float32
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-4)
        assert (probs >= 0).all()
    ood = result.as_numpy(OOD_OUTPUT)
    assert ood.shape == (8, 1) and ood.dtype == np.float32 and (ood >= 0).all()


def test_triton_serves_exactly_the_exported_file(client: grpcclient.InferenceServerClient,
                                                 served_repository: Path) -> None:
    images = np.random.default_rng(1).integers(0, 256, size=(5, *INPUT_SHAPE), dtype=np.uint8)
    model_path = TritonHostSettings(model_repository=served_repository).model_path
    expected = onnx_predictor(onnx_session(model_path))(images)
    result = _infer(client, images)
    for name in OUTPUT_NAMES:
        np.testing.assert_allclose(result.as_numpy(name), expected[name], atol=1e-6, rtol=0)


def test_host_without_its_model_file_fails_at_start_naming_the_path_and_the_export_command(
        stack_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "no-repository"
    monkeypatch.setenv("TAGSTREAM_MODEL_REPOSITORY", str(empty))
    with pytest.raises(ComponentFailedError) as info:
        stack_factory(["triton"], taggers=0)
    text = str(info.value)
    assert str(empty / MODEL_NAME / "1" / "model.onnx") in text
    assert "tagstream model export --version 1" in text


def test_stopping_triton_leaves_no_tritonserver_behind(stack_factory) -> None:
    stack = stack_factory(["triton"], taggers=0)
    leader = stack.process("triton").pid
    assert leader is not None
    group = _group_members(leader)
    assert len(group) >= 2, "tritonserver runs in the host's process group"
    stack.stop_component("triton")
    assert all(process_start_ticks(pid) is None for pid in group)


def _group_members(pgid: int) -> list[int]:
    """Pids whose process group is ``pgid`` (Linux /proc)."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            members.append(int(stat.parent.name))
    return members
