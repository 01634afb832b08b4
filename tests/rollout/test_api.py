"""The operator API: open reads, bearer-token writes (401 and nothing changes without it), clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from contracts import RolloutStage
from rollout.api import create_app
from tests.rollout.test_controller import Rig

TOKEN = "s3cret-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
QUICK = {"candidate": "2", "plan_name": "quick", "actor": "ana"}


@pytest.fixture
def rig(tmp_path: Path) -> Rig:
    r = Rig(tmp_path)
    r.controller.recover(None)
    return r


@pytest.fixture
def api(rig: Rig) -> TestClient:
    return TestClient(create_app(rig.controller, token=SecretStr(TOKEN), ready=lambda: (True, {})))


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                                     {"Authorization": TOKEN}])
@pytest.mark.parametrize(("path", "body"), [
    ("start", QUICK), ("approve", {"actor": "x"}), ("pause", {"actor": "x"}), ("resume", {"actor": "x"}),
    ("promote", {"actor": "x"}), ("rollback", {"actor": "x", "reason": "y"})])
def test_every_change_without_the_token_is_401_and_changes_nothing(api: TestClient, rig: Rig, headers: dict[str, str],
                                                                   path: str, body: dict[str, str]) -> None:
    before = (rig.controller.state, len(rig.topic.published), rig.controller.history())
    answer = api.post(f"/v1/rollouts/catalog_tagger/{path}", json=body, headers=headers)
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in answer.text
    assert (rig.controller.state, len(rig.topic.published), rig.controller.history()) == before
    assert rig.serving.calls == []


def test_reads_are_open_and_a_start_with_the_token_runs(api: TestClient, rig: Rig) -> None:
    assert api.get("/v1/rollouts/catalog_tagger").json()["next_gate"] == "no rollout is running"
    started = api.post("/v1/rollouts/catalog_tagger/start", json=QUICK, headers=AUTH)
    assert started.status_code == 200, started.text
    assert started.json()["status"]["step"] == "shadow" and started.json()["spec"]["plan"] == "quick"
    view = api.get("/v1/rollouts/catalog_tagger").json()
    assert view["phase"] == "Progressing" and view["bake"]["needed_time_s"] == 3.0
    history = api.get("/v1/rollouts/catalog_tagger/history").json()
    assert [t["action"] for t in history] == ["start"] and history[0]["actor"] == "ana"


def test_refusals_are_409_with_the_reason_and_the_way_out(api: TestClient) -> None:
    answer = api.post("/v1/rollouts/catalog_tagger/approve", json={"actor": "ana"}, headers=AUTH)
    assert answer.status_code == 409
    assert answer.json() == {"error": "no_rollout", "message": "no rollout is running",
                             "hint": "start one with `tagstream rollout start --candidate N`", "problems": []}
    api.post("/v1/rollouts/catalog_tagger/start", json=QUICK, headers=AUTH)
    again = api.post("/v1/rollouts/catalog_tagger/start", json={**QUICK, "candidate": "3"}, headers=AUTH)
    assert again.status_code == 409 and again.json()["error"] == "rollout_running"


def test_a_broken_plan_is_422_naming_the_line_and_the_field(api: TestClient) -> None:
    plan = "name: mine\nstages:\n  - {name: shadow, kind: shadow, bake: {time: soon}}\n  - {name: full, kind: full}\n"
    answer = api.post("/v1/rollouts/catalog_tagger/start", json={"candidate": "2", "plan": plan,
                                                                 "plan_name": "mine.yaml", "actor": "ana"},
                      headers=AUTH)
    assert answer.status_code == 422
    assert answer.json()["problems"][0].startswith("mine.yaml:3: stages[0].bake.time: 'soon' is not a duration")
    unknown = api.post("/v1/rollouts/catalog_tagger/start", json={**QUICK, "plan_name": "/etc/passwd"}, headers=AUTH)
    assert unknown.status_code == 422 and "no shipped plan" in unknown.json()["message"]


def test_triton_failing_to_load_is_503_and_nothing_starts(api: TestClient, rig: Rig) -> None:
    rig.serving.fail = True
    answer = api.post("/v1/rollouts/catalog_tagger/start", json=QUICK, headers=AUTH)
    assert answer.status_code == 503 and answer.json()["error"] == "candidate_not_served"
    assert rig.controller.state.status.stage is RolloutStage.STABLE


def test_another_model_is_404(api: TestClient) -> None:
    assert api.get("/v1/rollouts/other").status_code == 404


def test_the_openapi_description_lists_every_call_and_the_bearer_scheme(api: TestClient) -> None:
    spec = api.get("/openapi.json").json()
    paths = spec["paths"]
    for action in ("start", "approve", "pause", "resume", "promote", "rollback"):
        assert paths[f"/v1/rollouts/{{model}}/{action}"]["post"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in paths["/v1/rollouts/{model}"]["get"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_metrics_show_the_stage(api: TestClient) -> None:
    api.post("/v1/rollouts/catalog_tagger/start", json=QUICK, headers=AUTH)
    text = api.get("/metrics").text
    assert 'tagstream_rollout_stage{model="catalog_tagger",stage="shadow"} 1.0' in text
