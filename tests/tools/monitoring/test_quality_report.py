from datetime import timedelta

from contracts import LabelSource
from monitoring.policy import QualityTargets
from tests.monitoring.factories import T0, draw_tags, label_for
from tools.monitoring.report import quality_rows

TARGETS = QualityTargets(attributes={"main_colour": 0.85, "fit": 0.75}, merchants={"m-001": {"fit": 0.5}})


def test_each_merchant_is_scored_per_attribute_against_its_own_or_the_catalogue_target():
    tags = list(draw_tags(400, seed=3, merchants=2))
    labels = [label_for(t, correct=(t.merchant_id == "m-000" or i % 4 == 1)) for i, t in enumerate(tags)]
    rows = {(r.merchant, r.attribute): r for r in quality_rows(iter(tags), iter(labels), TARGETS)}
    good, poor = rows[("m-000", "main_colour")], rows[("m-001", "main_colour")]
    assert (good.labels, good.accuracy, good.verdict) == (200, 1.0, "met")
    assert poor.verdict == "missed" and 0.3 < poor.missed_by < 0.4
    assert rows[("m-001", "fit")].target == 0.5 and rows[("m-001", "fit")].verdict == "unclear"
    assert rows[("m-000", "category")].verdict == "no target"


def test_only_audit_labels_count_by_default_and_few_labels_give_no_verdict():
    tags = list(draw_tags(40, seed=4, merchants=1))
    labels = [label_for(t, source=LabelSource.REVIEWER) for t in tags[:30]] + [label_for(t) for t in tags[30:]]
    (row,) = [r for r in quality_rows(iter(tags), iter(labels), TARGETS) if r.attribute == "main_colour"]
    assert (row.labels, row.verdict) == (10, "too few labels")


def test_since_and_merchant_filter_the_tags():
    tags = list(draw_tags(100, seed=5, merchants=2))
    labels = [label_for(t) for t in tags]
    rows = quality_rows(iter(tags), iter(labels), TARGETS, merchant="m-001", since=T0 + timedelta(seconds=50))
    assert {r.merchant for r in rows} == {"m-001"}
    assert max(r.labels for r in rows) == 25
