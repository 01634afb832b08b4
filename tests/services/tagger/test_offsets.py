from kafka import TopicPartition

from services.tagger.offsets import OffsetTracker

TP = TopicPartition("catalog.events", 0)
TP1 = TopicPartition("catalog.events", 1)


def test_committable_stops_at_lowest_pending_offset_when_work_finishes_out_of_order():
    tracker = OffsetTracker()
    for offset in range(5):
        tracker.track(TP, offset)
    tracker.done(TP, 0)
    tracker.done(TP, 3)
    tracker.done(TP, 4)
    assert tracker.committable() == {TP: 1}
    tracker.done(TP, 1)
    assert tracker.committable() == {TP: 2}
    tracker.done(TP, 2)
    assert tracker.committable() == {TP: 5}
    assert tracker.in_flight() == 0


def test_committable_is_empty_when_nothing_moved_since_last_commit():
    tracker = OffsetTracker()
    tracker.track(TP, 7)
    tracker.done(TP, 7)
    tracker.mark_committed(tracker.committable())
    assert tracker.committable() == {}
    assert tracker.committed() == {TP: 8}


def test_nothing_is_committable_for_a_partition_whose_first_offset_is_pending():
    tracker = OffsetTracker()
    tracker.track(TP, 10)
    tracker.track(TP1, 0)
    tracker.done(TP1, 0)
    assert tracker.committable() == {TP: 10, TP1: 1}
    tracker.mark_committed({TP: 10, TP1: 1})
    assert tracker.committable() == {}


def test_forgotten_partitions_ignore_late_acknowledgements():
    tracker = OffsetTracker()
    tracker.track(TP, 0)
    tracker.forget([TP])
    tracker.done(TP, 0)
    assert tracker.committable() == {}
    assert tracker.in_flight() == 0


def test_wait_drained_returns_false_on_timeout_and_true_when_done():
    tracker = OffsetTracker()
    tracker.track(TP, 0)
    assert tracker.wait_drained(0.01) is False
    tracker.done(TP, 0)
    assert tracker.wait_drained(0.01) is True
