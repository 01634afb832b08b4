"""The Evidently dashboard renders: the monitor's snapshots served by ``evidently ui`` (as ``tagstream dashboard``
starts it), opened in Debian's headless chromium through Debian's chromedriver (selenium).

The workspace is filled by the monitor's own snapshot writer from judged windows (the last one of a darker camera)
and one batch of audit labels. The test checks that the tagstream project is listed, that every panel of the
dashboard is on the page, and that each one holds data (chart points, or the counter's figure). A screenshot is
kept in ``test-artifacts/`` (ignored by git); its path is printed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from monitoring.dashboard import PANEL_TITLES, PROJECT_NAME
from monitoring.monitor import Monitor, MonitorConfig
from monitoring.policy import load_targets
from monitoring.writer import SnapshotWriter
from tests.monitoring.factories import card, draw_tags, label_for
from tools.stack.ports import free_port

pytestmark = pytest.mark.integration

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--window-size=1600,2800")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """Three judged windows (the third from a darker camera) and one batch of audit labels, as snapshots."""
    path = tmp_path / "evidently"
    monitor = Monitor(MonitorConfig(window_events=300, targets=load_targets(), label_report_every=1))
    version = card("1")
    monitor.observe_card(version)
    writer = SnapshotWriter(path, queue_size=10)
    writer.start()
    tags = []
    for i in range(3):
        for tag in draw_tags(300, seed=40 + i, start=300 * i, brightness_factor=0.7 if i == 2 else 1.0):
            tags.append(tag)
            for report in monitor.observe_tag(tag):
                assert writer.submit_window(report, version.profile, monitor.config.policy)
    for i, tag in enumerate(tags[:150]):
        monitor.observe_label(label_for(tag, correct=i % 5 != 0))
    for report in monitor.tick()[1]:
        assert writer.submit_labels(report)
    assert writer.wait_idle(timeout=300)
    writer.stop()
    assert (writer.written, writer.failed) == (4, 0)
    return path


@pytest.fixture
def ui(workspace: Path, tmp_path: Path) -> Iterator[str]:
    port = free_port()
    log = (tmp_path / "evidently-ui.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "evidently.cli", "ui", "--workspace", str(workspace),
                                "--host", "127.0.0.1", "--port", str(port)],
                               env={**os.environ, "DO_NOT_TRACK": "1"}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/version", timeout=1):
                    break
            except OSError:
                assert process.poll() is None, (tmp_path / "evidently-ui.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "evidently ui did not answer within 90 s"
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    options = Options()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    try:
        yield driver
    finally:
        driver.quit()


def _panel_points(driver: webdriver.Chrome, title: str) -> int:
    """Chart points (MUI X chart marks) inside the card whose heading is ``title``."""
    card = driver.find_element(By.XPATH, f"//*[normalize-space(text())='{title}']/ancestor::div"
                                         "[contains(@class, 'MuiCard-root')][1]")
    return len(card.find_elements(By.CSS_SELECTOR, "circle.MuiMarkElement-root"))


def test_the_dashboard_shows_the_project_and_every_panel_with_data(ui, browser):
    with urllib.request.urlopen(f"{ui}/api/projects", timeout=5) as response:
        projects = json.loads(response.read())
    (project,) = [p for p in projects if p["name"] == PROJECT_NAME]
    browser.get(f"{ui}/")
    deadline = time.monotonic() + 60
    while PROJECT_NAME not in browser.find_element(By.TAG_NAME, "body").text:
        assert time.monotonic() < deadline, "the projects page never listed the tagstream project"
        time.sleep(0.3)
    browser.get(f"{ui}/projects/{project['id']}")
    points: dict[str, int] = {}
    deadline = time.monotonic() + 90
    while True:
        text = browser.find_element(By.TAG_NAME, "body").text
        if all(title in text for title in PANEL_TITLES):
            points = {title: _panel_points(browser, title) for title in PANEL_TITLES[1:]}
            if all(points.values()):
                break
        assert time.monotonic() < deadline, f"panels or their data missing: {points}"
        time.sleep(0.5)
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "evidently-dashboard.png"
    browser.save_screenshot(str(shot))
    print(f"\nscreenshot: {shot}")
    assert points["Input drift per feature (PSI)"] >= 7 * 3  # every feature, every window
    assert points["Estimated quality (mean calibrated confidence)"] >= 13 * 3
    assert points["Realised quality (audit labels)"] >= 13
    counter = browser.find_element(By.XPATH, f"//*[normalize-space(text())='{PANEL_TITLES[0]}']/ancestor::div"
                                             "[contains(@class, 'MuiCard-root')][1]").text
    assert any(ch.isdigit() for ch in counter.replace(PANEL_TITLES[0], ""))
