"""Evidently reports of the monitor's windows and label batches, on the numbers its decisions use.

**Windows.** A ``Dataset`` of the window's tags (pixel features, each attribute's predicted class and its
confidence, review flags, merchant) against a reference ``Dataset`` rebuilt from the version's
``ReferenceProfile`` (every feature's histogram counts spread evenly inside its bins, every attribute's predicted
classes at their reference counts): the profile is all a process gets of the reference set. The ``Report`` holds
``DataDriftPreset`` over the features and predicted attributes with tagstream's own registered stat test (the
chi-square test and PSI of ``monitoring.stats``, at the monitor's alpha and PSI floor; its "Value Drift" tests
fail exactly for the columns the monitor calls drifted), ``MeanValue`` of each
confidence column (the estimated quality), the review share, and ``GroupBy`` segments by predicted category and
merchant.

**Labels.** A ``Dataset`` of the most recent joined labels whose ``DataDefinition`` lists one
``MulticlassClassification`` per attribute (truth against the tag's label); the ``Report`` holds
``ClassificationPreset`` per attribute and the ``MeanValue`` of each attribute's right/wrong column (the realised
quality). Evidently 0.7.23 treats a multiclass target with exactly two labels seen as binary and fails on its
positive label (``KeyError: 1`` in ``calculate_metrics``), so an attribute gets its ``ClassificationPreset`` only
when the batch shows three labels or more; its realised quality is in the snapshot either way.

Evidently renders a chart for every metric, which costs about a second per report here whatever the window's
size: the monitor therefore writes snapshots beside its decisions, never in their way (``SnapshotWriter``).
"""

from __future__ import annotations

import os

os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's telemetry, before anything of it is imported

import functools
from datetime import UTC, datetime

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, MulticlassClassification, Report
from evidently.core.report import Snapshot
from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
from evidently.legacy.core import ColumnType
from evidently.metrics import MeanValue
from evidently.metrics.group_by import GroupBy
from evidently.presets import ClassificationPreset, DataDriftPreset

from contracts import PIXEL_FEATURES, ReferenceProfile
from modelspec.taxonomy import ATTRIBUTE_NAMES, ATTRIBUTES
from monitoring.evaluate import WindowReport
from monitoring.policy import DriftPolicy
from monitoring.realised import LabelReport
from monitoring.reference import bin_names
from monitoring.stats import compare

#: Segment column of rows whose merchant is not among the window's busiest.
OTHER_MERCHANTS = "(other)"
CONFIDENCE = "{}_confidence"
TRUE, PREDICTED, CORRECT = "{}_true", "{}_pred", "{}_correct"
#: Snapshot tags: the kind of report, and the version (``version:N``).
WINDOW_TAG, LABELS_TAG = "window", "labels"


def version_tag(version: str) -> str:
    return f"version:{version}"


def source_tag(source: str) -> str:
    return f"source:{source}"


def _binned(reference: pd.Series, current: pd.Series, feature_type: ColumnType) -> tuple[np.ndarray, np.ndarray]:
    if feature_type == ColumnType.Numerical:
        ref = reference.dropna().to_numpy(dtype=np.float64)
        cur = current.dropna().to_numpy(dtype=np.float64)
        inner = np.unique(np.quantile(ref, np.linspace(0.0, 1.0, 11)))[1:-1]
        size = len(inner) + 1
        return (np.bincount(np.searchsorted(inner, ref, side="right"), minlength=size),
                np.bincount(np.searchsorted(inner, cur, side="right"), minlength=size))
    categories = sorted(set(reference.dropna().astype(str)) | set(current.dropna().astype(str)))
    return (reference.astype(str).value_counts().reindex(categories, fill_value=0).to_numpy(),
            current.astype(str).value_counts().reindex(categories, fill_value=0).to_numpy())


@functools.cache
def stat_test(alpha: float) -> str:
    """Register (once) and name Evidently's stat test for level ``alpha``: chi-square p < alpha and PSI >= threshold.

    The drift score it reports is the PSI; the threshold Evidently passes is the PSI floor.
    """
    name = f"tagstream_chi2_psi_{alpha:.2e}"

    def run(reference: pd.Series, current: pd.Series, feature_type: ColumnType, threshold: float) -> tuple[float,
                                                                                                            bool]:
        comparison = compare(*_binned(reference, current, feature_type))
        return comparison.psi, comparison.drifted(alpha, threshold)

    register_stattest(StatTest(name=name, display_name=f"PSI, with chi-square p < {alpha:.1e}",
                               allowed_feature_types=[ColumnType.Numerical, ColumnType.Categorical],
                               default_threshold=0.1), run)
    return name


def _definition(frame_columns: list[str]) -> DataDefinition:
    categorical = [a for a in ATTRIBUTE_NAMES if a in frame_columns] + ["merchant"]
    numerical = [c for c in frame_columns if c not in categorical]
    return DataDefinition(numerical_columns=numerical, categorical_columns=categorical)


@functools.lru_cache(maxsize=16)
def reference_frame(profile_json: str) -> pd.DataFrame:
    """The reference rows rebuilt from a profile (cached per profile text)."""
    profile = ReferenceProfile.model_validate_json(profile_json)
    n = profile.reference_size
    columns: dict[str, object] = {}
    for name in PIXEL_FEATURES:
        histogram = profile.features[name].histogram
        values = []
        for i, count in enumerate(histogram.counts):
            low, high = histogram.edges[i], histogram.edges[i + 1]
            values.append(low + (np.arange(count) + 0.5) / max(count, 1) * (high - low))
        columns[name] = np.concatenate(values)[:n]
    for attribute in ATTRIBUTES:
        ap = profile.attributes[attribute.name]
        counts = np.round(np.asarray(ap.predicted_distribution) * n).astype(int)
        labels = np.repeat(np.asarray(ap.classes, dtype=object), counts)
        columns[attribute.name] = np.resize(labels, n)
        columns[CONFIDENCE.format(attribute.name)] = np.full(n, ap.confidence.mean)
    columns["needs_review"] = np.zeros(n)
    columns["merchant"] = np.full(n, "(reference)", dtype=object)
    return pd.DataFrame(columns)


def window_frame(report: WindowReport, top_merchants: list[str]) -> pd.DataFrame:
    window = report.window
    if window is None:
        raise ValueError("the report carries no window rows")
    columns: dict[str, object] = {name: window.features[:, i] for i, name in enumerate(PIXEL_FEATURES)}
    for j, attribute in enumerate(ATTRIBUTES):
        names = np.asarray(bin_names(j), dtype=object)
        columns[attribute.name] = names[window.predicted[:, j]]
        columns[CONFIDENCE.format(attribute.name)] = window.confidence[:, j].astype(np.float64)
    columns["needs_review"] = window.needs_review.astype(np.float64)
    keep = set(top_merchants)
    columns["merchant"] = np.asarray([m if m in keep else OTHER_MERCHANTS for m in window.merchants], dtype=object)
    return pd.DataFrame(columns)


def window_snapshot(report: WindowReport, profile: ReferenceProfile, policy: DriftPolicy) -> Snapshot:
    """The Evidently snapshot of one judged window against its version's reference."""
    merchants = [s.name for s in report.segments if s.kind == "merchant"]
    current = window_frame(report, merchants)
    definition = _definition(list(current.columns))
    reference = reference_frame(profile.model_dump_json())
    features, attributes = list(PIXEL_FEATURES), list(ATTRIBUTE_NAMES)
    methods = dict.fromkeys(features, stat_test(policy.alpha / len(features)))
    methods.update(dict.fromkeys(attributes, stat_test(policy.alpha / len(attributes))))
    metrics = [
        DataDriftPreset(columns=features + attributes, per_column_method=methods, threshold=policy.psi_floor),
        *(MeanValue(column=CONFIDENCE.format(a), tests=[]) for a in attributes),
        MeanValue(column="needs_review", tests=[]),
        GroupBy(MeanValue(column="needs_review", tests=[]), "category"),
        GroupBy(MeanValue(column="needs_review", tests=[]), "merchant"),
    ]
    return Report(metrics, include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
        timestamp=datetime.fromtimestamp(report.closed_at, UTC),
        tags=[WINDOW_TAG, version_tag(report.model.version)],
        metadata={"model_version": report.model.version, "window": str(report.index), "size": str(report.size),
                  "drifted": ",".join(report.drifted_columns()) or "-",
                  "estimate_trusted": "yes" if report.trusted else f"no ({', '.join(report.untrusted)})"},
        name=f"window {report.index} of version {report.model.version}")


def label_frame(report: LabelReport) -> pd.DataFrame:
    columns: dict[str, object] = {}
    for j, attribute in enumerate(ATTRIBUTES):
        names = np.asarray([*bin_names(j), None], dtype=object)  # index -1 (not labelled) reads as None
        truth, predicted = report.truth[:, j], report.predicted[:, j]
        columns[TRUE.format(attribute.name)] = names[truth]
        columns[PREDICTED.format(attribute.name)] = names[predicted]
        columns[CORRECT.format(attribute.name)] = np.where(truth >= 0, (truth == predicted).astype(np.float64),
                                                           np.nan)
    return pd.DataFrame(columns)


def label_snapshot(report: LabelReport) -> Snapshot:
    """The Evidently snapshot of the most recent joined labels of one version and source."""
    frame = label_frame(report)
    classified = []
    for attribute in ATTRIBUTE_NAMES:
        truth, predicted = frame[TRUE.format(attribute)], frame[PREDICTED.format(attribute)]
        if truth.notna().all() and len(set(truth) | set(predicted)) >= 3:
            classified.append(attribute)
    definition = DataDefinition(
        numerical_columns=[CORRECT.format(a) for a in ATTRIBUTE_NAMES],
        categorical_columns=[c.format(a) for a in ATTRIBUTE_NAMES for c in (TRUE, PREDICTED)],
        classification=[MulticlassClassification(name=a, target=TRUE.format(a), prediction_labels=PREDICTED.format(a))
                        for a in classified])
    metrics = [*(MeanValue(column=CORRECT.format(a)) for a in ATTRIBUTE_NAMES),
               *(ClassificationPreset(classification_name=a) for a in classified)]
    return Report(metrics).run(
        Dataset.from_pandas(frame, data_definition=definition),
        timestamp=datetime.fromtimestamp(report.evaluated_at, UTC),
        tags=[LABELS_TAG, version_tag(report.model.version), source_tag(report.source.value)],
        metadata={"model_version": report.model.version, "source": report.source.value,
                  "labels": str(report.labels)},
        name=f"{report.source.value} labels of version {report.model.version}")
