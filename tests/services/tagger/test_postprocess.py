import numpy as np

from services.model.serving import output_name
from services.model.taxonomy import ATTRIBUTES, BY_NAME
from services.tagger.postprocess import to_tags


def _outputs(n: int, confident: bool) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for a in ATTRIBUTES:
        probs = rng.random((n, a.size)).astype(np.float32)
        if confident:
            probs[:, 1] += 100.0
        out[output_name(a.name)] = probs / probs.sum(axis=1, keepdims=True)
    return out


def test_top_label_is_the_argmax_and_top_k_is_sorted():
    outputs = _outputs(5, confident=False)
    result = to_tags(outputs, top_k=3, threshold=lambda _: 0.0)
    assert len(result) == 5
    for row, (attributes, review) in enumerate(result):
        assert set(attributes) == {a.name for a in ATTRIBUTES}
        assert review == []
        for name, tag in attributes.items():
            probs = outputs[output_name(name)][row]
            assert tag.label == BY_NAME[name].classes[int(np.argmax(probs))]
            assert tag.confidence == tag.top_k[0].score
            scores = [s.score for s in tag.top_k]
            assert scores == sorted(scores, reverse=True)
            assert len(tag.top_k) == 3


def test_attributes_under_their_threshold_need_review():
    outputs = _outputs(2, confident=True)
    thresholds = {"collar": 1.01}  # nothing reaches it
    result = to_tags(outputs, top_k=2, threshold=lambda a: thresholds.get(a, 0.5))
    for _, review in result:
        assert review == ["collar"]


def test_low_confidence_everywhere_sends_every_attribute_to_review():
    outputs = _outputs(1, confident=False)
    (_, review), = to_tags(outputs, top_k=1, threshold=lambda _: 0.99)
    assert review == [a.name for a in ATTRIBUTES]
