"""Errors of the monitoring room; each carries a code, the field at fault and what to do about it."""

from __future__ import annotations

from contracts.errors import TagstreamError


class MonitorError(TagstreamError):
    """The monitor was configured or fed something it cannot use."""

    code = "monitor_error"


class SnapshotError(MonitorError):
    """An Evidently report or the workspace could not be written."""

    code = "snapshot_failed"
