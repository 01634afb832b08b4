"""The lease book alone, on a hand-driven clock: who holds what, and which offset may be committed."""

from __future__ import annotations

import pytest

from services.review.errors import LeaseLost
from services.review.leases import LeaseBook, Position
from tools.traffic.reviewitems import review_items

ITEMS = review_items(4, seed=1)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def book_with(clock: Clock, n: int = 3, timeout_s: float = 10.0) -> tuple[LeaseBook, list[int]]:
    expired: list[int] = []
    book = LeaseBook(timeout_s, clock=clock, on_expired=lambda: expired.append(1))
    for offset in range(n):
        book.add(Position(0, offset), ITEMS[offset])
    return book, expired


def test_each_reviewer_gets_the_oldest_free_item_and_keeps_it_on_reload(clock):
    book, _ = book_with(clock)
    ana, ben = book.lease("ana"), book.lease("ben")
    assert ana and ben and ana[0].position == Position(0, 0) and ben[0].position == Position(0, 1)
    assert book.lease("ana") == ana
    assert book.counts() == (1, 2)


def test_an_expired_lease_goes_to_the_next_reviewer_and_the_first_loses_it(clock):
    book, expired = book_with(clock, n=1)
    ana = book.lease("ana")
    assert ana and book.lease("ben") is None
    clock.now += 10.5
    ben = book.lease("ben")
    assert ben and ben[0].position == Position(0, 0) and expired == [1]
    with pytest.raises(LeaseLost):
        book.claim(ana[0].id, "ana")


def test_an_expired_lease_nobody_took_can_still_be_decided(clock):
    book, _ = book_with(clock, n=1)
    ana = book.lease("ana")
    assert ana
    clock.now += 60
    assert book.claim(ana[0].id, "ana")[0] == Position(0, 0)


def test_an_item_being_saved_is_not_handed_out_even_when_its_lease_expired(clock):
    book, _ = book_with(clock, n=1)
    ana = book.lease("ana")
    assert ana
    book.claim(ana[0].id, "ana")
    clock.now += 60
    assert book.lease("ben") is None
    with pytest.raises(LeaseLost):
        book.claim(ana[0].id, "ana")  # a second submit of the same item
    book.unclaim(Position(0, 0))  # the broker did not acknowledge: ana keeps it
    again = book.lease("ana")
    assert again is not None and again[0].id == ana[0].id


def test_another_reviewer_cannot_use_a_lease_id(clock):
    book, _ = book_with(clock, n=1)
    ana = book.lease("ana")
    assert ana
    with pytest.raises(LeaseLost):
        book.claim(ana[0].id, "ben")
    with pytest.raises(LeaseLost):
        book.held(ana[0].id, "ben")


@pytest.mark.parametrize(("decided", "committable", "above"), [
    ([], 0, []),
    ([0], 1, []),
    ([1, 2], 0, [1, 2]),  # held back by item 0, still under review
    ([0, 2], 1, [2]),
    ([0, 1, 2], 3, []),
])
def test_the_commit_never_passes_an_undecided_item(clock, decided, committable, above):
    book, _ = book_with(clock)
    for offset in decided:
        book.decided(Position(0, offset))
    assert book.committable() == {0: committable}
    assert book.decided_above(0) == (committable, above)


def test_skipped_records_count_as_done_and_forgotten_partitions_drop_their_leases(clock):
    book, _ = book_with(clock, n=1)
    book.skip(Position(0, 1))
    book.add(Position(1, 5), ITEMS[3])
    assert book.committable() == {0: 0, 1: 5}
    book.decided(Position(0, 0))
    assert book.committable()[0] == 2
    book.mark_committed({0: 2})
    assert 0 not in book.committable()
    book.forget([1])
    assert book.buffered() == 0 and book.lease("ana") is None
