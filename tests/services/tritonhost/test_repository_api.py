"""The host's model-repository API: the rollout controller's client loads a candidate beside stable and unloads
the old version, as it does against production Triton's API in explicit model-control mode."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from pydantic import SecretStr
from tritonclient.utils import InferenceServerException

from contracts import TritonAddressing, triton_target
from model.drill import drill_candidate
from model.tritonconfig import DEFAULT_REPOSITORY
from modelspec.tensors import INPUT_NAME, INPUT_SHAPE, MODEL_NAME, output_name
from rollout.errors import ServingError
from rollout.serving import TritonRepository
from tests.conftest import StackFactory
from tools.stack.secrets import TRITON_CONTROL_KEY, secret

pytestmark = pytest.mark.integration
IMAGES = np.random.default_rng(5).integers(0, 256, size=(6, *INPUT_SHAPE), dtype=np.uint8)


def _fabric(client: grpcclient.InferenceServerClient, version: str, *, by_name: bool = True) -> np.ndarray:
    name, number = triton_target(MODEL_NAME, version, TritonAddressing.NAME) if by_name else (MODEL_NAME, version)
    tensor = grpcclient.InferInput(INPUT_NAME, list(IMAGES.shape), "UINT8")
    tensor.set_data_from_numpy(IMAGES)
    result = client.infer(name, [tensor], model_version=number, timeout=30)
    return result.as_numpy(output_name("fabric")).argmax(axis=1)


def test_a_candidate_is_loaded_beside_stable_and_the_old_version_unloaded(
        stack_factory: StackFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repository = tmp_path / "repository"
    shutil.copytree(DEFAULT_REPOSITORY, repository)
    drill_candidate(repository, version=2, attribute="fabric")
    monkeypatch.setenv("TAGSTREAM_MODEL_REPOSITORY", str(repository))
    stack = stack_factory(["triton"], taggers=0)
    url = f"http://127.0.0.1:{stack.settings.triton_control_port}"
    key = SecretStr(secret(stack.settings.secrets_dir, TRITON_CONTROL_KEY))
    triton = TritonRepository(url, MODEL_NAME, key=key)
    client = grpcclient.InferenceServerClient(stack.settings.triton_url)

    assert triton.served() == {"1"}
    stable = _fabric(client, "1")
    assert np.array_equal(stable, _fabric(client, "1", by_name=False))  # the plain name is the startup version

    triton.serve({"1", "2"})
    assert triton.served() == {"1", "2"}
    assert (stable != _fabric(client, "2")).all()  # the drill scrambled fabric

    triton.serve({"2"})  # the rollout completed: version 2 is stable, 1 goes
    assert triton.served() == {"2"}
    with pytest.raises(InferenceServerException, match="version 1 of catalog_tagger is unloaded"):
        _fabric(client, "1")
    assert (stable != _fabric(client, "2")).all()
    assert np.array_equal(stable, _fabric(client, "1", by_name=False))  # clients that follow no rollout keep going

    triton.serve({"1", "2"})  # loaded again after an unload
    assert np.array_equal(stable, _fabric(client, "1"))

    with pytest.raises(ServingError, match=r"answered 400.*no model file"):
        triton.serve({"1", "9"})
    assert triton.served() == {"1", "2"}  # nothing changed

    with pytest.raises(ServingError, match="answered 401") as caught:
        TritonRepository(url, MODEL_NAME, key=SecretStr("wrong")).serve({"1"})
    assert "restricted" in str(caught.value)
    assert triton.served() == {"1", "2"}
