"""Scaling from one tagger to three and back under a backlog, against the real broker and Triton: no tagger dies,
nothing is lost (shared parts in ``rebalance.py``)."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.services.tagger.rebalance import (
    BACKLOG,
    GROUP,
    Feeder,
    healthy,
    in_flight,
    never_failed,
    quiet_ports,
    report_duplicates,
)
from tests.services.tagger.streams import OutputReader, TagCounter

pytestmark = pytest.mark.integration


def test_scaling_from_one_to_three_taggers_and_back_mid_drain_loses_nothing_and_kills_no_one(stack_factory,
                                                                                            record_property):
    stack = stack_factory(["broker", "triton", "tagger-0"], taggers=3, tagger_env=GROUP,
                          tagger_metrics_port=quiet_ports(3))
    counter = TagCounter(stack.kafka_settings())
    feeder = Feeder(stack, seed=61)

    counter.until(BACKLOG // 2, timeout_s=120)
    with ThreadPoolExecutor(2) as pool:  # both at once; each start returns once its tagger has joined
        list(pool.map(stack.start_component, ["tagger-1", "tagger-2"]))
    assert counter.count() < len(feeder.sent), "the backlog drained before the scale-out finished"
    assert sum(in_flight(stack, f"tagger-{i}") for i in range(3)) > 0
    counter.until(counter.count() + BACKLOG, timeout_s=120)  # three at work for a while
    for name in ("tagger-2", "tagger-1"):
        stack.stop_component(name, signal.SIGTERM)
    codes = [stack.process(name).returncode for name in ("tagger-2", "tagger-1")]
    assert counter.count() < len(feeder.sent), "the backlog drained before the scale-in finished"
    wanted = feeder.stop()

    seen = OutputReader(stack.kafka_settings(), review=False).until(lambda s: s.tagged_ids >= wanted, timeout_s=240)
    assert codes == [0, 0]  # a tagger leaving on SIGTERM drains, commits and exits 0
    assert healthy(stack, "tagger-0")
    never_failed(stack, "tagger-0", "tagger-1", "tagger-2")
    assert seen.dead == []
    report_duplicates(stack, seen, "scale_1_3_1", record_property)
