"""The export writes a Triton model repository Triton can parse, an ONNX file that computes what torch
computes, and a reference profile that describes the reference set; versions are added, never clobbered."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from google.protobuf import text_format
from pydantic import ValidationError
from tritonclient.grpc import model_config_pb2

from contracts import PIXEL_FEATURES, Histogram, ReferenceProfile, TagstreamError
from model.dataset import MISSING, LabelledImages
from model.export import (
    ExportError,
    export_repository,
    measure_rate,
    onnx_predictor,
    onnx_session,
    predict_all,
    torch_predictor,
)
from model.profile import HISTOGRAM_BINS, numeric_stats
from model.thresholds import ReviewTargets, read_thresholds, review_thresholds
from model.trained import TrainedModel
from model.tritonconfig import TritonOptions, model_config, taxonomy_fingerprint
from modelspec.features import summarise
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES
from modelspec.tensors import INPUT_NAME, INPUT_SHAPE, MODEL_NAME, OOD_OUTPUT, OUTPUT_NAMES, output_name
from tests.model.factories import OOD_THRESHOLD, reference_images, tiny_trained_model

CREATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
UNLABELLED = "fabric"  # no reference image has it labelled


@pytest.fixture(scope="module")
def trained() -> TrainedModel:
    return tiny_trained_model(seed=0)


@pytest.fixture(scope="module")
def reference() -> LabelledImages:
    data = reference_images(n=40, seed=5)
    labels = data.labels.copy()
    labels[:, ATTRIBUTE_NAMES.index(UNLABELLED)] = MISSING
    return LabelledImages(data.images, labels)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory, trained: TrainedModel, reference: LabelledImages) -> Path:
    out = tmp_path_factory.mktemp("repository")
    export_repository(trained, version=1, out=out, reference=reference, created_at=CREATED,
                      reference_description="40 synthetic images")
    return out


@pytest.fixture(scope="module")
def profile(repository: Path) -> ReferenceProfile:
    return ReferenceProfile.model_validate_json((repository / MODEL_NAME / "1" / "reference_profile.json").read_text())


def _parse(repository: Path) -> model_config_pb2.ModelConfig:
    return text_format.Parse((repository / MODEL_NAME / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_config_parses_into_tritons_model_config_with_the_serving_contract(repository: Path) -> None:
    config = _parse(repository)
    assert (config.name, config.platform, config.backend) == (MODEL_NAME, "onnxruntime_onnx", "onnxruntime")
    assert config.max_batch_size == 64
    [image] = config.input
    assert (image.name, image.data_type, list(image.dims)) == (INPUT_NAME, model_config_pb2.TYPE_UINT8,
                                                               list(INPUT_SHAPE))
    assert [o.name for o in config.output] == list(OUTPUT_NAMES)
    dims = {o.name: list(o.dims) for o in config.output}
    assert dims == {output_name(a.name): [a.size] for a in ATTRIBUTES} | {OOD_OUTPUT: [1]}
    assert all(o.data_type == model_config_pb2.TYPE_FP32 for o in config.output)
    assert list(config.dynamic_batching.preferred_batch_size) == [16, 32, 64]
    [group] = config.instance_group
    assert (group.kind, group.count) == (model_config_pb2.ModelInstanceGroup.KIND_GPU, 1)
    assert config.version_policy.latest.num_versions == 1
    assert config.parameters["tagstream_taxonomy_sha256"].string_value == taxonomy_fingerprint()


def test_each_head_has_a_label_file_with_its_classes_in_output_order(repository: Path) -> None:
    outputs = {o.name: o for o in _parse(repository).output}
    for attribute in ATTRIBUTES:
        label_file = repository / MODEL_NAME / outputs[output_name(attribute.name)].label_filename
        assert label_file.read_text().splitlines() == list(attribute.classes)
    assert outputs[OOD_OUTPUT].label_filename == ""


def test_options_set_versions_instances_and_batching() -> None:
    options = TritonOptions(max_batch_size=8, preferred_batch_sizes=(4, 8), max_queue_delay_us=50, instance_count=2,
                            instance_kind="cpu", versions=(2, 1))
    config = text_format.Parse(text_format.MessageToString(model_config(options)), model_config_pb2.ModelConfig())
    assert list(config.version_policy.specific.versions) == [1, 2]
    assert config.max_batch_size == 8
    assert list(config.dynamic_batching.preferred_batch_size) == [4, 8]
    assert config.dynamic_batching.max_queue_delay_microseconds == 50
    assert [(g.kind, g.count) for g in config.instance_group] == [(model_config_pb2.ModelInstanceGroup.KIND_CPU, 2)]


@pytest.mark.parametrize("sizes", [(16, 128), (32, 16), (0,)])
def test_options_refuse_preferred_batch_sizes_triton_would_reject(sizes: tuple[int, ...]) -> None:
    with pytest.raises(ValidationError, match="preferred_batch_sizes"):
        TritonOptions(max_batch_size=64, preferred_batch_sizes=sizes)


@pytest.mark.parametrize("batch", [1, 7])
def test_onnxruntime_output_equals_torch_within_1e_4(repository: Path, trained: TrainedModel,
                                                     reference: LabelledImages, batch: int) -> None:
    images = reference.images[-batch:]
    served = onnx_predictor(onnx_session(repository / MODEL_NAME / "1" / "model.onnx"))(images)
    expected = torch_predictor(trained)(images)
    for name in OUTPUT_NAMES:
        assert served[name].shape == expected[name].shape == (batch, *expected[name].shape[1:])
        np.testing.assert_allclose(served[name], expected[name], atol=1e-4, rtol=0)
    assert (served[OOD_OUTPUT] > 0).all()


def test_reference_profile_validates_and_describes_the_model_and_reference_set(
        profile: ReferenceProfile, trained: TrainedModel, reference: LabelledImages) -> None:
    assert (profile.model.name, profile.model.version, profile.created_at) == (MODEL_NAME, "1", CREATED)
    assert (profile.reference_size, profile.reference_description) == (40, "40 synthetic images")
    assert list(profile.attributes) == list(ATTRIBUTE_NAMES)
    outputs = predict_all(torch_predictor(trained), reference.images)
    for j, attribute in enumerate(ATTRIBUTES):
        head = profile.attributes[attribute.name]
        probs = outputs[output_name(attribute.name)]
        assert head.classes == list(attribute.classes)
        assert head.temperature == trained.temperatures[attribute.name]
        np.testing.assert_allclose(head.train_prior, trained.train_priors[attribute.name], atol=1e-9)
        np.testing.assert_allclose(head.mean_probability, probs.mean(axis=0), atol=1e-5)
        predicted = np.bincount(probs.argmax(axis=1), minlength=attribute.size) / len(reference)
        np.testing.assert_allclose(head.predicted_distribution, predicted, atol=1 / len(reference) + 1e-9)
        np.testing.assert_allclose(head.confidence.mean, probs.max(axis=1).mean(), atol=1e-5)
        if attribute.name == UNLABELLED:
            assert (head.labelled, head.label_distribution, head.accuracy) == (0, None, None)
        else:
            truth = reference.labels[:, j]
            assert head.labelled == len(reference)
            np.testing.assert_allclose(head.label_distribution, np.bincount(truth, minlength=attribute.size) / 40)
            assert head.accuracy == pytest.approx((probs.argmax(axis=1) == truth).mean(), abs=1 / 40 + 1e-9)


def test_reference_profile_summarises_input_features_and_ood_scores_as_served(
        profile: ReferenceProfile, trained: TrainedModel, reference: LabelledImages) -> None:
    n = len(reference)
    summaries = summarise(reference.images, [64] * n, [64] * n, [1] * n)
    assert list(profile.features) == list(PIXEL_FEATURES)
    for name in PIXEL_FEATURES:
        values = np.array([getattr(s, name) for s in summaries])
        stats = profile.features[name]
        assert stats.mean == pytest.approx(values.mean()) and stats.std == pytest.approx(values.std())
        assert (stats.min, stats.max) == (pytest.approx(values.min()), pytest.approx(values.max()))
        assert stats.histogram.counts_of(values.tolist()) == stats.histogram.counts
        counts = stats.histogram.counts
        assert len(counts) == HISTOGRAM_BINS and max(counts) - min(counts) <= 2  # equal-frequency bins
    assert profile.ood is not None
    score = predict_all(torch_predictor(trained), reference.images)[OOD_OUTPUT][:, 0]
    assert (profile.ood.distance_threshold, profile.ood.score_threshold) == (OOD_THRESHOLD, 1.0)
    assert profile.ood.reference_rate == pytest.approx((score > 1.0).mean())
    assert profile.ood.score.mean == pytest.approx(score.mean(), abs=1e-5)


def test_review_thresholds_are_chosen_on_the_reference_set_from_the_served_outputs(
        tmp_path: Path, trained: TrainedModel, reference: LabelledImages) -> None:
    targets = ReviewTargets(default=0.2, confidence=0.8)
    target = export_repository(trained, version=1, out=tmp_path, reference=reference, review_targets=targets,
                               reference_description="40 synthetic images")
    stored = read_thresholds(target)
    assert stored is not None
    outputs = predict_all(onnx_predictor(onnx_session(target / "model.onnx")), reference.images)
    assert stored == review_thresholds(outputs, reference.labels, targets, description="40 synthetic images")
    assert (stored.confidence, stored.calibration_size, list(stored.attributes)) == (0.8, 40, list(ATTRIBUTE_NAMES))
    assert stored.attributes[UNLABELLED].threshold is None  # nothing to calibrate on: always reviewed


def test_default_review_targets_are_used_when_none_are_given(repository: Path) -> None:
    stored = read_thresholds(repository / MODEL_NAME / "1")
    assert stored is not None
    assert {e.target_precision for e in stored.attributes.values()} == {0.95} and stored.confidence == 0.9


def test_equal_frequency_histogram_of_constant_values_is_one_valid_bin() -> None:
    stats = numeric_stats(np.full(5, 0.25))
    assert stats.histogram.counts == [5]
    assert stats.histogram.edges[0] == 0.25 < stats.histogram.edges[1]
    assert stats.std == 0.0 and [q.value for q in stats.quantiles] == [0.25] * len(stats.quantiles)


def test_histogram_bins_live_values_outside_the_reference_into_the_outer_bins() -> None:
    histogram = Histogram(edges=[0.0, 1.0, 2.0, 3.0], counts=[1, 1, 1])
    assert histogram.counts_of([-5.0, 0.5, 1.0, 2.5, 3.0, 9.0, float("nan")]) == [2, 1, 3]


def test_exporting_another_version_adds_it_and_leaves_the_first_untouched(
        tmp_path: Path, trained: TrainedModel, reference: LabelledImages) -> None:
    export_repository(trained, version=1, out=tmp_path, reference=reference)
    first = _files(tmp_path / MODEL_NAME / "1")
    export_repository(tiny_trained_model(seed=1), version=2, out=tmp_path, reference=reference)
    assert _files(tmp_path / MODEL_NAME / "1") == first
    assert sorted(p.name for p in (tmp_path / MODEL_NAME).iterdir() if p.is_dir()) == ["1", "2"]
    assert (tmp_path / MODEL_NAME / "2" / "model.onnx").read_bytes() != first["model.onnx"]


def test_an_existing_version_is_replaced_only_when_asked(tmp_path: Path, trained: TrainedModel,
                                                         reference: LabelledImages) -> None:
    target = export_repository(trained, version=3, out=tmp_path, reference=reference)
    before = _files(target)
    with pytest.raises(ExportError) as info:
        export_repository(tiny_trained_model(seed=1), version=3, out=tmp_path, reference=reference)
    assert str(target) in str(info.value) and "overwrite" in str(info.value)
    assert info.value.code == "version_exists"
    assert _files(target) == before
    export_repository(tiny_trained_model(seed=1), version=3, out=tmp_path, reference=reference, overwrite=True)
    assert _files(target)["model.onnx"] != before["model.onnx"]
    assert [p.name for p in (tmp_path / MODEL_NAME).iterdir() if p.name.startswith(".")] == []


def test_a_failed_export_leaves_no_version_and_no_staging_folder(tmp_path: Path, reference: LabelledImages) -> None:
    broken = tiny_trained_model(seed=2)
    broken.train_priors["category"] = [1.0]  # one prior for nine classes
    with pytest.raises(TagstreamError, match=r"train_priors\['category'\] has 1 entries for 9 classes"):
        export_repository(broken, version=1, out=tmp_path, reference=reference)
    assert list((tmp_path / MODEL_NAME).iterdir()) == []


def test_measure_rate_counts_every_image_of_every_batch() -> None:
    calls: list[int] = []

    def predict(images: np.ndarray) -> dict[str, np.ndarray]:
        calls.append(len(images))
        return {}

    rate = measure_rate(predict, np.zeros((10, *INPUT_SHAPE), dtype=np.uint8), batch_size=4, seconds=0.01, warmup=1)
    assert set(calls) == {4} and rate.batches == len(calls) - 1
    assert rate.images_per_s == pytest.approx(rate.batches * 4 / rate.seconds)
