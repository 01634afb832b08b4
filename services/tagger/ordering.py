"""Outputs for one product leave in event order; an output waits only while an earlier event for its key is in flight.

Each valid event gets a ticket in the queue of its key (the product id) when it is polled, in
partition order. When its outputs are ready they go out at once if the ticket is at the head of
its queue; otherwise they are held until every earlier ticket of that key has gone out. Events for
other products never wait, so one slow image holds back only later events for the same product,
not its whole partition. Outputs handed to the producer in this order reach the broker in this
order (one producer, one partition per key, an idempotent producer keeps order across retries).

``KeyOrder`` is not thread-safe: the publish stage serialises it together with the producer
calls, so that the order decided here is the order of ``send``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from kafka import TopicPartition

T = TypeVar("T")


@dataclass(eq=False)
class Ticket(Generic[T]):
    """One event's place in its key's queue; ``payload`` is set once its outputs are ready."""

    key: bytes
    tp: TopicPartition
    payload: T | None = None
    ready: bool = False
    live: bool = True  # False once released or forgotten


class KeyOrder(Generic[T]):
    def __init__(self) -> None:
        self._queues: dict[bytes, deque[Ticket[T]]] = {}

    def admit(self, key: bytes, tp: TopicPartition) -> Ticket[T]:
        """Take a place behind every earlier event of ``key``; call in the order the events were read."""
        ticket: Ticket[T] = Ticket(key, tp)
        self._queues.setdefault(key, deque()).append(ticket)
        return ticket

    def release(self, ticket: Ticket[T], payload: T | None) -> list[T]:
        """The event's outputs are ready (``None``: it has none, e.g. abandoned). Returns, in order, every
        payload now free to go: this one and the held ones behind it, or nothing while an earlier one is out."""
        if not ticket.live:
            return []
        ticket.payload, ticket.ready = payload, True
        return self._pop_ready(ticket.key)

    def forget(self, partitions: Iterable[TopicPartition]) -> list[T]:
        """Drop the tickets of partitions this process no longer owns; returns payloads that were held only
        behind them and may go now."""
        gone = set(partitions)
        released: list[T] = []
        for key in list(self._queues):
            queue = self._queues[key]
            for ticket in queue:
                if ticket.tp in gone:
                    ticket.live = False
            self._queues[key] = deque(t for t in queue if t.live)
            released.extend(self._pop_ready(key))
        return released

    def waiting(self) -> int:
        """Events admitted whose outputs have not gone out yet (ready and held, or not ready)."""
        return sum(len(queue) for queue in self._queues.values())

    def held(self) -> int:
        """Events whose outputs are ready but wait behind an earlier event of the same key."""
        return sum(ticket.ready for queue in self._queues.values() for ticket in queue)

    def _pop_ready(self, key: bytes) -> list[T]:
        queue = self._queues.get(key)
        out: list[T] = []
        while queue and queue[0].ready:
            ticket = queue.popleft()
            ticket.live = False
            if ticket.payload is not None:
                out.append(ticket.payload)
        if queue is not None and not queue:
            del self._queues[key]
        return out
