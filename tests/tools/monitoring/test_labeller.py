import json
from datetime import UTC, datetime

import pytest

from contracts import LabelSource
from tools.monitoring.labeller import LabellerError, Truth, label_of, read_truth, sampled, schedule


def _line(product: str, **extra: object) -> str:
    record = {"event_id": f"e-{product}", "product_id": product, "merchant_id": "m-001",
              "labels": {"category": "shirt", "main_pattern": None}, "novelty": {}, "non_garment": None,
              "out_of_distribution": False, **extra}
    return json.dumps(record)


def test_a_truth_file_becomes_labels_of_the_known_classes_and_novel_names(tmp_path):
    path = tmp_path / "truth.jsonl"
    path.write_text("\n".join([_line("p-1"), _line("p-2", novelty={"main_pattern": "houndstooth"}),
                               _line("p-3", out_of_distribution=True, non_garment="shoe")]) + "\n")
    truths = list(read_truth(path))
    assert [t.labels for t in truths] == [{"category": "shirt"}, {"category": "shirt", "main_pattern": "houndstooth"}]
    label = label_of(truths[0], LabelSource.AUDIT, datetime(2026, 11, 30, tzinfo=UTC))
    assert (label.product_id, label.event_id, label.source) == ("p-1", "e-p-1", LabelSource.AUDIT)


def test_a_line_that_is_not_a_truth_names_the_file_and_line(tmp_path):
    path = tmp_path / "truth.jsonl"
    path.write_text(_line("p-1") + "\n{not json\n")
    with pytest.raises(LabellerError, match=r"truth.jsonl:2"):
        list(read_truth(path))


def test_the_sample_is_the_share_asked_for_and_the_same_for_a_seed():
    chosen = [sampled(f"p-{i}", sample=0.2, seed=3) for i in range(5000)]
    assert 0.17 < sum(chosen) / 5000 < 0.23
    assert chosen == [sampled(f"p-{i}", sample=0.2, seed=3) for i in range(5000)]


def test_jitter_sends_labels_out_of_their_products_order():
    truths = [Truth(f"e-{i}", f"p-{i}", {"fit": "slim"}) for i in range(200)]
    due = schedule(truths, sample=1.0, seed=1, delay_s=10.0, jitter_s=60.0)
    offsets = [offset for offset, _ in due]
    assert offsets == sorted(offsets) and offsets[0] >= 10.0 and offsets[-1] <= 70.0
    assert [t.product_id for _, t in due] != [t.product_id for t in truths]
