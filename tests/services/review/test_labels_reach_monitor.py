"""Labels reach the monitor: a reviewer's decisions in the real console become realised quality per model version.

A whole local stack on private ports: broker (the committed model's card registered), Triton, one tagger (half
its tags drawn for the audit sample, so both kinds of item come up), the review console and the monitor. The
reviewer signs in to the console over HTTP with its documented local account and decides every item through its
form, as a browser posts it: every label kept as the model said, except collar, always changed to another of its
choices. The monitor's ``/metrics`` must then show, for model version 1, realised accuracy 1 for the kept
attributes and 0 for collar, per label source (``audit`` for audit items, ``reviewer`` for doubt items), over as
many labels as were decided.
"""

from __future__ import annotations

import http.cookiejar
import re
import time
import urllib.parse
import urllib.request
from collections import Counter
from html.parser import HTMLParser

import pytest

from contracts import LabelSource, ReviewKind
from services.review.decisions import FIELD_PREFIX
from services.review.local import LOCAL_PASSWORD, LOCAL_REVIEWER
from tests.conftest import FAST_GROUP_ENV, StackFactory
from tests.services.review.conftest import read_labels, sample, scrape
from tests.services.tagger.streams import OutputReader
from tools.monitoring.stack import monitor_url
from tools.traffic.produce import produce
from tools.traffic.synthetic import generate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

EVENTS = 24
CORRECTED = "collar"
#: Labels join the tags of closed windows: the window closes with the test's tags (or after 5 s with 10 of them).
MONITOR_ENV = {"TAGSTREAM_MONITOR_WINDOW_EVENTS": str(EVENTS), "TAGSTREAM_MONITOR_WINDOW_SECONDS": "5",
               "TAGSTREAM_MONITOR_MIN_WINDOW": "10",
               "TAGSTREAM_MONITOR_LABEL_REPORT_EVERY": "1", "TAGSTREAM_MONITOR_LABEL_REPORT_SECONDS": "1",
               "TAGSTREAM_MONITOR_SNAPSHOTS": "false", "TAGSTREAM_MONITOR_SESSION_TIMEOUT_MS": "6000",
               "TAGSTREAM_MONITOR_HEARTBEAT_INTERVAL_MS": "2000"}


class DecisionForm(HTMLParser):
    """The item page's decision form: where it posts, its CSRF token, and each select with its selected label."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.action: str | None = None
        self.csrf: str | None = None
        self.product: str | None = None
        self.selects: dict[str, list[str]] = {}  # field -> its options, the selected one first
        self._select: str | None = None
        self._in_product = False
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form" and found.get("id") == "decision":
            self.action = found.get("action")
        elif tag == "input" and found.get("name") == "csrf" and self.action is not None:
            self.csrf = found.get("value")
        elif tag == "select":
            self._select = found.get("name")
            self.selects[self._select or ""] = []
        elif tag == "option" and self._select is not None:
            options = self.selects[self._select]
            value = found.get("value") or ""
            if "selected" in found:
                options.insert(0, value)
            else:
                options.append(value)
        elif tag == "b" and found.get("id") == "product":
            self._in_product = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None
        elif tag == "b":
            self._in_product = False

    def handle_data(self, data: str) -> None:
        if self._in_product:
            self.product = data.strip()


def _sign_in(url: str) -> urllib.request.OpenerDirector:
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    with browser.open(f"{url}/signin", timeout=10) as page:
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.read().decode())
    assert csrf is not None
    form = urllib.parse.urlencode({"csrf": csrf[1], "name": LOCAL_REVIEWER, "password": LOCAL_PASSWORD}).encode()
    with browser.open(f"{url}/signin", data=form, timeout=10) as page:
        assert page.url.endswith("/next")
    return browser


def _decide_everything(browser: urllib.request.OpenerDirector, url: str) -> list[tuple[str, set[str]]]:
    """Decide every item the console hands out; returns (product, attributes decided) of each."""
    decided: list[tuple[str, set[str]]] = []
    with browser.open(f"{url}/next", timeout=10) as page:
        html = page.read().decode()
    while "Nothing to review" not in html:
        form = DecisionForm(html)
        assert form.action and form.csrf and form.product and form.selects, html[:500]
        fields = {"csrf": form.csrf}
        for field, options in form.selects.items():
            keep = field != f"{FIELD_PREFIX}{CORRECTED}"
            fields[field] = options[0] if keep else next(o for o in options[1:] if o != options[0])
        decided.append((form.product, {field.removeprefix(FIELD_PREFIX) for field in form.selects}))
        with browser.open(f"{url}{form.action}", data=urllib.parse.urlencode(fields).encode(), timeout=20) as page:
            assert page.url.endswith("/next")  # the label was acknowledged, then the next item shown
            html = page.read().decode()
    return decided


def test_a_reviewers_decisions_become_realised_quality_of_the_version_per_source(stack_factory: StackFactory):
    stack = stack_factory(["broker", "triton", "tagger-0", "review", "monitor"], review=True, monitor=True,
                          monitor_env=MONITOR_ENV,
                          tagger_env={**FAST_GROUP_ENV, "TAGSTREAM_AUDIT_SHARE": "0.5"})
    settings = stack.kafka_settings()
    records = list(generate(EVENTS, seed=61))
    produce(settings, records, progress=False)
    reader = OutputReader(settings)
    seen = reader.until(lambda s: len(s.review) >= EVENTS, timeout_s=90)  # every tag is in doubt (category)
    reader.close()
    kinds = Counter(item.kind for item in seen.review)
    assert kinds[ReviewKind.AUDIT] and kinds[ReviewKind.DOUBT]
    console = f"http://127.0.0.1:{stack.settings.review_port}"

    decided = _decide_everything(_sign_in(console), console)
    assert len(decided) == EVENTS
    labels = read_labels(settings, expect=EVENTS)
    assert len(labels) == EVENTS and all(label.model is not None and label.model.version == "1" for label in labels)
    assert sorted((label.product_id, set(label.labels)) for label in labels) == sorted(decided)
    by_kind = {item.tag.event_id: item.kind for item in seen.review}
    source_of = {ReviewKind.AUDIT: LabelSource.AUDIT, ReviewKind.DOUBT: LabelSource.REVIEWER}
    assert all(label.source is source_of[by_kind[label.event_id or ""]] for label in labels)
    assert all(label.who == LOCAL_REVIEWER for label in labels)

    # what the monitor must report: per source and attribute, how many labels, and their accuracy
    expected: dict[tuple[str, str], tuple[int, float]] = {}
    for source in (LabelSource.AUDIT, LabelSource.REVIEWER):
        counts = Counter(attribute for label in labels if label.source is source for attribute in label.labels)
        for attribute, n in counts.items():
            expected[(source.value, attribute)] = (n, 0.0 if attribute == CORRECTED else 1.0)
    assert ("audit", CORRECTED) in expected and ("reviewer", "category") in expected

    metrics_url = monitor_url(stack.settings)

    def reported() -> dict[tuple[str, str], tuple[int, float]]:
        samples = scrape(metrics_url)
        return {key: (int(sample(samples, "tagstream_monitor_quality_realised_labels", model_version="1",
                                 attribute=key[1], source=key[0])),
                      sample(samples, "tagstream_monitor_quality_realised", model_version="1", attribute=key[1],
                             source=key[0]))
                for key in expected}

    deadline = time.monotonic() + 60  # label reports come every second
    while (now := reported()) != expected and time.monotonic() < deadline:
        time.sleep(0.2)
    assert now == expected  # on failure, pytest shows which (source, attribute) differ
    print(f"\n{len(labels)} decisions ({kinds[ReviewKind.AUDIT]} audit, {kinds[ReviewKind.DOUBT]} doubt) reached the "
          f"monitor: {sorted(now.items())[:2]} ...")
