"""The image fetcher's Prometheus metrics, each declared once with a fixed label set.

No metric carries the host: image hosts are unbounded (every merchant's CDN). A circuit that opens or
closes is logged with its host instead.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

#: how a fetch ended; ``stopped`` is a fetch cut short by the fetcher's own stop
OUTCOMES = ("ok", "timeout", "queue_timeout", "forbidden", "too_large", "http_error", "server_error",
            "unreachable", "redirects", "circuit_open", "stopped")
CIRCUIT_STATES = ("open", "half_open", "closed")

FETCHES = Counter("tagstream_image_fetches_total", "Image URL fetches by outcome", ["outcome"])
for _outcome in OUTCOMES:  # every series present from the start
    FETCHES.labels(_outcome)
FETCHES_IN_FLIGHT = Gauge("tagstream_image_fetches_in_flight",
                          "Image fetches submitted and not yet finished, waiting for a slot included")
SLOT_WAIT_SECONDS = Histogram("tagstream_image_fetch_slot_wait_seconds",
                              "Time one request waited for a slot of its host and of the fetcher",
                              buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
FETCH_SECONDS = Histogram("tagstream_image_fetch_seconds", "Duration of one image fetch, redirects included",
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
CIRCUIT_CHANGES = Counter("tagstream_image_host_circuit_changes_total",
                          "Circuit breaker transitions of image hosts, by the state entered", ["state"])
for _state in CIRCUIT_STATES:
    CIRCUIT_CHANGES.labels(_state)
CIRCUITS_OPEN = Gauge("tagstream_image_host_circuits_open",
                      "Image hosts whose circuit is open or half-open (fetches fail fast)")
