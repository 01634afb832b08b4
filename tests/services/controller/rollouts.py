"""What the rollout proofs share: a model repository with candidates, a stack with the controller and real taggers,
synthetic traffic, a reader of what the taggers published, and the CLI and API as a release owner uses them.

The stack is the real one: the Tansu broker, the Triton host serving the repository below, the controller process
and two tagger processes that follow ``tagstream.rollout`` and route each event themselves. The candidates:

- version 2: version 1 with the fabric head scrambled (``tagstream model drill-candidate --version 2 --attribute
  fabric``);
- version 3: an honest copy of version 1 (a good candidate);
- version 4: version 1 with every head scrambled (``drill-candidate --version 4 --source 1``).
"""

from __future__ import annotations

import itertools
import json
import shutil
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from pydantic import SecretStr
from typer.testing import CliRunner

from contracts import RolloutArm, TagPrediction, Topics
from model.drill import copy_candidate, drill_candidate, failing_candidate
from model.tritonconfig import DEFAULT_REPOSITORY
from modelspec.tensors import MODEL_NAME
from rollout.audit import AuditLog
from rollout.guardrails import Round
from rollout.plan import plan_from_step
from rollout.serving import TritonRepository
from tests.conftest import stack_settings
from tests.readers import track
from tools.cli.main import app
from tools.cli.scrape import Routing, routing
from tools.stack import LocalStack
from tools.stack.secrets import ROLLOUT_API_TOKEN, TRITON_CONTROL_KEY, secret, secret_file
from tools.traffic.produce import produce
from tools.traffic.synthetic import GeneratedRecord, generate

FABRIC_DRILL, HONEST, EVERY_HEAD_DRILL, FAILING = "2", "3", "4", "5"
#: Events per second the proofs send: what the quick plan's bakes are sized for.
RATE = 100.0
_seeds = itertools.count(1000)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def repository(folder: Path) -> Path:
    """A copy of the committed repository with the four candidates above."""
    repo = folder / "repository"
    shutil.copytree(DEFAULT_REPOSITORY, repo)
    drill_candidate(repo, version=int(FABRIC_DRILL), attribute="fabric")
    copy_candidate(repo, version=int(HONEST), source=1)
    drill_candidate(repo, version=int(EVERY_HEAD_DRILL), source=1)
    failing_candidate(repo, version=int(FAILING), source=1)
    return repo


@contextmanager
def rollout_stack(folder: Path) -> Iterator[LocalStack]:
    """Broker, Triton (serving ``repository(folder)``), the controller and two taggers; the CLI pointed at them."""
    repo = repository(folder)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TAGSTREAM_MODEL_REPOSITORY", str(repo))
        settings = stack_settings(folder / "stack", taggers=2, controller=True)
        patch.setenv("TAGSTREAM_ROLLOUT_API_URL", f"http://127.0.0.1:{settings.controller_port}")
        patch.setenv("TAGSTREAM_ROLLOUT_API_TOKEN_FILE", str(secret_file(settings.secrets_dir, ROLLOUT_API_TOKEN)))
        patch.delenv("TAGSTREAM_ROLLOUT_API_TOKEN", raising=False)
        with LocalStack(settings) as stack:
            stack.start()
            yield stack


# -- the operator's side: the CLI and the audit history -------------------------------------------------------------

def cli(*args: str) -> Any:
    return CliRunner().invoke(app, ["rollout", *args])


def view() -> dict[str, Any]:
    result = cli("status", "--json")
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def history() -> list[dict[str, Any]]:
    result = cli("history", "--json")
    assert result.exit_code == 0, result.output
    return list(json.loads(result.stdout))


def this_rollout(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The transitions since the last start."""
    return entries[max(i for i, t in enumerate(entries) if t["action"] == "start"):]


def step(v: dict[str, Any]) -> str:
    return str(v["state"]["status"]["step"] or v["state"]["status"]["stage"])


def stable_version() -> str:
    return str(view()["state"]["spec"]["stable_version"])


def wait_for(check: Callable[[dict[str, Any]], bool], timeout_s: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        current = view()
        if check(current):
            return current
        if time.monotonic() > deadline:
            raise TimeoutError(f"the rollout never got there; it is at {current['state']['status']}")
        time.sleep(0.3)


def rounds(stack: LocalStack, candidate: str, step_name: str) -> list[Round]:
    """Every measurement the controller recorded for ``candidate`` in ``step_name`` (from its audit history)."""
    audit = AuditLog(stack.settings.state_dir / "rollout" / "audit.sqlite")
    try:
        return audit.rounds_since(MODEL_NAME, candidate, step_name, EPOCH)
    finally:
        audit.close()


def plan_file(folder: Path, *, from_step: str) -> Path:
    """The quick plan (its guardrails and analysis) with the stages before ``from_step`` left out."""
    path = folder / f"quick-from-{from_step}.yaml"
    path.write_text(plan_from_step("quick", from_step))
    return path


def served(stack: LocalStack) -> set[str]:
    """The versions the Triton host serves now (its model-repository API)."""
    key = SecretStr(secret(stack.settings.secrets_dir, TRITON_CONTROL_KEY))
    return TritonRepository(f"http://127.0.0.1:{stack.settings.triton_control_port}", MODEL_NAME, key=key).served()


def taggers_routing(stack: LocalStack) -> list[Routing | None]:
    """What each tagger routes new events by, from its own /metrics."""
    return [routing(f"{stack.tagger_metrics_url(i)}/metrics") for i in range(stack.settings.taggers)]


def wait_taggers_route_by(stack: LocalStack, revision: int, timeout_s: float = 10.0) -> list[Routing]:
    deadline = time.monotonic() + timeout_s
    while True:
        found = taggers_routing(stack)
        if all(r is not None and r.revision >= revision for r in found):
            return [r for r in found if r is not None]
        assert time.monotonic() < deadline, f"the taggers never routed by revision {revision}: {found}"
        time.sleep(0.05)


# -- traffic in, tags out ------------------------------------------------------------------------------------------

class Traffic:
    """Synthetic catalogue events at ``rate`` a second (2% malformed) on a thread, each valid one's send time kept."""

    def __init__(self, stack: LocalStack, *, rate: float = RATE, malformed_ratio: float = 0.02) -> None:
        self._settings = stack.kafka_settings()
        self._rate = rate
        self._malformed = malformed_ratio
        self._seed = next(_seeds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.sent: dict[str, float] = {}  # valid event id -> time.time() just before it was sent
        self.malformed = 0

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def wait_sent_after(self, moment: float, *, events: int, timeout_s: float = 60.0) -> None:
        """Wait until ``events`` valid events were sent after ``moment`` (time.time())."""
        deadline = time.monotonic() + timeout_s
        while sum(sent > moment for sent in list(self.sent.values())) < events:
            assert time.monotonic() < deadline, f"fewer than {events} events sent in {timeout_s} s"
            time.sleep(0.2)

    def _stamped(self, records: Iterator[GeneratedRecord]) -> Iterator[GeneratedRecord]:
        for record in records:
            if self._stop.is_set():
                return
            if record.valid and record.event_id is not None:
                self.sent[record.event_id] = time.time()
            else:
                self.malformed += 1
            yield record

    def _run(self) -> None:
        records = generate(1_000_000, malformed_ratio=self._malformed, seed=self._seed)
        produce(self._settings, self._stamped(records), rate=self._rate, progress=False)


@dataclass
class Published:
    """What the taggers wrote to catalog.tags and catalog.tags.shadow."""

    tags: list[TagPrediction] = field(default_factory=list)
    shadow: list[TagPrediction] = field(default_factory=list)

    def of(self, events: set[str]) -> list[TagPrediction]:
        return [t for t in self.tags if t.event_id in events]


class TagReader:
    """Reads both tag topics from the beginning, without a group, as far as they are written."""

    def __init__(self, stack: LocalStack) -> None:
        self.consumer = track(KafkaConsumer(**stack.kafka_settings().kafka_client_kwargs(), group_id=None,
                                            enable_auto_commit=False, auto_offset_reset="earliest",
                                            fetch_max_wait_ms=50))
        partitions = [TopicPartition(topic, p) for topic in (Topics.TAGS.name, Topics.TAGS_SHADOW.name)
                      for p in self.consumer.partitions_for_topic(topic) or ()]
        self.consumer.assign(partitions)
        self.consumer.seek_to_beginning()
        self.published = Published()

    def read(self) -> Published:
        while batches := self.consumer.poll(timeout_ms=300, max_records=20_000):
            for tp, records in batches.items():
                into = self.published.tags if tp.topic == Topics.TAGS.name else self.published.shadow
                into.extend(TagPrediction.model_validate_json(r.value) for r in records if r.value is not None)
        return self.published

    def until_tagged(self, events: set[str], timeout_s: float = 60.0) -> Published:
        """Read until every event of ``events`` has a tag on catalog.tags."""
        deadline = time.monotonic() + timeout_s
        while True:
            published = self.read()
            missing = events - {t.event_id for t in published.tags}
            if not missing:
                return published
            assert time.monotonic() < deadline, f"{len(missing)} of {len(events)} events never tagged"

    def close(self) -> None:
        self.consumer.close()


def assert_each_tagged_once(published: Published, events: set[str]) -> Counter[str]:
    """Every event of ``events`` on catalog.tags, deduplicated by event id, once, none missing and none foreign.
    Returns how many times each event id was written (at-least-once: a re-delivery writes it again)."""
    counts = Counter(t.event_id for t in published.tags if t.event_id in events)
    assert set(counts) == events, f"missing {len(events - set(counts))} of {len(events)}"
    return counts


def arms(tags: list[TagPrediction]) -> Counter[tuple[str, RolloutArm]]:
    return Counter((t.model.version, t.rollout.arm) for t in tags)
