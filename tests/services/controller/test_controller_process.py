"""The controller process on the real broker and the real Triton host, driven through its CLI and API.

The tags it judges are written under the rollout state it publishes (see ``traffic.py``); the candidate is a drill
(``tagstream model drill-candidate``) or an honest copy of the stable version.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from model.drill import drill_candidate
from model.tritonconfig import DEFAULT_REPOSITORY
from modelspec.tensors import MODEL_NAME
from rollout.serving import TritonRepository
from tests.conftest import stack_settings
from tests.services.controller.traffic import RoutedTags, honest, scrambled_from
from tools.cli.main import app
from tools.stack import LocalStack
from tools.stack.secrets import ROLLOUT_API_TOKEN, TRITON_CONTROL_KEY, secret, secret_file

pytestmark = pytest.mark.integration
MANUAL_PILOT = """\
name: gated
analysis: {interval: 1s, failure_limit: 1}
guardrails:
  disagreement: {max: 0.5, min_samples: 20}
stages:
  - {name: shadow, kind: shadow, bake: {time: 2s, events: 20}}
  - {name: pilot, kind: pilot, cohort: {hash_share: 0.3}, compare_share: 1.0, gate: manual, bake: {time: 2s}}
  - {name: canary-50, kind: canary, share: 0.5, compare_share: 1.0, bake: {time: 2s, events: 20}}
  - {name: full, kind: full, bake: {time: 2s, events: 20}, guardrails: {disagreement: null}}
"""


@pytest.fixture(scope="module")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Broker, Triton and the controller, for this module's tests (each starts from whatever the last one left:
    no rollout running, and a stable version it reads from the status). The repository has version 1, version 2
    (version 1 with the fabric head scrambled) and version 3 (an honest copy of version 1)."""
    folder = tmp_path_factory.mktemp("controller")
    repository = folder / "repository"
    shutil.copytree(DEFAULT_REPOSITORY, repository)
    drill_candidate(repository, version=2, attribute="fabric")
    shutil.copytree(repository / MODEL_NAME / "1", repository / MODEL_NAME / "3")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TAGSTREAM_MODEL_REPOSITORY", str(repository))
        with LocalStack(stack_settings(folder / "stack", taggers=0, controller=True)) as stack:
            stack.start(["broker", "triton", "controller"])
            yield stack


@pytest.fixture
def stack(shared_stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> LocalStack:
    """The shared stack, with the CLI pointed at its controller and its token file."""
    settings = shared_stack.settings
    monkeypatch.setenv("TAGSTREAM_ROLLOUT_API_URL", f"http://127.0.0.1:{settings.controller_port}")
    monkeypatch.setenv("TAGSTREAM_ROLLOUT_API_TOKEN_FILE", str(secret_file(settings.secrets_dir, ROLLOUT_API_TOKEN)))
    monkeypatch.delenv("TAGSTREAM_ROLLOUT_API_TOKEN", raising=False)
    assert view()["state"]["status"]["stage"] in ("stable", "rolled_back"), "a rollout was left running"
    return shared_stack


def honest_candidate() -> str:
    """Version 3 is an honest copy of version 1: whichever is not stable now."""
    return "1" if view()["state"]["spec"]["stable_version"] == "3" else "3"


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["rollout", *args])


def view() -> dict[str, Any]:
    result = cli("status", "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def wait_for(check: Callable[[dict[str, Any]], bool], timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        current = view()
        if check(current):
            return current
        if time.monotonic() > deadline:
            raise TimeoutError(f"the rollout never got there; it is at {current['state']['status']}")
        time.sleep(0.3)


def triton(stack: LocalStack) -> TritonRepository:
    from pydantic import SecretStr

    key = SecretStr(secret(stack.settings.secrets_dir, TRITON_CONTROL_KEY))
    return TritonRepository(f"http://127.0.0.1:{stack.settings.triton_control_port}", MODEL_NAME, key=key)


def wait_served(stack: LocalStack, versions: set[str], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while triton(stack).served() != versions:
        assert time.monotonic() < deadline, f"Triton never served exactly {versions}"
        time.sleep(0.3)


def step(v: dict[str, Any]) -> str:
    return str(v["state"]["status"]["step"] or v["state"]["status"]["stage"])


def test_a_good_candidate_goes_to_full_automatically_and_becomes_stable(stack: LocalStack) -> None:
    stable, candidate = view()["state"]["spec"]["stable_version"], honest_candidate()
    with RoutedTags(stack.kafka_settings(), honest, stable=stable):
        started = cli("start", "--candidate", candidate, "--plan", "quick")
        assert started.exit_code == 0, started.output
        assert triton(stack).served() == {stable, candidate}
        seen: list[str] = []
        done = wait_for(lambda v: seen.append(step(v)) or v["state"]["status"]["stage"] == "stable", timeout_s=120)
    assert done["state"]["spec"]["stable_version"] == candidate
    assert [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s][:1] == ["shadow"]
    assert {"pilot", "canary-10", "canary-50", "full"} <= set(seen)
    wait_served(stack, {candidate})  # the old version unloaded
    history = json.loads(cli("history", "--json").stdout)
    this = history[max(i for i, t in enumerate(history) if t["action"] == "start"):]
    assert [t["action"] for t in this].count("advance") == 4 and this[-1]["action"] == "complete"


def test_a_bad_candidate_rolls_back_on_its_attributes_guardrail(stack: LocalStack) -> None:
    stable = view()["state"]["spec"]["stable_version"]
    with RoutedTags(stack.kafka_settings(), scrambled_from("2"), stable=stable):
        assert cli("start", "--candidate", "2", "--plan", "quick").exit_code == 0
        done = wait_for(lambda v: v["state"]["status"]["stage"] == "rolled_back")
    assert done["state"]["status"]["reason"] == "GuardrailBreached"
    assert "disagreement failed" in done["state"]["status"]["message"]
    last = json.loads(cli("history", "--json").stdout)[-1]
    assert last["action"] == "rollback" and any(f["attribute"] == "fabric" and f["phase"] == "failed"
                                                for f in last["figures"])
    wait_served(stack, {stable})  # the candidate unloaded


def test_a_manual_gate_waits_for_approval_and_a_restarted_controller_resumes(stack: LocalStack,
                                                                            tmp_path: Path) -> None:
    plan = tmp_path / "gated.yaml"
    plan.write_text(MANUAL_PILOT)
    stable, candidate = view()["state"]["spec"]["stable_version"], honest_candidate()
    with RoutedTags(stack.kafka_settings(), honest, stable=stable):
        assert cli("start", "--candidate", candidate, "--plan", str(plan)).exit_code == 0
        waiting = wait_for(lambda v: v["phase"] == "AwaitingApproval")
        assert step(waiting) == "pilot"
        refused = cli("resume")
        assert refused.exit_code == 1 and "stage pilot waits for approval" in refused.output
        time.sleep(3)
        assert step(view()) == "pilot"  # it waits, however long

        revision = waiting["state"]["status"]["revision"]
        before = json.loads(cli("history", "--json").stdout)
        stack.restart("controller")
        resumed = view()
        assert (resumed["phase"], resumed["state"]["status"]["revision"]) == ("AwaitingApproval", revision)
        assert json.loads(cli("history", "--json").stdout)[:len(before)] == before

        assert cli("approve").exit_code == 0
        wait_for(lambda v: step(v) == "canary-50")
        assert cli("rollback", "--reason", "end of the test").exit_code == 0


def test_changes_without_the_token_are_refused_with_401_and_change_nothing(stack: LocalStack) -> None:
    refused = cli("approve")
    assert refused.exit_code == 1 and "no rollout is running" in refused.output
    assert cli("start", "--candidate", honest_candidate(), "--plan", "quick").exit_code == 0  # no traffic: it bakes
    base = f"http://127.0.0.1:{stack.settings.controller_port}/v1/rollouts/catalog_tagger"
    before = wait_for(lambda v: v["state"]["status"]["reason"] == "StageBaking")["state"]  # then nothing moves
    history = json.loads(cli("history", "--json").stdout)
    calls = [("start", {"candidate": "2", "plan_name": "quick", "actor": "mallory"}),
             ("rollback", {"actor": "mallory", "reason": "x"}), ("pause", {"actor": "mallory"}),
             ("promote", {"actor": "mallory"})]
    for path, body in calls:
        for headers in ({}, {"Authorization": "Bearer not-the-token"}):
            request = urllib.request.Request(f"{base}/{path}", data=json.dumps(body).encode(), method="POST",
                                             headers={"Content-Type": "application/json", **headers})
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=10)
            assert caught.value.code == 401, path
    after = view()["state"]
    assert (after["spec"], after["status"]["revision"], after["status"]["paused"]) == (
        before["spec"], before["status"]["revision"], before["status"]["paused"])
    assert json.loads(cli("history", "--json").stdout) == history
    assert cli("rollback", "--reason", "end of the test").exit_code == 0
    log = (stack.settings.logs_dir / "controller.log").read_text()
    assert secret(stack.settings.secrets_dir, ROLLOUT_API_TOKEN) not in log
