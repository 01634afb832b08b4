"""Rebalances under load, against the real broker and the real Triton: no tagger dies, nothing is lost.

A backlog large enough that every step happens while it drains: taggers join (their partitions are
revoked from the ones at work, which finish or abandon their in-flight events and commit), leave on
SIGTERM, and one is SIGKILLed while the others hold uncommitted work. Every process that was not
stopped on purpose must still be alive and must never have restarted its pipeline.
"""

from __future__ import annotations

import json
import signal
import urllib.request

import pytest

from tests.services.tagger.streams import OutputReader, Seen
from tools.traffic.produce import produce
from tools.traffic.synthetic import generate

pytestmark = pytest.mark.integration

BACKLOG = 9000
#: Short group timeouts so a killed member is noticed in seconds; commits often, as a busy tagger would.
GROUP = {"TAGSTREAM_SESSION_TIMEOUT_MS": "6000", "TAGSTREAM_HEARTBEAT_INTERVAL_MS": "1500",
         "TAGSTREAM_COMMIT_INTERVAL_MS": "300"}
#: What a tagger logs when its pipeline failed and main's restart policy rebuilt it.
RESTARTED = "restarting on fresh clients"


def _backlog(stack, seed: int) -> set[str]:
    records = list(generate(BACKLOG, seed=seed))
    produce(stack.kafka_settings(), records, progress=False)
    return {r.event_id for r in records if r.event_id}


def _healthy(stack, name: str) -> bool:
    """Alive, and its liveness probe answers ok."""
    index = int(name.removeprefix("tagger-"))
    with urllib.request.urlopen(f"{stack.tagger_metrics_url(index)}/healthz", timeout=5) as answer:
        return stack.process(name).alive() and json.loads(answer.read())["ok"] is True


def _log(stack, name: str) -> str:
    return stack.process(name).log_path.read_text(errors="replace")


def _report(seen: Seen, label: str, record_property) -> int:
    duplicates = len(seen.tags) - len(seen.tagged_ids)
    record_property(f"duplicates_{label}", duplicates)
    print(f"{label}: {duplicates} duplicate tags of {len(seen.tags)} ({len(seen.tagged_ids)} events)")
    return duplicates


def test_scaling_from_one_to_three_taggers_and_back_mid_drain_loses_nothing_and_kills_no_one(stack_factory,
                                                                                            record_property):
    stack = stack_factory(["broker", "triton", "tagger-0"], taggers=3, tagger_env=GROUP)
    wanted = _backlog(stack, seed=61)
    reader = OutputReader(stack.kafka_settings())

    reader.until(lambda s: len(s.tagged_ids) >= BACKLOG // 10, timeout_s=120)
    stack.start_component("tagger-1")  # each start returns once the tagger has joined: a rebalance each
    stack.start_component("tagger-2")
    assert len(reader.poll().tagged_ids) < BACKLOG, "the backlog drained before the scale-out finished"
    reader.until(lambda s: len(s.tagged_ids) >= BACKLOG // 2, timeout_s=120)
    for name in ("tagger-2", "tagger-1"):
        stack.stop_component(name, signal.SIGTERM)
    codes = [stack.process(name).returncode for name in ("tagger-2", "tagger-1")]
    assert len(reader.poll().tagged_ids) < BACKLOG, "the backlog drained before the scale-in finished"

    seen = reader.until(lambda s: s.tagged_ids >= wanted, timeout_s=240)
    assert codes == [0, 0]  # a tagger leaving on SIGTERM drains, commits and exits 0
    assert _healthy(stack, "tagger-0")
    for name in ("tagger-0", "tagger-1", "tagger-2"):
        assert RESTARTED not in _log(stack, name), f"{name}'s pipeline failed and was rebuilt"
        assert "Cannot block on net.run()" not in _log(stack, name)
    assert seen.dead == []
    _report(seen, "scale_1_3_1", record_property)


def test_a_tagger_killed_while_the_others_hold_uncommitted_work_loses_nothing(stack_factory, record_property):
    stack = stack_factory(taggers=3, tagger_env=GROUP)
    wanted = _backlog(stack, seed=62)
    reader = OutputReader(stack.kafka_settings())

    reader.until(lambda s: len(s.tagged_ids) >= BACKLOG // 4, timeout_s=120)
    stack.kill("tagger-2")  # its partitions move to the others after the session timeout, mid-drain
    seen = reader.until(lambda s: s.tagged_ids >= wanted, timeout_s=240)
    for name in ("tagger-0", "tagger-1"):
        assert _healthy(stack, name)
        assert RESTARTED not in _log(stack, name), f"{name}'s pipeline failed and was rebuilt"
        assert "Cannot block on net.run()" not in _log(stack, name)
    assert "partitions revoked" in _log(stack, "tagger-0") + _log(stack, "tagger-1")
    assert seen.dead == []
    _report(seen, "sigkill_one_of_three", record_property)
