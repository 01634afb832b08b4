"""Leases in two real browsers: no item twice at once, an expired lease gives the item to the next reviewer,
and a console that stops gives back what was not decided."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from selenium.webdriver.common.by import By

from services.review.decisions import decide
from tests.services.review.conftest import (
    OTHER,
    OTHER_PASSWORD,
    PASSWORD,
    REVIEWER,
    publish_items,
    read_labels,
    sample,
    scrape,
    wait_until,
)
from tests.services.review.test_console_browser import shown_product, sign_in, wait_for_product
from tools.traffic.reviewitems import review_items

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_two_reviewers_at_once_never_see_the_same_item(broker, console_factory, browser_factory):
    items = review_items(3, seed=7)
    publish_items(broker, items, partition=0)
    server = console_factory()
    ana, ben = browser_factory(), browser_factory()
    sign_in(ana, server.url, REVIEWER, PASSWORD)
    sign_in(ben, server.url, OTHER, OTHER_PASSWORD)
    wait_for_product(ana, items[0].tag.product_id)
    wait_for_product(ben, items[1].tag.product_id)
    for _ in range(3):  # reloading keeps each reviewer's own item
        ana.refresh()
        ben.refresh()
        assert shown_product(ana) == items[0].tag.product_id and shown_product(ben) == items[1].tag.product_id
    ben.find_element(By.ID, "decide").click()
    wait_for_product(ben, items[2].tag.product_id)  # the next free item, not ana's
    ana.find_element(By.ID, "decide").click()
    wait_until(lambda: ana.find_elements(By.ID, "empty"), 10, "ana's queue is empty")
    ben.find_element(By.ID, "decide").click()
    labels = read_labels(broker, expect=3)
    assert sorted(label.product_id for label in labels) == sorted(item.tag.product_id for item in items)
    assert {label.product_id: label.who for label in labels} == {
        items[0].tag.product_id: REVIEWER, items[1].tag.product_id: OTHER, items[2].tag.product_id: OTHER}


#: Long enough for a second browser to sign in on two busy cores while the first still holds the item (2 s was not).
LEASE_S = 8.0


def test_an_expired_lease_returns_its_item_and_the_first_reviewer_cannot_decide_it_any_more(
        broker, console_factory, browser_factory):
    items = review_items(1, seed=8)
    publish_items(broker, items)
    server = console_factory(lease_timeout_s=LEASE_S)
    before = scrape(server.url)
    ana, ben = browser_factory(), browser_factory()
    sign_in(ana, server.url, REVIEWER, PASSWORD)
    wait_for_product(ana, items[0].tag.product_id)
    sign_in(ben, server.url, OTHER, OTHER_PASSWORD)
    wait_until(lambda: ben.find_elements(By.ID, "empty"), 10, "ben sees an empty queue while ana holds the item")

    def ben_has_it() -> bool:
        ben.get(f"{server.url}/next")
        return shown_product(ben) == items[0].tag.product_id

    wait_until(ben_has_it, LEASE_S + 15, "the expired lease gives the item to ben")
    ana.find_element(By.ID, "decide").click()  # too late: nothing is published for ana
    wait_until(lambda: ana.find_elements(By.ID, "notice"), 10, "ana is told the item is gone")
    assert "no longer yours" in ana.find_element(By.ID, "notice").text
    ben.find_element(By.ID, "decide").click()
    labels = read_labels(broker, expect=1)
    assert [(label.product_id, label.who) for label in labels] == [(items[0].tag.product_id, OTHER)]
    after = scrape(server.url)
    expired = "tagstream_review_leases_expired_total"
    assert sample(after, expired) - sample(before, expired) == 1


def test_a_stopped_console_gives_back_the_item_under_review_and_the_next_skips_what_was_decided(
        broker, console_factory):
    items = review_items(3, seed=9)
    publish_items(broker, items, partition=0)
    first = console_factory()
    assert first.console is not None
    book = first.console.queue.book
    wait_until(lambda: book.buffered() == 3, 10, "the console read the three items")
    held = book.lease(REVIEWER)
    assert held is not None and held[1].tag.product_id == items[0].tag.product_id  # ana holds item 0 and leaves
    other = book.lease(OTHER)
    assert other is not None
    position, item = book.claim(other[0].id, OTHER)
    form = {f"label.{a}": item.tag.attributes[a].label for a in item.attributes}
    first.console.queue.publish(position, decide(item, form, unusable=False, reviewer=OTHER,
                                                 choices=first.console.choices, now=datetime.now(UTC)))
    first.stop()  # item 0 is undecided: the commit must stay below it

    second = console_factory()
    assert second.console is not None
    again = second.console.queue.book
    wait_until(lambda: again.buffered() == 2, 15, "the second console reads from the commit on")
    offered = [again.lease(name) for name in (REVIEWER, OTHER, "carl")]
    # item 0 comes back; item 1, decided above the commit, is skipped (tagstream.review.progress)
    assert [lease[1].tag.product_id for lease in offered if lease] == [items[0].tag.product_id,
                                                                       items[2].tag.product_id]
    assert len(read_labels(broker, expect=1)) == 1
