"""A tagger SIGKILLed while the others hold uncommitted work, against the real broker and Triton: the survivors go on,
nothing is lost (shared parts in ``rebalance.py``)."""

from __future__ import annotations

import pytest

from tests.services.tagger.rebalance import (
    BACKLOG,
    GROUP,
    Feeder,
    healthy,
    never_failed,
    report_duplicates,
    tagger_log,
    until_all_busy,
)
from tests.services.tagger.streams import OutputReader, TagCounter

pytestmark = pytest.mark.integration


def test_a_tagger_killed_while_the_others_hold_uncommitted_work_loses_nothing(stack_factory, record_property):
    stack = stack_factory(taggers=3, tagger_env=GROUP)
    counter = TagCounter(stack.kafka_settings())
    feeder = Feeder(stack, seed=62)

    counter.until(BACKLOG // 2, timeout_s=120)
    holding = until_all_busy(stack, ["tagger-0", "tagger-1", "tagger-2"], timeout_s=60)
    stack.kill("tagger-2")  # its partitions move to the others after the session timeout, mid-drain
    assert counter.count() < len(feeder.sent), "the backlog drained before the kill"
    print(f"events in flight when tagger-2 was killed: {holding}")
    counter.until(counter.count() + BACKLOG, timeout_s=120)  # the survivors take the partitions over and go on
    wanted = feeder.stop()

    seen = OutputReader(stack.kafka_settings(), review=False).until(lambda s: s.tagged_ids >= wanted, timeout_s=240)
    for name in ("tagger-0", "tagger-1"):
        assert healthy(stack, name)
    never_failed(stack, "tagger-0", "tagger-1")
    survivors = tagger_log(stack, "tagger-0") + tagger_log(stack, "tagger-1")
    assert "partitions revoked" in survivors  # the survivors gave up theirs with work in flight, and took more
    assert seen.dead == []
    report_duplicates(stack, seen, "sigkill_one_of_three", record_property)
