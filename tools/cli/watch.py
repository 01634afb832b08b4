"""A live terminal view of the running taggers: throughput, latency, lag, reviews by reason and dead letters
by code."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Group, RenderableType
from rich.live import Live
from rich.table import Table

from tools.cli.scrape import Sample, quantile, scrape


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def render(now: Sample, before: Sample | None, interval_s: float, taggers: int) -> Group:
    def rate(name: str) -> str:
        if before is None:
            return "-"
        return f"{(now.counters[name] - before.counters[name]) / interval_s:,.0f}/s"

    flow = Table(title=f"tagstream · {now.reachable}/{taggers} taggers answering", expand=True)
    for column in ("", "total", "rate"):
        flow.add_column(column, justify="right" if column else "left")
    for label, name in (("consumed", "tagstream_events_consumed_total"),
                        ("tagged", "tagstream_events_tagged_total"),
                        ("to review", "tagstream_events_review_total"),
                        ("audit sample", "tagstream_events_audit_total"),
                        ("dead-lettered", "tagstream_dead_letters_total"),
                        ("Triton errors", "tagstream_triton_errors_total")):
        flow.add_row(label, f"{now.counters[name]:,.0f}", rate(name))

    latency = Table(title="latency (last interval)", expand=True)
    for column in ("", "p50", "p99"):
        latency.add_column(column, justify="right" if column else "left")
    for label, name in (("event → tag", "tagstream_end_to_end_seconds"),
                        ("Triton batch", "tagstream_inference_seconds"),
                        ("decode", "tagstream_preprocess_seconds")):
        prev = before.buckets.get(name) if before else None
        latency.add_row(label, _ms(quantile(now.buckets[name], prev, 0.5)),
                        _ms(quantile(now.buckets[name], prev, 0.99)))
    size = quantile(now.buckets["tagstream_batch_size"], before.buckets.get("tagstream_batch_size") if before else None,
                    0.5)
    latency.add_row("batch size (p50)", "-" if size is None else f"{size:.0f}", "")
    prev_ood = before.buckets.get("tagstream_ood_score") if before else None
    ood = [quantile(now.buckets["tagstream_ood_score"], prev_ood, q) for q in (0.5, 0.99)]
    latency.add_row("OOD score (1 = threshold)", *("-" if v is None else f"{v:.2f}" for v in ood))

    state = Table(title="consumer", expand=True)
    state.add_column("partition")
    state.add_column("position", justify="right")
    state.add_column("lag", justify="right")
    positions = now.by_label["tagstream_consumer_position:partition"]
    for partition in sorted(positions, key=int):
        state.add_row(partition, f"{positions[partition]:,.0f}",
                      f"{now.by_label['tagstream_consumer_lag:partition'].get(partition, 0):,.0f}")
    state.add_row("in flight", f"{now.counters['tagstream_in_flight']:,.0f}",
                  "paused" if now.counters["tagstream_paused"] else "")

    reasons = Table(title="sent to review, by reason", expand=True)
    reasons.add_column("reason")
    reasons.add_column("count", justify="right")
    for reason, count in sorted(now.by_label["tagstream_reviews_total:reason"].items()):
        reasons.add_row(reason, f"{count:,.0f}")

    dead = Table(title="dead letters by code", expand=True)
    dead.add_column("code")
    dead.add_column("count", justify="right")
    for code, count in sorted(now.by_label["tagstream_dead_letters_total:code"].items()):
        dead.add_row(code, f"{count:,.0f}")
    return Group(flow, latency, state, reasons, dead)


def watch(urls: list[str], *, interval_s: float = 2.0, duration_s: float | None = None,
          extra: Callable[[], RenderableType] | None = None) -> Sample:
    """Refresh until Ctrl-C (or ``duration_s``); returns the last sample. ``extra`` adds a panel (the monitor's)."""

    def view(now: Sample, before: Sample | None) -> RenderableType:
        main = render(now, before, interval_s, len(urls))
        return Group(main, extra()) if extra is not None else main

    deadline = None if duration_s is None else time.monotonic() + duration_s
    before: Sample | None = None
    now = scrape(urls)
    with Live(view(now, None), refresh_per_second=4, transient=False) as live:
        while deadline is None or time.monotonic() < deadline:
            time.sleep(interval_s)
            before, now = now, scrape(urls)
            live.update(view(now, before))
    return now
