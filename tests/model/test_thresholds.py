"""Review targets from YAML, thresholds chosen per attribute from served outputs, routing measured as the tagger
routes, and the thresholds file stored with a version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from contracts import AttributeThreshold, ReviewThresholds
from model.dataset import MISSING
from model.thresholds import (
    DEFAULT_TARGETS_FILE,
    THRESHOLDS_FILE,
    ReviewTargets,
    ThresholdsError,
    judge,
    read_thresholds,
    review_thresholds,
    write_thresholds,
)
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES
from modelspec.tensors import OOD_OUTPUT, output_name

RIGHT, WRONG = "main_colour", "texture"  # a head that is always right, one that is always wrong


def test_default_targets_are_95_percent_precision_at_90_percent_confidence() -> None:
    targets = ReviewTargets.load(DEFAULT_TARGETS_FILE)
    assert (targets.default, targets.confidence, targets.targets) == (0.95, 0.9, {})
    assert targets.target_of("fabric") == 0.95


@pytest.mark.parametrize("path", sorted(DEFAULT_TARGETS_FILE.parent.glob("*.yaml")), ids=lambda p: p.name)
def test_every_targets_file_shipped_with_the_model_room_loads(path: Path) -> None:
    targets = ReviewTargets.load(path)
    assert all(0.0 < targets.target_of(name) < 1.0 for name in ATTRIBUTE_NAMES)


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "targets.yaml"
    path.write_text(text)
    return path


def test_targets_file_names_per_attribute_targets_and_the_command_line_moves_only_the_default(tmp_path: Path) -> None:
    targets = ReviewTargets.load(_yaml(tmp_path, "default: 0.9\ntargets: {fabric: 0.8}\n"))
    moved = targets.overridden(default=0.97, confidence=0.8)
    assert (moved.target_of("fabric"), moved.target_of("collar"), moved.confidence) == (0.8, 0.97, 0.8)


@pytest.mark.parametrize(("text", "named"), [
    ("targets: {fabrik: 0.9}\n", "fabrik"),  # an unknown attribute
    ("default: 0.95\nconfidance: 0.9\n", "confidance"),  # an unknown key
    ("default: 1.0\n", "default"),  # a target nothing can certify
    ("confidence: 0\n", "confidence"),
    ("- fabric\n", "mapping"),
    ("default: [0.9\n", "not valid YAML"),
])
def test_a_bad_targets_file_is_refused_naming_what_is_wrong(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ThresholdsError, match=named) as caught:
        ReviewTargets.load(_yaml(tmp_path, text))
    assert caught.value.field


def test_a_missing_targets_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ThresholdsError, match="cannot read") as caught:
        ReviewTargets.load(tmp_path / "absent.yaml")
    assert caught.value.hint is not None and "--targets" in caught.value.hint


def test_a_target_given_on_the_command_line_is_checked_too() -> None:
    with pytest.raises(ThresholdsError, match="default"):
        ReviewTargets().overridden(default=1.5)


def _outputs(n: int, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Served outputs and labels: ``RIGHT`` is always right, ``WRONG`` always wrong, the others right at random
    with a probability equal to their confidence."""
    outputs: dict[str, np.ndarray] = {OOD_OUTPUT: np.full((n, 1), 0.5, dtype=np.float32)}
    labels = np.zeros((n, len(ATTRIBUTES)), dtype=np.int64)
    for j, attribute in enumerate(ATTRIBUTES):
        confidence = 1.0 - 0.5 * rng.random(n) ** 2
        probs = np.full((n, attribute.size), 0.0)
        probs[:, 0] = confidence
        probs[:, 1:] = ((1.0 - confidence) / (attribute.size - 1))[:, None]
        outputs[output_name(attribute.name)] = probs.astype(np.float32)
        right = {RIGHT: np.ones(n, bool), WRONG: np.zeros(n, bool)}.get(attribute.name, rng.random(n) < confidence)
        labels[:, j] = np.where(right, 0, 1)
    return outputs, labels


def test_thresholds_accept_an_always_right_head_everywhere_and_never_an_always_wrong_one() -> None:
    outputs, labels = _outputs(2000, np.random.default_rng(0))
    chosen = review_thresholds(outputs, labels, ReviewTargets(), description="2000 simulated")
    assert set(chosen.attributes) == set(ATTRIBUTE_NAMES)
    assert (chosen.confidence, chosen.calibration_size, chosen.calibration_description) == (0.9, 2000, "2000 simulated")
    right, wrong = chosen.attributes[RIGHT], chosen.attributes[WRONG]
    assert (right.threshold, right.expected_precision, right.review_share) == (0.0, 1.0, 0.0)
    assert (wrong.threshold, wrong.expected_precision, wrong.review_share) == (None, None, 1.0)
    for entry in chosen.attributes.values():
        if entry.threshold is not None:
            assert entry.expected_precision is not None and entry.expected_precision >= 0.95
            assert 0.0 <= entry.review_share < 1.0


def test_an_empty_calibration_split_is_refused() -> None:
    outputs, labels = _outputs(0, np.random.default_rng(0))
    with pytest.raises(ThresholdsError, match="empty"):
        review_thresholds(outputs, labels, ReviewTargets())


def test_out_of_distribution_images_and_missing_labels_are_left_out_of_calibration() -> None:
    outputs, labels = _outputs(2000, np.random.default_rng(1))
    j = ATTRIBUTE_NAMES.index(RIGHT)
    labels[:1000, j] = 1  # wrong on the first half...
    outputs[OOD_OUTPUT][:500] = 2.0  # ...half of which is out of distribution
    labels[500:1000, j] = MISSING  # and the other half unlabelled
    entry = review_thresholds(outputs, labels, ReviewTargets()).attributes[RIGHT]
    assert (entry.threshold, entry.expected_precision) == (0.0, 1.0)


def test_judge_routes_as_the_contract_accepts_and_counts_products_that_need_any_review() -> None:
    outputs, labels = _outputs(400, np.random.default_rng(2))
    outputs[OOD_OUTPUT][:10] = 3.0
    thresholds = review_thresholds(outputs, labels, ReviewTargets(default=0.8, targets={WRONG: 0.5}))
    routed = judge(outputs, labels, thresholds)
    inside = outputs[OOD_OUTPUT][:, 0] <= 1.0
    doubtful = np.array([[not (inside[i] and thresholds.accepts(a.name, float(outputs[output_name(a.name)][i].max())))
                          for a in ATTRIBUTES] for i in range(400)])
    assert routed.products == 400 and routed.out_of_distribution == 10
    assert routed.any_review == int(doubtful.any(axis=1).sum()) == 400  # WRONG always needs review
    assert routed.attributes_reviewed == int(doubtful.sum())
    for j, attribute in enumerate(ATTRIBUTES):
        seen = routed.attributes[attribute.name]
        accepted = ~doubtful[:, j] & inside
        assert seen.rows == int(inside.sum()) and seen.accepted == int(accepted.sum())
        assert seen.correct == int((accepted & (labels[:, j] == 0)).sum())
    assert routed.attributes[WRONG].accepted == 0 and np.isnan(routed.attributes[WRONG].precision)


def test_the_contract_accepts_at_or_above_the_threshold_and_never_without_one() -> None:
    thresholds = ReviewThresholds(confidence=0.9, calibration_size=10, attributes={
        "fit": AttributeThreshold(threshold=0.7, target_precision=0.95, expected_precision=0.96, review_share=0.2),
        "texture": AttributeThreshold(threshold=None, target_precision=0.95, review_share=1.0)})
    assert thresholds.accepts("fit", 0.7) and not thresholds.accepts("fit", 0.6999)
    assert not thresholds.accepts("texture", 1.0)
    assert not thresholds.accepts("collar", 1.0)  # not listed: reviewed


@pytest.mark.parametrize("fields", [
    {"threshold": None, "review_share": 0.5},
    {"threshold": None, "review_share": 1.0, "expected_precision": 0.9},
    {"threshold": 0.8, "review_share": 0.5},
])
def test_an_inconsistent_attribute_threshold_is_refused(fields: dict[str, float | None]) -> None:
    with pytest.raises(ValidationError):
        AttributeThreshold(target_precision=0.95, **fields)  # type: ignore[arg-type]


def test_thresholds_file_round_trips_and_a_version_without_one_has_none(tmp_path: Path) -> None:
    assert read_thresholds(tmp_path) is None
    outputs, labels = _outputs(300, np.random.default_rng(3))
    chosen = review_thresholds(outputs, labels, ReviewTargets())
    path = write_thresholds(tmp_path, chosen)
    assert path == tmp_path / THRESHOLDS_FILE and [p.name for p in tmp_path.iterdir()] == [THRESHOLDS_FILE]
    assert read_thresholds(tmp_path) == chosen


def test_a_corrupt_thresholds_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / THRESHOLDS_FILE).write_text('{"confidence": 0.9}')
    with pytest.raises(ThresholdsError, match="not a valid ReviewThresholds") as caught:
        read_thresholds(tmp_path)
    assert caught.value.hint is not None and "--write" in caught.value.hint
