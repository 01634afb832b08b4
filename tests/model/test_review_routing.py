"""The proof of review routing: on held-out synthetic products (never the calibration split), the labels each
attribute accepts without review reach its target precision, with the committed model served by onnxruntime.

**What is promised, and the slack.** Learn-then-Test promises, per attribute, that with probability at least
``confidence`` (0.9) over the draw of the calibration split, the *population* precision of the labels accepted at
the chosen threshold is at least the target. A held-out set measures that population precision with sampling
noise: ``m`` accepted labels of a population at exactly the target precision are right ``Binomial(m, target)``
times. The slack is that noise at ``EPSILON``: an attribute fails only when its held-out count of right labels
is below the ``EPSILON`` quantile of ``Binomial(m, target)``, i.e. realised precision < target - slack(m) (about
0.013 for 3,000 accepted labels at 0.95, 0.06 for 120). The products and seeds are fixed, so the outcome is
deterministic; the miss rate of the procedure itself over many calibration draws (at most 1 - confidence) is
tested with simulated scores in ``test_ltt``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import binom

from contracts import ReviewThresholds
from model.export import onnx_predictor, onnx_session, predict_all
from model.synthetic import dataset
from model.thresholds import ReviewTargets, Routing, judge, read_thresholds, review_thresholds
from model.tritonconfig import DEFAULT_REPOSITORY
from modelspec.taxonomy import ATTRIBUTE_NAMES
from modelspec.tensors import MODEL_NAME

COMMITTED = DEFAULT_REPOSITORY / MODEL_NAME / "1"
#: Held-out products: another seed than any calibration split below or in the committed file (2001).
HELD_OUT_SEED, HELD_OUT = 3001, 3000
CALIBRATION_SEED, CALIBRATION = 2002, 3000
#: Chance that held-out sampling alone pushes an attribute at exactly its target under target - slack.
EPSILON = 0.001


def slack(accepted: int, target: float) -> float:
    """How far under ``target`` the realised precision of ``accepted`` held-out labels may fall by sampling alone."""
    return target - float(binom.ppf(EPSILON, accepted, target)) / accepted


def _outputs(path: Path, images: np.ndarray) -> dict[str, np.ndarray]:
    return predict_all(onnx_predictor(onnx_session(path / "model.onnx", threads=2)), images)


@pytest.fixture(scope="module")
def held_out() -> tuple[dict[str, np.ndarray], np.ndarray]:
    products = dataset(HELD_OUT, seed=HELD_OUT_SEED)
    return _outputs(COMMITTED, products.images), products.labels


def _assert_accepted_labels_reach_their_targets(routed: Routing, thresholds: ReviewThresholds) -> list[str]:
    """Every attribute that accepts anything reaches its target within the slack; returns those attributes."""
    accepting = []
    for name, seen in routed.attributes.items():
        if seen.accepted == 0:
            continue
        accepting.append(name)
        target = thresholds.attributes[name].target_precision
        assert seen.precision >= target - slack(seen.accepted, target), (
            f"{name}: {seen.correct} of {seen.accepted} accepted labels right ({seen.precision:.4f}), under "
            f"{target} - {slack(seen.accepted, target):.4f} at threshold {seen.threshold}")
    return accepting


def test_committed_thresholds_hold_on_held_out_products(held_out: tuple[dict[str, np.ndarray], np.ndarray]) -> None:
    thresholds = read_thresholds(COMMITTED)
    assert thresholds is not None, "version 1 has no review_thresholds.json: run `tagstream model thresholds --write`"
    assert f"data seed {HELD_OUT_SEED}" not in thresholds.calibration_description
    assert set(thresholds.attributes) == set(ATTRIBUTE_NAMES)
    routed = judge(*held_out, thresholds)
    accepting = _assert_accepted_labels_reach_their_targets(routed, thresholds)
    assert len(accepting) >= 8  # most heads accept labels: the check above is not vacuous
    never = {n for n, e in thresholds.attributes.items() if e.threshold is None}
    assert never.isdisjoint(accepting)  # an attribute without a threshold is always reviewed
    assert routed.any_review_share == 1.0 if never else routed.any_review_share < 1.0


def test_thresholds_chosen_on_one_calibration_split_hold_on_another_split(
        held_out: tuple[dict[str, np.ndarray], np.ndarray]) -> None:
    calibration = dataset(CALIBRATION, seed=CALIBRATION_SEED)
    thresholds = review_thresholds(_outputs(COMMITTED, calibration.images), calibration.labels, ReviewTargets(),
                                   description=f"{CALIBRATION} synthetic products, data seed {CALIBRATION_SEED}")
    routed = judge(*held_out, thresholds)
    accepting = _assert_accepted_labels_reach_their_targets(routed, thresholds)
    assert len(accepting) >= 8
    for name in accepting:  # and the calibration split's review share predicts the held-out one
        assert routed.attributes[name].review_share == pytest.approx(thresholds.attributes[name].review_share,
                                                                     abs=0.05)
