"""The monitor's Prometheus metrics, each declared once with a fixed label set.

Dashboards, the alert rules in ``monitoring/alerts`` and the rollout controller key on these names and labels;
the first block is the contract the monitoring issue fixes, the rest are details behind it. Every figure is
set when a window (or a batch of labels) is judged: between judgements a gauge keeps the last value.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# -- the contract ------------------------------------------------------------------------------------------------

DRIFT_SHARE = Gauge("tagstream_monitor_drift_share",
                    "Share of monitored columns (pixel features and predicted attributes) that drifted in the last "
                    "window", ["model_version"])
FEATURE_DRIFT_SCORE = Gauge("tagstream_monitor_feature_drift_score",
                            "Population stability index of a pixel feature in the last window against the reference "
                            "profile", ["model_version", "feature"])
PREDICTION_DRIFT_SCORE = Gauge("tagstream_monitor_prediction_drift_score",
                               "Population stability index of an attribute's predicted classes in the last window "
                               "against the reference profile", ["model_version", "attribute"])
QUALITY_ESTIMATED = Gauge("tagstream_monitor_quality_estimated",
                          "Expected accuracy of an attribute in the last window, from calibrated confidences (before "
                          "labels)", ["model_version", "attribute"])
QUALITY_REALISED = Gauge("tagstream_monitor_quality_realised",
                         "Accuracy of an attribute over the most recent joined labels of a source",
                         ["model_version", "attribute", "source"])
LABEL_COVERAGE = Gauge("tagstream_monitor_label_coverage",
                       "Share of the tags the monitor tracks that have at least one label", ["model_version"])
LABEL_DELAY = Histogram("tagstream_monitor_label_delay_seconds", "Label time minus the time its tag was made",
                        ["model_version", "source"],
                        buckets=(60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 3 * 86400,
                                 7 * 86400))
REVIEW_SHARE = Gauge("tagstream_monitor_review_share",
                     "Share of the last window's tags that need review, for any reason (reason=any) or for one",
                     ["model_version", "reason"])
WINDOWS = Counter("tagstream_monitor_windows", "Windows judged", ["model_version"])
WINDOW_LAG = Gauge("tagstream_monitor_window_lag_seconds",
                   "How old the newest tag of the last window was when it was judged", ["model_version"])
DRIFT_DETECTED = Gauge("tagstream_monitor_drift_detected",
                       "1 while the monitor's own decision under its thresholds says drift of this kind (input, "
                       "prediction, label, quality)", ["model_version", "kind"])

# -- details ---------------------------------------------------------------------------------------------------

QUALITY_ESTIMATED_BOUND = Gauge("tagstream_monitor_quality_estimated_bound",
                                "Bounds of the estimated accuracy's interval (bound=lower or upper)",
                                ["model_version", "attribute", "bound"])
ESTIMATE_TRUSTED = Gauge("tagstream_monitor_quality_estimate_trusted",
                         "1 when the last window's estimated quality can be trusted (reference known, OOD share "
                         "low, no input drift)", ["model_version"])
QUALITY_TARGET = Gauge("tagstream_monitor_quality_target", "Agreed accuracy of an attribute", ["attribute"])
QUALITY_LABELS = Gauge("tagstream_monitor_quality_realised_labels",
                       "Labels behind tagstream_monitor_quality_realised", ["model_version", "attribute", "source"])
QUALITY_DROP = Gauge("tagstream_monitor_quality_drop",
                     "1 when an attribute's quality interval lies under its target (basis=estimated or realised)",
                     ["model_version", "attribute", "basis"])
LABEL_DRIFT_SCORE = Gauge("tagstream_monitor_label_drift_score",
                          "Population stability index of an attribute's audit labels against the reference labels",
                          ["model_version", "attribute"])
OOD_SHARE = Gauge("tagstream_monitor_ood_share", "Share of the last window's tags out of distribution",
                  ["model_version"])
WINDOW_SIZE = Gauge("tagstream_monitor_window_size", "Tags in the last judged window", ["model_version"])
SEGMENT_REVIEW_SHARE = Gauge("tagstream_monitor_segment_review_share",
                             "Share of a segment's tags in the last window that need review",
                             ["model_version", "segment_kind", "segment"])
SEGMENT_QUALITY_ESTIMATED = Gauge("tagstream_monitor_segment_quality_estimated",
                                  "Estimated accuracy of an attribute within a segment of the last window",
                                  ["model_version", "segment_kind", "segment", "attribute"])
TAGS = Counter("tagstream_monitor_tags", "Tags read", ["topic"])
LABELS = Counter("tagstream_monitor_labels",
                 "Labels read, by outcome: joined (credited to a tag), duplicate, waiting (no tag yet), expired "
                 "(never found a tag)", ["source", "outcome"])
INVALID_RECORDS = Counter("tagstream_monitor_invalid_records", "Records that are not a valid contract message, "
                                                               "skipped", ["topic"])
SNAPSHOTS = Counter("tagstream_monitor_snapshots", "Evidently snapshots by result: written, skipped (the writer "
                                                   "was busy), failed", ["result"])
INDEX_TAGS = Gauge("tagstream_monitor_index_tags", "Tags held for the label join")
PENDING_LABELS = Gauge("tagstream_monitor_pending_labels", "Labels waiting for their tag")
MODELS_KNOWN = Gauge("tagstream_monitor_reference_profiles", "Model versions whose reference profile is known")
