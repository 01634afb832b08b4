"""The monitor's settings: one frozen object, from ``TAGSTREAM_MONITOR_*`` variables or the YAML file.

The fields are named ``monitor_*`` so that one ``TAGSTREAM_CONFIG`` file can hold the settings of every
process side by side; the Kafka connection is shared (``TAGSTREAM_KAFKA_*``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from monitoring.monitor import MonitorConfig
from monitoring.policy import DEFAULT_TARGETS_FILE, DriftPolicy, load_targets
from runtime.settings import KafkaSettings


class MonitorSettings(KafkaSettings):
    """Everything the monitor process needs. Defaults suit the local stack started by ``tagstream up``."""

    monitor_instance_id: str = Field("monitor", description="name of this process in logs and client ids")
    monitor_group_id: str = Field("tagstream-monitor", description="consumer group of the monitor")
    monitor_read_shadow: bool = Field(True, description="also judge catalog.tags.shadow (a candidate in shadow)")

    monitor_window_events: int = Field(5000, ge=10, description="a window closes when it holds this many tags")
    monitor_window_seconds: float = Field(60.0, gt=0, description="... or this long after it opened, if it holds at "
                                                                  "least monitor_min_window tags")
    monitor_min_window: int = Field(200, ge=10, description="fewest tags a window needs to be judged")
    monitor_alpha: float = Field(1e-4, gt=0, lt=1, description="chance that a stationary window flags one kind of "
                                                               "drift (Bonferroni over its columns)")
    monitor_psi_floor: float = Field(0.1, ge=0, description="smallest population stability index that counts as "
                                                            "drift")
    monitor_max_ood_share: float = Field(0.05, ge=0, le=1, description="share of out-of-distribution tags above "
                                                                       "which the estimated quality is not trusted")
    monitor_quality_alpha: float = Field(0.01, gt=0, lt=1, description="chance that good quality is called a drop "
                                                                       "(Bonferroni over the attributes)")
    monitor_min_labels: int = Field(30, ge=1, description="audit labels an attribute needs before its realised "
                                                          "quality is judged")
    monitor_label_window: int = Field(500, ge=10, description="most recent labels per version and source behind "
                                                              "realised quality and label drift")
    monitor_top_merchants: int = Field(5, ge=0, le=50, description="merchants reported as their own segment")
    monitor_targets: Path = Field(DEFAULT_TARGETS_FILE, description="YAML of the agreed quality per attribute "
                                                                    "(and merchant)")

    monitor_index_capacity: int = Field(1_000_000, ge=1000, description="tags kept for joining late labels "
                                                                        "(about 46 bytes each)")
    monitor_index_horizon_s: float = Field(48 * 3600.0, gt=0, description="labels for tags older than this are not "
                                                                          "joined")
    monitor_pending_capacity: int = Field(20_000, ge=10, description="labels kept waiting for their tag")
    monitor_pending_ttl_s: float = Field(3600.0, gt=0, description="how long a label waits for its tag")
    monitor_label_report_every: int = Field(50, ge=1, description="new labels that trigger a realised-quality "
                                                                  "report")
    monitor_label_report_seconds: float = Field(60.0, gt=0, description="... or the time after which new labels "
                                                                        "are reported anyway")

    monitor_workspace: Path = Field(Path(".tagstream/evidently"), description="Evidently workspace for snapshots")
    monitor_snapshots: bool = Field(True, description="write an Evidently snapshot of every judged window")
    monitor_snapshot_keep: int = Field(500, ge=1, description="newest snapshots kept in the workspace")

    monitor_max_poll_records: int = Field(2000, ge=1, description="records one poll may return")
    monitor_commit_interval_ms: int = Field(5000, ge=100, description="how often consumed offsets are committed")
    monitor_session_timeout_ms: int = Field(10_000, ge=1000, description="consumer group session timeout")
    monitor_heartbeat_interval_ms: int = Field(3_000, ge=100, description="consumer group heartbeat interval")
    monitor_host: str = Field("127.0.0.1", description="address of /metrics, /healthz and /readyz")
    monitor_port: int = Field(9400, ge=0, le=65535, description="port of /metrics, /healthz and /readyz")
    monitor_log_level: str = Field("INFO", description="DEBUG, INFO, WARNING or ERROR")

    @property
    def policy(self) -> DriftPolicy:
        return DriftPolicy(alpha=self.monitor_alpha, psi_floor=self.monitor_psi_floor,
                           min_window=min(self.monitor_min_window, self.monitor_window_events),
                           max_ood_share=self.monitor_max_ood_share, quality_alpha=self.monitor_quality_alpha,
                           min_labels=self.monitor_min_labels, label_window=self.monitor_label_window,
                           top_merchants=self.monitor_top_merchants)

    def monitor_config(self) -> MonitorConfig:
        """The monitor's configuration; reads the targets file (a ``MonitorError`` when it is bad)."""
        return MonitorConfig(
            window_events=self.monitor_window_events, window_seconds=self.monitor_window_seconds,
            policy=self.policy, targets=load_targets(self.monitor_targets),
            index_capacity=self.monitor_index_capacity, index_horizon_s=self.monitor_index_horizon_s,
            pending_capacity=self.monitor_pending_capacity, pending_ttl_s=self.monitor_pending_ttl_s,
            label_report_every=self.monitor_label_report_every,
            label_report_seconds=self.monitor_label_report_seconds)
