"""The Evidently workspace: the ``tagstream`` project, its dashboard built in code, and a snapshot writer.

One dashboard tab per model version (``version N``), added when the version's first snapshot is written, with
the panels on-call looks at: drift share over time, input drift per feature, prediction drift per attribute,
estimated and realised quality over time, review share. ``tagstream dashboard`` serves the workspace with
``evidently ui``.

Snapshots are written by ``monitoring.writer.SnapshotWriter``, off the monitor's decision path.
"""

from __future__ import annotations

import logging
from pathlib import Path

from evidently.sdk.models import DashboardPanelPlot, PanelMetric
from evidently.sdk.panels import counter_panel, line_plot_panel
from evidently.ui.workspace import Project, Workspace

from contracts import PIXEL_FEATURES, LabelSource
from modelspec.taxonomy import ATTRIBUTE_NAMES
from monitoring.errors import SnapshotError
from monitoring.snapshots import CONFIDENCE, CORRECT, LABELS_TAG, WINDOW_TAG, source_tag, version_tag

log = logging.getLogger(__name__)

PROJECT_NAME = "tagstream"
PROJECT_DESCRIPTION = ("Drift and quality of the catalogue tagger's 13 heads, per model version, from the "
                       "monitor's windows (tagstream monitor)")
#: Dashboard panel titles, in order; the dashboard test looks for them on the page.
PANEL_TITLES: tuple[str, ...] = (
    "Drift share (last window)", "Drift share over time", "Input drift per feature (PSI)",
    "Prediction drift per attribute (PSI)", "Estimated quality (mean calibrated confidence)",
    "Realised quality (audit labels)", "Review share")


def tab_name(version: str) -> str:
    return f"version {version}"


def _metric(name: str, *, legend: str, tags: list[str], **labels: str) -> PanelMetric:
    return PanelMetric(metric=f"evidently:metric_v2:{name}", legend=legend, tags=tags, metric_labels=labels)


def panels(version: str) -> list[DashboardPanelPlot]:
    """The panels of one version's tab."""
    window = [WINDOW_TAG, version_tag(version)]
    audit = [LABELS_TAG, version_tag(version), source_tag(LabelSource.AUDIT.value)]
    share = _metric("DriftedColumnsCount", legend="share of drifted columns", tags=window, value_type="share")
    return [
        counter_panel(title=PANEL_TITLES[0], values=[share], size="half", aggregation="last",
                      description="features and predicted attributes whose chi-square test and PSI both say drift"),
        line_plot_panel(title=PANEL_TITLES[1], values=[share], size="half"),
        line_plot_panel(title=PANEL_TITLES[2], size="half", values=[
            _metric("ValueDrift", legend=f, tags=window, column=f) for f in PIXEL_FEATURES]),
        line_plot_panel(title=PANEL_TITLES[3], size="half", values=[
            _metric("ValueDrift", legend=a, tags=window, column=a) for a in ATTRIBUTE_NAMES]),
        line_plot_panel(title=PANEL_TITLES[4], size="half", values=[
            _metric("MeanValue", legend=a, tags=window, column=CONFIDENCE.format(a)) for a in ATTRIBUTE_NAMES]),
        line_plot_panel(title=PANEL_TITLES[5], size="half", values=[
            _metric("MeanValue", legend=a, tags=audit, column=CORRECT.format(a)) for a in ATTRIBUTE_NAMES]),
        line_plot_panel(title=PANEL_TITLES[6], size="full", values=[
            _metric("MeanValue", legend="needs review", tags=window, column="needs_review")]),
    ]


def open_project(path: Path) -> tuple[Workspace, Project]:
    """The workspace at ``path`` (created if missing) and its ``tagstream`` project (created if missing)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        workspace = Workspace(str(path))
        found = [p for p in workspace.list_projects() if p.name == PROJECT_NAME]
        if found:
            return workspace, found[0]
        project = workspace.create_project(PROJECT_NAME, description=PROJECT_DESCRIPTION)
        return workspace, project
    except OSError as e:
        raise SnapshotError(f"cannot open the Evidently workspace {path}: {e.strerror or e}", field="workspace",
                            hint="set TAGSTREAM_MONITOR_WORKSPACE to a writable folder") from e


def ensure_tab(project: Project, version: str) -> None:
    """Add the version's tab and panels unless the dashboard has them."""
    model = project.dashboard.model()
    if any(tab.title == tab_name(version) for tab in model.tabs):
        return
    for panel in panels(version):
        project.dashboard.add_panel(panel, tab=tab_name(version))
