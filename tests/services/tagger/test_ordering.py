from kafka import TopicPartition

from services.tagger.ordering import KeyOrder

P0 = TopicPartition("catalog.events", 0)
P1 = TopicPartition("catalog.events", 1)


def test_outputs_go_at_once_when_nothing_earlier_of_their_key_is_in_flight():
    order: KeyOrder[str] = KeyOrder()
    a, b = order.admit(b"p-1", P0), order.admit(b"p-2", P0)
    assert order.release(b, "b") == ["b"]  # another product's earlier event does not hold it
    assert order.release(a, "a") == ["a"]
    assert order.waiting() == 0


def test_a_later_event_waits_for_the_earlier_one_of_the_same_key_then_both_go_in_order():
    order: KeyOrder[str] = KeyOrder()
    first, second, third = (order.admit(b"p-1", P0) for _ in range(3))
    assert order.release(third, "3") == []
    assert order.release(second, "2") == []
    assert order.held() == 2
    assert order.release(first, "1") == ["1", "2", "3"]
    assert order.waiting() == 0 and order.held() == 0


def test_an_event_without_outputs_releases_those_behind_it():
    order: KeyOrder[str] = KeyOrder()
    first, second = order.admit(b"p-1", P0), order.admit(b"p-1", P0)
    assert order.release(second, "2") == []
    assert order.release(first, None) == ["2"]


def test_forgetting_a_partition_drops_its_tickets_and_frees_what_waited_only_behind_them():
    order: KeyOrder[str] = KeyOrder()
    lost = order.admit(b"p-1", P0)  # a mis-keyed producer put one product on two partitions
    kept = order.admit(b"p-1", P1)
    assert order.release(kept, "kept") == []
    assert order.forget({P0}) == ["kept"]
    assert order.release(lost, "late") == []  # work of a forgotten partition never goes out
    assert order.waiting() == 0


def test_a_released_ticket_cannot_release_twice():
    order: KeyOrder[str] = KeyOrder()
    ticket = order.admit(b"p-1", P0)
    assert order.release(ticket, "once") == ["once"]
    assert order.release(ticket, "twice") == []
