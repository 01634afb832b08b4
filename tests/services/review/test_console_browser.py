"""The review console end to end: headless chromium, the console, a real broker; labels read back from Kafka."""

from __future__ import annotations

from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from contracts import LabelSource, ReviewItem, Topics
from runtime.settings import KafkaSettings
from tests.services.review.conftest import (
    PASSWORD,
    REVIEWER,
    publish_items,
    read_labels,
    sample,
    scrape,
    screenshot,
    wait_until,
)
from tools.traffic.reviewitems import review_items

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def sign_in(driver: Any, url: str, name: str, password: str) -> None:
    driver.get(f"{url}/next")  # not signed in: sent to the sign-in page
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "signin-button").click()


def shown_product(driver: Any) -> str | None:
    try:
        found = driver.find_elements(By.ID, "product")
        return found[0].text if found else None
    except StaleElementReferenceException:  # the next page replaced it meanwhile
        return None


def wait_for_product(driver: Any, product_id: str) -> None:
    wait_until(lambda: shown_product(driver) == product_id, 10, f"{product_id} is shown")


def picture_loaded(driver: Any) -> bool:
    return bool(driver.execute_script("var i = document.getElementById('picture');"
                                      "return i && i.complete && i.naturalWidth > 0;"))


def committed(settings: KafkaSettings, partition: int = 0) -> int | None:
    consumer = KafkaConsumer(**settings.kafka_client_kwargs(), group_id="tagstream-review", enable_auto_commit=False)
    try:
        return consumer.committed(TopicPartition(Topics.REVIEW.name, partition))
    finally:
        consumer.close(autocommit=False)


def test_a_reviewer_confirms_corrects_and_marks_unusable_and_three_labels_reach_catalog_labels(
        broker, console_factory, browser_factory):
    items: list[ReviewItem] = review_items(3, seed=5)
    publish_items(broker, items, partition=0)
    server = console_factory()
    driver = browser_factory()
    before = scrape(server.url)  # metrics are the process's: count what this test adds

    sign_in(driver, server.url, REVIEWER, "not the password")
    assert "wrong name or password" in driver.find_element(By.ID, "error").text
    assert driver.current_url.endswith("/signin") and shown_product(driver) is None
    screenshot(driver, "signin-refused")

    driver.find_element(By.ID, "name").clear()
    sign_in(driver, server.url, REVIEWER, PASSWORD)
    wait_for_product(driver, items[0].tag.product_id)
    wait_until(lambda: picture_loaded(driver), 10, "the picture is shown")
    assert driver.find_element(By.ID, "who").text == REVIEWER
    assert driver.find_element(By.ID, "title").text == items[0].title
    assert driver.find_element(By.ID, "merchant").text == items[0].tag.merchant_id
    assert "audit" not in driver.page_source.lower()  # never tell the reviewer which items are audits
    screenshot(driver, "item")

    # 1: confirm everything as the model said, with the keyboard
    driver.find_element(By.TAG_NAME, "body").send_keys(Keys.ENTER)
    wait_for_product(driver, items[1].tag.product_id)

    # 2: correct the first attribute to check with its second top-k label ("2"), keep the other
    first = "texture"  # rows to check follow the tag's (the taxonomy's) order: texture comes before fabric
    corrected_to = items[1].tag.attributes[first].top_k[1].label
    body = driver.find_element(By.TAG_NAME, "body")
    body.send_keys("2")
    assert driver.find_element(By.ID, f"label.{first}").get_attribute("value") == corrected_to
    screenshot(driver, "item-corrected")
    body.send_keys(Keys.ENTER)
    wait_for_product(driver, items[2].tag.product_id)

    # 3: the image is unusable
    driver.find_element(By.TAG_NAME, "body").send_keys("u")
    assert driver.find_element(By.ID, "unusable").is_selected()
    driver.find_element(By.ID, "decide").click()
    wait_until(lambda: driver.find_elements(By.ID, "empty"), 10, "the queue is empty")
    screenshot(driver, "queue-empty")

    labels = {label.product_id: label for label in read_labels(broker, expect=3)}
    assert len(labels) == 3
    confirmed, corrected, unusable = (labels[item.tag.product_id] for item in items)
    for label, item in zip((confirmed, corrected, unusable), items, strict=True):
        assert label.source is LabelSource.REVIEWER and label.who == REVIEWER
        assert label.event_id == item.tag.event_id and label.merchant_id == item.tag.merchant_id
        assert label.model == item.tag.model
    assert confirmed.labels == {a: items[0].tag.attributes[a].label for a in items[0].attributes}
    assert not confirmed.unusable
    other = next(a for a in items[1].attributes if a != first)
    assert corrected.labels == {first: corrected_to, other: items[1].tag.attributes[other].label}
    assert corrected_to != items[1].tag.attributes[first].label
    assert unusable.unusable and unusable.labels == {}

    wait_until(lambda: committed(broker) == 3, 10, "the review topic's offset is committed past the three")

    driver.get(f"{server.url}/stats")
    table = driver.find_element(By.ID, "agreement").text
    assert f"{first} 2 1 50%" in table and f"{other} 2 2 100%" in table  # confirmed once, corrected once
    after = scrape(server.url)
    for outcome in ("confirmed", "corrected", "unusable"):
        name = "tagstream_review_decisions_total"
        assert sample(after, name, source="reviewer", outcome=outcome) - sample(
            before, name, source="reviewer", outcome=outcome) == 1
    name = "tagstream_review_attribute_decisions_total"
    assert sample(after, name, attribute=first, agreed="false") - sample(before, name, attribute=first,
                                                                          agreed="false") == 1
    assert sample(after, "tagstream_review_queue_depth") == 0


def tamper_and_submit(driver: Any, form_id: str, csrf: str | None) -> None:
    """Submit the page's form with its CSRF field removed (``None``) or replaced: what a forged post sends."""
    driver.execute_script("var f = document.getElementById(arguments[0]);"
                          "var t = f.querySelector('input[name=csrf]');"
                          "if (arguments[1] === null) { t.remove(); } else { t.value = arguments[1]; }"
                          "f.submit();", form_id, csrf)


def test_form_posts_without_the_csrf_token_are_refused_and_publish_nothing(broker, console_factory, browser_factory):
    items = review_items(1, seed=6)
    publish_items(broker, items)
    server = console_factory()
    driver = browser_factory()
    sign_in(driver, server.url, REVIEWER, PASSWORD)
    wait_for_product(driver, items[0].tag.product_id)
    cookie = driver.get_cookie("tagstream_review")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"

    for forged in (None, "forged"):
        tamper_and_submit(driver, "decision", forged)
        wait_until(lambda: driver.find_elements(By.ID, "refused"), 10, "the post is refused")
        driver.get(f"{server.url}/next")  # the item is still the reviewer's
        wait_for_product(driver, items[0].tag.product_id)
    screenshot(driver, "csrf-refused")
    assert read_labels(broker, expect=1, timeout_s=1.0) == []

    driver.find_element(By.ID, "decide").click()  # the real form still works
    assert len(read_labels(broker, expect=1)) == 1

    stranger = browser_factory()  # the sign-in form is covered too
    stranger.get(f"{server.url}/signin")
    stranger.find_element(By.ID, "name").send_keys(REVIEWER)
    stranger.find_element(By.ID, "password").send_keys(PASSWORD)
    tamper_and_submit(stranger, "signin", None)
    wait_until(lambda: stranger.find_elements(By.ID, "refused"), 10, "the sign-in is refused")
    stranger.get(f"{server.url}/next")
    assert stranger.current_url.endswith("/signin")
