from kafka import TopicPartition

from services.tagger.offsets import OffsetTracker

TP = TopicPartition("catalog.events", 0)
TP1 = TopicPartition("catalog.events", 1)


def test_committable_stops_at_lowest_pending_offset_when_work_finishes_out_of_order():
    tracker = OffsetTracker()
    epoch = tracker.epoch(TP)
    for offset in range(5):
        tracker.track(TP, offset, epoch)
    tracker.done(TP, 0, epoch)
    tracker.done(TP, 3, epoch)
    tracker.done(TP, 4, epoch)
    assert tracker.committable() == {TP: 1}
    tracker.done(TP, 1, epoch)
    assert tracker.committable() == {TP: 2}
    tracker.done(TP, 2, epoch)
    assert tracker.committable() == {TP: 5}
    assert tracker.in_flight() == 0


def test_committable_is_empty_when_nothing_moved_since_last_commit():
    tracker = OffsetTracker()
    epoch = tracker.epoch(TP)
    tracker.track(TP, 7, epoch)
    tracker.done(TP, 7, epoch)
    tracker.mark_committed(tracker.committable())
    assert tracker.committable() == {}
    assert tracker.committed() == {TP: 8}


def test_nothing_is_committable_for_a_partition_whose_first_offset_is_pending():
    tracker = OffsetTracker()
    tracker.track(TP, 10, tracker.epoch(TP))
    tracker.track(TP1, 0, tracker.epoch(TP1))
    tracker.done(TP1, 0, tracker.epoch(TP1))
    assert tracker.committable() == {TP: 10, TP1: 1}
    tracker.mark_committed({TP: 10, TP1: 1})
    assert tracker.committable() == {}


def test_forgotten_partitions_ignore_late_acknowledgements():
    tracker = OffsetTracker()
    epoch = tracker.epoch(TP)
    tracker.track(TP, 0, epoch)
    tracker.forget([TP])
    tracker.done(TP, 0, epoch)
    assert tracker.committable() == {}
    assert tracker.in_flight() == 0
    assert not tracker.owns(TP, epoch)


def test_late_acknowledgement_from_an_ended_epoch_is_ignored_when_the_partition_comes_back():
    tracker = OffsetTracker()
    old = tracker.epoch(TP)
    tracker.track(TP, 3, old)
    tracker.forget([TP])
    tracker.assign([TP])
    new = tracker.epoch(TP)
    tracker.track(TP, 3, new)  # read again by the new assignment
    tracker.done(TP, 3, old)
    assert new != old
    assert tracker.in_flight() == 1
    assert tracker.committable() == {TP: 3}
    tracker.track(TP, 4, old)  # work of the old epoch is not tracked either
    assert tracker.in_flight() == 1


def test_assign_starts_a_partition_afresh():
    tracker = OffsetTracker()
    epoch = tracker.epoch(TP)
    tracker.track(TP, 0, epoch)
    tracker.assign([TP])
    assert tracker.in_flight() == 0
    assert not tracker.owns(TP, epoch)
    assert tracker.owns(TP, tracker.epoch(TP))


def test_wait_drained_returns_false_on_timeout_and_true_when_done():
    tracker = OffsetTracker()
    epoch = tracker.epoch(TP)
    tracker.track(TP, 0, epoch)
    assert tracker.wait_drained(0.01) is False
    tracker.done(TP, 0, epoch)
    assert tracker.wait_drained(0.01) is True


def test_wait_drained_of_some_partitions_ignores_the_others():
    tracker = OffsetTracker()
    tracker.track(TP, 0, tracker.epoch(TP))
    tracker.track(TP1, 0, tracker.epoch(TP1))
    tracker.done(TP1, 0, tracker.epoch(TP1))
    assert tracker.wait_drained(0.01, [TP1]) is True
    assert tracker.wait_drained(0.01, [TP, TP1]) is False
    assert tracker.in_flight([TP1]) == 0
    assert tracker.committable([TP1]) == {TP1: 1}
