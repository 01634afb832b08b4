import queue
import threading
import time

import pytest

from services.tagger.batcher import MicroBatcher


def test_batch_is_cut_at_max_size_when_items_are_waiting():
    batcher: MicroBatcher[int] = MicroBatcher(max_size=4, max_wait_s=1.0, capacity=100)
    for i in range(10):
        batcher.put(i)
    assert batcher.next_batch() == [0, 1, 2, 3]
    assert batcher.next_batch() == [4, 5, 6, 7]
    assert batcher.next_batch() == [8, 9]  # max_wait ends it, the queue is empty


def test_partial_batch_is_returned_after_max_wait():
    batcher: MicroBatcher[int] = MicroBatcher(max_size=100, max_wait_s=0.05, capacity=100)
    batcher.put(1)
    start = time.monotonic()
    assert batcher.next_batch() == [1]
    assert time.monotonic() - start >= 0.04


def test_empty_queue_returns_empty_batch_after_idle_timeout():
    batcher: MicroBatcher[int] = MicroBatcher(max_size=4, max_wait_s=0.01, capacity=4)
    assert batcher.next_batch(idle_timeout_s=0.01) == []


def test_late_items_join_the_batch_while_it_waits():
    batcher: MicroBatcher[int] = MicroBatcher(max_size=3, max_wait_s=1.0, capacity=10)
    batcher.put(1)
    threading.Timer(0.02, batcher.put, args=(2,)).start()
    threading.Timer(0.04, batcher.put, args=(3,)).start()
    assert batcher.next_batch() == [1, 2, 3]


def test_each_item_goes_to_exactly_one_batch_with_concurrent_consumers():
    batcher: MicroBatcher[int] = MicroBatcher(max_size=7, max_wait_s=0.001, capacity=10_000)
    for i in range(5000):
        batcher.put(i)
    seen: list[int] = []
    lock = threading.Lock()

    def drain() -> None:
        while batch := batcher.next_batch(idle_timeout_s=0.05):
            assert len(batch) <= 7
            with lock:
                seen.extend(batch)

    threads = [threading.Thread(target=drain) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(5000))


def test_full_queue_pushes_back_on_put():
    batcher: MicroBatcher[int] = MicroBatcher(max_size=2, max_wait_s=0, capacity=1)
    batcher.put(1)
    with pytest.raises(queue.Full):
        batcher.put(2, timeout_s=0.01)
