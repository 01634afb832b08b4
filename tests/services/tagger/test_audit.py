"""The random audit sample: its rate, that it is a function of the event id alone, and what it sends to review."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import REGISTRY
from scipy.stats import binom

from contracts import ReviewItem, ReviewKind, TagPrediction, Topics
from modelspec.taxonomy import ATTRIBUTE_NAMES
from services.tagger.postprocess import audit_draw, in_audit_sample
from tests.services.tagger.fakes import FakeProducer, FakeTriton, run
from tools.traffic.synthetic import generate

ROOT = Path(__file__).resolve().parents[3]
#: Each rate check fails by chance with probability 1e-6 (both tails together).
CHANCE = 1e-6


def _uuids(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    return [str(uuid.UUID(bytes=rng.bytes(16), version=4)) for _ in range(n)]


IDS = {"uuid4": _uuids(100_000, seed=1), "sequential": [f"evt-{i}" for i in range(100_000)]}


@pytest.mark.parametrize("share", [0.001, 0.01, 0.1, 0.5])
@pytest.mark.parametrize("kind", list(IDS))
def test_the_sample_rate_is_the_share_within_binomial_bounds(share, kind):
    ids = IDS[kind]
    sampled = sum(in_audit_sample(event_id, share) for event_id in ids)
    low, high = binom.interval(1 - CHANCE, len(ids), share)
    print(f"\n{kind}, share {share}: {sampled} of {len(ids)} ({sampled / len(ids):.4%}), "
          f"bounds [{low:.0f}, {high:.0f}]")
    assert low <= sampled <= high


def test_the_draws_are_uniform_on_the_unit_interval():
    draws = np.array([audit_draw(event_id) for event_id in IDS["uuid4"]])
    assert draws.min() >= 0.0 and draws.max() < 1.0
    counts = np.histogram(draws, bins=20, range=(0.0, 1.0))[0]
    expected = len(draws) / 20
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 50.0  # 19 degrees of freedom: P(chi2 > 50) is about 1e-4 for uniform draws


def test_the_decision_is_the_same_in_another_process_with_another_hash_seed():
    ids = IDS["uuid4"][:2000]
    here = [in_audit_sample(event_id, 0.1) for event_id in ids]
    script = ("import json, sys\nfrom services.tagger.postprocess import in_audit_sample\n"
              "print(json.dumps([in_audit_sample(i, 0.1) for i in json.load(sys.stdin)]))")
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
    other = subprocess.run([sys.executable, "-c", script], input=json.dumps(ids), capture_output=True, text=True,
                           env=env, check=True, cwd=ROOT, timeout=60)
    assert json.loads(other.stdout) == here
    assert 100 < sum(here) < 300  # the comparison is not of two empty samples


def test_a_larger_share_keeps_every_tag_the_smaller_picked_and_the_ends_are_none_and_all():
    ids = IDS["uuid4"][:20_000]
    small = {i for i in ids if in_audit_sample(i, 0.01)}
    large = {i for i in ids if in_audit_sample(i, 0.05)}
    assert small < large
    assert not any(in_audit_sample(i, 0.0) for i in ids)
    assert all(in_audit_sample(i, 1.0) for i in ids)


def _items(producer: FakeProducer) -> list[ReviewItem]:
    return [ReviewItem.model_validate_json(v) for v in producer.values(Topics.REVIEW.name)]


def _audit_count() -> float:
    return REGISTRY.get_sample_value("tagstream_events_audit_total") or 0.0


@pytest.mark.parametrize("confident", [True, False], ids=["nothing in doubt", "every tag in doubt"])
def test_tags_in_the_sample_go_to_review_as_audit_items_with_every_attribute(confident):
    records = list(generate(60, seed=31))
    share = 0.3
    sampled = {r.event_id for r in records if in_audit_sample(r.event_id, share)}
    assert 5 < len(sampled) < 35  # the seed gives a sample to look at
    before = _audit_count()
    producer = FakeProducer()
    code, _ = run([r.value for r in records], producer=producer, triton=FakeTriton(confident=confident),
                  settings={"audit_share": share})
    assert code == 0
    tags = {t.event_id: t for t in map(TagPrediction.model_validate_json, producer.values(Topics.TAGS.name))}
    assert len(tags) == 60
    items = _items(producer)
    audits = [item for item in items if item.kind is ReviewKind.AUDIT]
    assert {item.tag.event_id for item in audits} == sampled
    assert all(item.attributes == list(ATTRIBUTE_NAMES) and item.tag == tags[item.tag.event_id] for item in audits)
    doubts = [item for item in items if item.kind is ReviewKind.DOUBT]
    assert all(item.attributes == item.tag.needs_review for item in doubts)
    # one item per tag at most: a doubtful tag in the sample is reviewed once, as an audit
    assert len(items) == len({item.tag.event_id for item in items})
    in_doubt = {event_id for event_id, tag in tags.items() if tag.needs_review}
    assert {item.tag.event_id for item in doubts} == in_doubt - sampled
    assert bool(in_doubt) is not confident
    assert _audit_count() - before == len(sampled)


def test_a_redelivered_event_makes_the_same_decision():
    records = list(generate(40, seed=32))
    runs = []
    for _ in range(2):  # the same events read twice, as after a crash before the commit
        producer = FakeProducer()
        assert run([r.value for r in records], producer=producer, triton=FakeTriton(confident=True),
                   settings={"audit_share": 0.25})[0] == 0
        runs.append(sorted(item.tag.event_id for item in _items(producer)))
    assert runs[0] == runs[1] and runs[0]
