"""``SnapshotWriter``: Evidently snapshots of judged windows and label batches, on a thread of their own.

Evidently renders a chart for every metric (about a second per report on the CI machine, whatever the window
size), so the monitor hands its reports to this writer and moves on: the queue holds ``queue_size`` jobs, and
a job that finds it full is skipped and counted (``tagstream_monitor_snapshots_total{result="skipped"}``).
Decisions and metrics never wait for a snapshot. Evidently itself is imported on the writer's thread when the
first job comes, so the process is ready before that (slow) import ends, and a process that never judges a
window never pays for it. The newest ``keep`` snapshots written by this process stay in
the workspace.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from pathlib import Path

from contracts import ReferenceProfile
from monitoring import metrics
from monitoring.evaluate import WindowReport
from monitoring.policy import DriftPolicy
from monitoring.realised import LabelReport

log = logging.getLogger(__name__)

Job = tuple[WindowReport, ReferenceProfile, DriftPolicy] | LabelReport


class SnapshotWriter:
    def __init__(self, path: Path, *, keep: int = 500, queue_size: int = 2) -> None:
        self.path, self.keep = path, keep
        self._queue: queue.Queue[Job | None] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="snapshots", daemon=True)
        self._written: deque[str] = deque()
        self._busy = 0
        self._lock = threading.Condition()
        self.written = self.failed = self.skipped = 0

    def start(self) -> None:
        self._thread.start()

    def submit_window(self, report: WindowReport, profile: ReferenceProfile, policy: DriftPolicy) -> bool:
        return self._submit((report, profile, policy))

    def submit_labels(self, report: LabelReport) -> bool:
        return self._submit(report)

    def _submit(self, job: Job) -> bool:
        with self._lock:
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                self.skipped += 1
                metrics.SNAPSHOTS.labels("skipped").inc()
                return False
            self._busy += 1
            return True

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued job is written or failed (tests, shutdown); False on timeout."""
        with self._lock:
            return self._lock.wait_for(lambda: self._busy == 0, timeout)

    def stop(self, timeout: float = 5.0) -> None:
        """Drop the jobs not started yet, let the one in progress finish for up to ``timeout`` seconds."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self.skipped += 1
                self._done()
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        first = self._queue.get()
        if first is None:
            return
        try:
            from monitoring.dashboard import ensure_tab, open_project
            from monitoring.snapshots import label_snapshot, window_snapshot

            workspace, project = open_project(self.path)
        except Exception:  # without a workspace the monitor still decides and publishes metrics
            log.exception("the Evidently workspace %s cannot be opened; no snapshots will be written", self.path)
            self._failed()
            self._drain_failed()
            return
        log.info("writing Evidently snapshots to %s (project %s)", self.path, project.id)
        job: Job | None = first
        while True:
            if job is None:
                job = self._queue.get()
            if job is None:
                return
            try:
                if isinstance(job, tuple):
                    report, profile, policy = job
                    version, snapshot = report.model.version, window_snapshot(report, profile, policy)
                else:
                    version, snapshot = job.model.version, label_snapshot(job)
                ensure_tab(project, version)
                ref = workspace.add_run(project.id, snapshot)
                self._written.append(str(ref.id))
                while len(self._written) > self.keep:
                    workspace.delete_run(project.id, self._written.popleft())
                self.written += 1
                metrics.SNAPSHOTS.labels("written").inc()
            except Exception:  # a failed snapshot is counted and logged; decisions go on
                log.exception("an Evidently snapshot failed")
                self.failed += 1
                metrics.SNAPSHOTS.labels("failed").inc()
            finally:
                job = None
                self._done()

    def _done(self) -> None:
        with self._lock:
            self._busy -= 1
            self._lock.notify_all()

    def _failed(self) -> None:
        self.failed += 1
        metrics.SNAPSHOTS.labels("failed").inc()
        self._done()

    def _drain_failed(self) -> None:
        while self._queue.get() is not None:
            self._failed()
