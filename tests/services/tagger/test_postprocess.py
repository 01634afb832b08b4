"""From model outputs to tags, and the one rule that decides review: low confidence, OOD, poor image."""

from __future__ import annotations

import numpy as np
import pytest

from contracts import ReviewReason
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES, BY_NAME
from modelspec.tensors import OOD_OUTPUT, output_name
from services.tagger.postprocess import to_tags

ALL = list(ATTRIBUTE_NAMES)


def _outputs(n: int, confident: bool, ood: float | list[float] = 0.2) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for a in ATTRIBUTES:
        probs = rng.random((n, a.size)).astype(np.float32)
        if confident:
            probs[:, 1] += 100.0
        out[output_name(a.name)] = probs / probs.sum(axis=1, keepdims=True)
    out[OOD_OUTPUT] = np.broadcast_to(np.asarray(ood, dtype=np.float32), (n,)).reshape(n, 1).copy()
    return out


def test_top_label_is_the_argmax_and_top_k_is_sorted():
    outputs = _outputs(5, confident=False)
    result = to_tags(outputs, top_k=3, threshold=lambda _: 0.0, ood_threshold=1.0)
    assert len(result) == 5
    for row, tagged in enumerate(result):
        assert set(tagged.attributes) == {a.name for a in ATTRIBUTES}
        assert tagged.needs_review == []
        assert tagged.review_reasons == []
        for name, tag in tagged.attributes.items():
            probs = outputs[output_name(name)][row]
            assert tag["label"] == BY_NAME[name].classes[int(np.argmax(probs))]
            assert tag["confidence"] == tag["top_k"][0]["score"]
            scores = [s["score"] for s in tag["top_k"]]
            assert scores == sorted(scores, reverse=True)
            assert len(tag["top_k"]) == 3


def test_attributes_under_their_threshold_need_review_for_low_confidence():
    outputs = _outputs(2, confident=True)
    thresholds = {"collar": 1.01}  # nothing reaches it
    result = to_tags(outputs, top_k=2, threshold=lambda a: thresholds.get(a, 0.5), ood_threshold=1.0)
    for tagged in result:
        assert tagged.needs_review == ["collar"]
        assert tagged.review_reasons == [ReviewReason.LOW_CONFIDENCE]


LOW, OOD = ReviewReason.LOW_CONFIDENCE, ReviewReason.OUT_OF_DISTRIBUTION
BLANK, BLURRED, TINY = ReviewReason.IMAGE_BLANK, ReviewReason.IMAGE_BLURRED, ReviewReason.IMAGE_TINY


@pytest.mark.parametrize(("confident", "ood", "image_reasons", "reasons", "needs_review"), [
    pytest.param(True, 0.2, [], [], [], id="confident, in distribution, good image: nothing to review"),
    pytest.param(False, 0.2, [], [LOW], ALL, id="unsure everywhere: every attribute, low confidence"),
    pytest.param(True, 1.5, [], [OOD], ALL, id="out of distribution: every attribute"),
    pytest.param(True, 1.0, [], [], [], id="a score of exactly the threshold is still in distribution"),
    pytest.param(True, 0.2, [BLANK], [BLANK], ALL, id="blank image: every attribute"),
    pytest.param(True, 0.2, [TINY, BLURRED], [BLURRED, TINY], ALL, id="several image reasons, in enum order"),
    pytest.param(False, 3.0, [BLANK], [LOW, OOD, BLANK], ALL, id="every reason that holds is listed"),
    pytest.param(True, float("nan"), [], [OOD], ALL, id="NaN score: the model cannot vouch for the image"),
    pytest.param(True, float("inf"), [], [OOD], ALL, id="infinite score"),
    pytest.param(True, -0.5, [], [OOD], ALL, id="negative score is no valid score"),
])
def test_review_reasons_when_confidence_ood_and_image_quality_combine(confident, ood, image_reasons, reasons,
                                                                      needs_review):
    (tagged,) = to_tags(_outputs(1, confident=confident, ood=ood), top_k=1, threshold=lambda _: 0.9,
                        ood_threshold=1.0, image_reasons=[image_reasons])
    assert tagged.review_reasons == reasons
    assert tagged.needs_review == needs_review


def test_ood_score_is_reported_when_valid_and_left_out_when_not():
    scores = [0.25, 4.0, float("nan")]
    result = to_tags(_outputs(3, confident=True, ood=scores), top_k=1, threshold=lambda _: 0.5, ood_threshold=1.0)
    assert [t.ood_score for t in result] == [0.25, 4.0, None]


def test_ood_threshold_scales_the_models_own_threshold():
    outputs = _outputs(2, confident=True, ood=[1.1, 1.3])
    result = to_tags(outputs, top_k=1, threshold=lambda _: 0.5, ood_threshold=1.2)
    assert [t.review_reasons for t in result] == [[], [OOD]]


def test_ood_score_may_come_as_one_value_per_row_without_the_trailing_axis():
    outputs = _outputs(2, confident=True, ood=[0.1, 2.0])
    outputs[OOD_OUTPUT] = outputs[OOD_OUTPUT].reshape(2)
    result = to_tags(outputs, top_k=1, threshold=lambda _: 0.5, ood_threshold=1.0)
    assert [t.review_reasons for t in result] == [[], [OOD]]


def test_ood_output_with_the_wrong_shape_is_an_error_naming_it():
    outputs = _outputs(2, confident=True)
    outputs[OOD_OUTPUT] = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match=OOD_OUTPUT):
        to_tags(outputs, top_k=1, threshold=lambda _: 0.5, ood_threshold=1.0)


def test_image_reasons_must_have_one_row_per_image():
    with pytest.raises(ValueError, match="image_reasons"):
        to_tags(_outputs(2, confident=True), top_k=1, threshold=lambda _: 0.5, ood_threshold=1.0,
                image_reasons=[[]])


def test_a_nan_probability_counts_as_zero_and_never_becomes_the_label():
    outputs = _outputs(2, confident=True)
    name = ATTRIBUTES[0].name
    outputs[output_name(name)][0, :] = np.nan
    outputs[output_name(name)][1, 0] = np.nan
    first, second = to_tags(outputs, top_k=2, threshold=lambda _: 0.5, ood_threshold=1.0)
    assert first.attributes[name]["confidence"] == 0.0 and name in first.needs_review
    assert second.attributes[name]["label"] == BY_NAME[name].classes[1]
    assert all(s["score"] == s["score"] for t in (first, second) for a in t.attributes.values() for s in a["top_k"])
