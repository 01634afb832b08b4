"""The review console's time from submit to the next item shown, over scripted decisions in a real browser.

A private broker, the console in this process, and Debian's headless chromium driven by Selenium (a dev
dependency). A reviewer signs in and confirms ``decisions`` items with the Enter key, one after another. For
each, the browser's own Navigation Timing of the page that follows gives the time from the submit (the start
of the POST navigation) to the end of the next page's load event: the label acknowledged by the broker, the
redirect, the next lease, the page and its picture. The time the script itself sees, key press to the next
product read from the page, is reported beside it (it adds the WebDriver round trips).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from kafka import KafkaProducer

from contracts import Topics
from contracts.errors import TagstreamError
from services.review.main import ConsoleServer
from services.review.passwords import hash_password
from services.review.settings import ReviewSettings
from tools.stack import LocalStack
from tools.stack.ports import free_port, private_settings
from tools.traffic.reviewitems import review_items

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
_NAV_SCRIPT = ("var n = performance.getEntriesByType('navigation')[0];"
               "return n && n.loadEventEnd > 0 ? n.loadEventEnd : null;")


@dataclass(frozen=True)
class ReviewFigures:
    decisions: int
    p50_ms: float
    p95_ms: float
    max_ms: float
    script_p50_ms: float
    script_p95_ms: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _browser() -> Any:
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as e:
        raise TagstreamError("the review benchmark needs selenium", hint='pip install -e ".[dev]"') from e
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        raise TagstreamError("the review benchmark needs Debian's chromium and chromium-driver",
                             hint="run `make system-deps`")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def _wait(check: Any, timeout_s: float = 10.0, every_s: float = 0.01) -> Any:
    """Poll ``check`` until it is truthy; not too often: the browser, the console and the broker share the CPU."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every_s)
    raise TagstreamError(f"the browser did not get there within {timeout_s} s")


def run(decisions: int = 100, seed: int = 3) -> ReviewFigures:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    items = review_items(decisions + 1, seed=seed)
    with tempfile.TemporaryDirectory() as state, LocalStack(private_settings(Path(state), taggers=0,
                                                                            partitions=1)) as stack:
        stack.start(["broker"])
        kafka = stack.kafka_settings()
        producer = KafkaProducer(**kafka.kafka_client_kwargs(), acks="all")
        for item in items:
            producer.send(Topics.REVIEW.name, key=item.key, value=item.to_bytes())
        producer.flush()
        producer.close()
        server = ConsoleServer(ReviewSettings(kafka_bootstrap=kafka.kafka_bootstrap, console_port=free_port(),
                                              reviewers={"bench": hash_password("bench")}, commit_interval_ms=100,
                                              session_timeout_ms=6000, heartbeat_interval_ms=2000))
        server.start()
        driver = _browser()
        try:
            console = server.console
            if console is None:
                raise TagstreamError("the console did not start")
            _wait(lambda: console.queue.book.buffered() >= len(items), 30)

            def product() -> str:
                try:
                    found = driver.find_elements(By.ID, "product")
                    return found[0].text if found else ""
                except StaleElementReferenceException:  # the next page replaced it meanwhile
                    return ""

            driver.get(f"{server.url}/signin")
            driver.find_element(By.ID, "name").send_keys("bench")
            driver.find_element(By.ID, "password").send_keys("bench")
            driver.find_element(By.ID, "signin-button").click()
            _wait(lambda: product() == items[0].tag.product_id)
            page_ms, script_ms = [], []
            for i in range(decisions):
                started = time.perf_counter()
                driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ENTER)
                _wait(lambda i=i: product() == items[i + 1].tag.product_id)
                script_ms.append((time.perf_counter() - started) * 1000)
                page_ms.append(float(_wait(lambda: driver.execute_script(_NAV_SCRIPT))))
        finally:
            driver.quit()
            server.stop()
    return ReviewFigures(decisions=decisions, p50_ms=float(np.percentile(page_ms, 50)),
                         p95_ms=float(np.percentile(page_ms, 95)), max_ms=max(page_ms),
                         script_p50_ms=float(np.percentile(script_ms, 50)),
                         script_p95_ms=float(np.percentile(script_ms, 95)))
