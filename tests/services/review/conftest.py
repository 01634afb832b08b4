"""Fixtures of the review console's tests: a real broker, the console on a free port, a real browser.

The console runs in the test process (its web server on a thread) against a private Tansu broker; review
items are published to ``catalog.review`` by the test itself, so no tagger or Triton is needed. The browser
is Debian's chromium, driven through Debian's chromedriver by Selenium. Screenshots go to
``.tagstream/test-artifacts/review/`` (ignored by git); each test prints the paths it wrote.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from contracts import LabelFeedback, ReviewItem, Topics
from runtime.settings import KafkaSettings
from services.review.main import ConsoleServer
from services.review.passwords import hash_password
from services.review.settings import ReviewSettings
from tests.conftest import FAST_GROUP_ENV, StackFactory
from tools.stack.ports import free_port

REVIEWER, PASSWORD = "ana", "correct horse battery"
OTHER, OTHER_PASSWORD = "ben", "staple and paper"
ARTIFACTS = Path(__file__).resolve().parents[3] / ".tagstream" / "test-artifacts" / "review"
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"

ConsoleFactory = Callable[..., ConsoleServer]


@pytest.fixture(scope="session")
def reviewers() -> dict[str, str]:
    return {REVIEWER: hash_password(PASSWORD), OTHER: hash_password(OTHER_PASSWORD)}


@pytest.fixture
def broker(stack_factory: StackFactory) -> KafkaSettings:
    """A private broker with every topic (two partitions each): its client settings."""
    return stack_factory(["broker"], partitions=2).kafka_settings()


@pytest.fixture
def console_factory(broker: KafkaSettings, reviewers: dict[str, str]) -> Iterator[ConsoleFactory]:
    """``console_factory(**settings) -> ConsoleServer``, started (group joined); all stopped after the test."""
    servers: list[ConsoleServer] = []

    def make(**overrides: Any) -> ConsoleServer:
        settings = ReviewSettings(**{
            "kafka_bootstrap": broker.kafka_bootstrap, "console_port": free_port(), "reviewers": reviewers,
            "session_timeout_ms": int(FAST_GROUP_ENV["TAGSTREAM_SESSION_TIMEOUT_MS"]),
            "heartbeat_interval_ms": int(FAST_GROUP_ENV["TAGSTREAM_HEARTBEAT_INTERVAL_MS"]),
            "commit_interval_ms": 50, "instance_id": f"review-{len(servers)}", **overrides})
        server = ConsoleServer(settings)
        servers.append(server)
        server.start()
        wait_until(lambda: server.console is not None and server.console.queue.ready(), 30, "the console joins")
        return server

    try:
        yield make
    finally:
        for server in reversed(servers):
            server.stop()


@pytest.fixture
def browser_factory() -> Iterator[Callable[[], Any]]:
    """``browser_factory() -> selenium WebDriver`` on headless chromium; each one quits after the test."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail("chromium and chromium-driver are needed: run `make system-deps`")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []

    def make() -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-dev-shm-usage", "--window-size=1280,900"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        driver.set_page_load_timeout(30)
        drivers.append(driver)
        return driver

    try:
        yield make
    finally:
        for driver in drivers:
            with contextlib.suppress(Exception):
                driver.quit()


def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting until {what}")
        time.sleep(0.05)


def publish_items(settings: KafkaSettings, items: list[ReviewItem], *, partition: int | None = None) -> None:
    producer = KafkaProducer(**settings.kafka_client_kwargs(), acks="all")
    for item in items:
        producer.send(Topics.REVIEW.name, key=item.key, value=item.to_bytes(), partition=partition)
    producer.flush()
    producer.close()


def read_labels(settings: KafkaSettings, *, expect: int, timeout_s: float = 20.0) -> list[LabelFeedback]:
    """Every LabelFeedback on catalog.labels, once at least ``expect`` are there (read without a group)."""
    consumer = KafkaConsumer(**settings.kafka_client_kwargs(), group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    partitions = [TopicPartition(Topics.LABELS.name, p)
                  for p in consumer.partitions_for_topic(Topics.LABELS.name) or []]
    consumer.assign(partitions)
    consumer.seek_to_beginning()
    labels: list[LabelFeedback] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(labels) < expect and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                labels.extend(LabelFeedback.model_validate_json(r.value) for r in batch)
        for batch in consumer.poll(timeout_ms=300).values():  # one more look: more than expected fails too
            labels.extend(LabelFeedback.model_validate_json(r.value) for r in batch)
    finally:
        consumer.close()
    return labels


def screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a console's /metrics page: (name, labels) -> value."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def sample(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def as_json(label: LabelFeedback) -> dict[str, Any]:
    return json.loads(label.to_bytes())
