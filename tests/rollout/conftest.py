"""A real Prometheus server (Debian's /usr/bin/prometheus) scraping a small exporter, for the Prometheus source."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from wsgiref.simple_server import WSGIServer

import pytest
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from tools.stack.ports import free_ports

PROMETHEUS = "/usr/bin/prometheus"


@dataclass
class Prometheus:
    url: str
    registry: CollectorRegistry

    def query(self, promql: str) -> list[dict[str, object]]:
        address = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(address, timeout=5) as response:
            return list(json.loads(response.read())["data"]["result"])

    def wait_for(self, promql: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.query(promql):
            if time.monotonic() > deadline:
                raise TimeoutError(f"prometheus never answered {promql}")
            time.sleep(0.2)


@pytest.fixture(scope="module")
def monitor_metrics() -> CollectorRegistry:
    """The monitor's metrics as issue 9 names them, in a registry of their own."""
    registry = CollectorRegistry()
    drift = Gauge("tagstream_monitor_drift_share", "share of drifted features", ["model_version"], registry=registry)
    prediction = Gauge("tagstream_monitor_prediction_drift_score", "prediction drift",
                       ["model_version", "attribute"], registry=registry)
    quality = Gauge("tagstream_monitor_quality_realised", "accuracy on labels",
                    ["model_version", "attribute", "source"], registry=registry)
    drift.labels("1").set(0.6)
    prediction.labels("2", "fabric").set(0.4)
    prediction.labels("2", "collar").set(0.05)
    for attribute, stable, candidate in (("fabric", 0.8, 0.5), ("collar", 0.7, 0.69)):
        quality.labels("1", attribute, "audit").set(stable)
        quality.labels("2", attribute, "audit").set(candidate)
        quality.labels("2", attribute, "reviewer").set(0.1)  # biased labels: not what the default reads
    return registry


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory, monitor_metrics: CollectorRegistry) -> Iterator[Prometheus]:
    if shutil.which(PROMETHEUS) is None:
        pytest.fail("Debian's prometheus is not installed; run `make system-deps`")
    exporter_port, port = free_ports(2)
    server, thread = start_http_server(exporter_port, addr="127.0.0.1", registry=monitor_metrics)
    folder = tmp_path_factory.mktemp("prometheus")
    config = folder / "prometheus.yml"
    config.write_text(f"global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n"
                      f"scrape_configs:\n  - job_name: monitor\n    static_configs:\n"
                      f"      - targets: ['127.0.0.1:{exporter_port}']\n")
    log = (folder / "prometheus.log").open("wb")
    process = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
                                f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    handle = Prometheus(f"http://127.0.0.1:{port}", monitor_metrics)
    try:
        _wait_ready(handle, process, folder / "prometheus.log")
        handle.wait_for('up{job="monitor"} == 1')
        handle.wait_for("tagstream_monitor_quality_realised")
        yield handle
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()
        _stop(server)
        thread.join(timeout=5)


def _wait_ready(handle: Prometheus, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prometheus exited: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{handle.url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"prometheus not ready: {log.read_text()[-2000:]}")


def _stop(server: WSGIServer) -> None:
    server.shutdown()
    server.server_close()
