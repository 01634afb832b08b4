"""``tagstream bench``: benchmarks that print figures (never part of the test suite)."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)

bench_app = typer.Typer(help="Benchmarks that print figures measured in one run.", no_args_is_help=True)


@bench_app.command("pipeline")
def pipeline(
    events: int = typer.Option(2000, min=100, help="events per measurement"),
    seed: int = typer.Option(7, help="seed of the synthetic events"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
) -> None:
    """Raw broker, decode and Triton rates, the end-to-end rate and latency, on a private local stack."""
    from tools.bench.pipeline import URL_DELAY_S, run

    url_delay_ms = round(URL_DELAY_S * 1000)
    figures = run(events=events, seed=seed, progress=not as_json)
    if as_json:
        print(json.dumps(figures.as_dict()))
        return
    table = Table(title=f"tagstream bench pipeline ({events} events, batch {figures.batch_size})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("broker: consume + produce", f"{figures.broker_rate:,.0f} events/s"),
        ("decode + preprocess (tagger threads)", f"{figures.preprocess_rate:,.0f} images/s"),
        ("decode + preprocess (one thread)", f"{figures.preprocess_rate_one_thread:,.0f} images/s"),
        ("Triton at the tagger's batch size", f"{figures.triton_rate:,.0f} images/s"),
        ("end to end", f"{figures.end_to_end_rate:,.0f} events/s"),
        ("ratio (end to end / slowest)", f"{figures.ratio:.2f} (slowest: {figures.slowest})"),
        ("shared-CPU bound 1/Σ(1/rate)", f"{figures.shared_cpu_bound:,.0f} events/s"),
        ("end to end / shared-CPU bound", f"{figures.ratio_to_shared_cpu_bound:.2f}"),
        (f"latency p50 at {figures.latency_rate:,.0f} events/s", f"{figures.p50_ms:,.0f} ms"),
        (f"latency p99 at {figures.latency_rate:,.0f} events/s", f"{figures.p99_ms:,.0f} ms"),
        ("tagger CPU per event, draining a backlog", f"{figures.tagger_cpu_ms_per_event:.2f} ms"),
        (f"end to end, images behind a {url_delay_ms} ms host", f"{figures.url_end_to_end_rate:,.0f} events/s"),
        ("URL / inline end to end", f"{figures.url_ratio:.2f}"),
        ("Triton requests / executions, end to end", f"{figures.triton_requests:,} / {figures.triton_executions:,}"),
        ("Triton requests / executions, alone",
         f"{figures.triton_alone_requests:,} / {figures.triton_alone_executions:,}"),
        ("Triton requests / executions, batch 4 x 8 threads",
         f"{figures.triton_small_requests:,} / {figures.triton_small_executions:,}"),
    ]
    for row in rows:
        table.add_row(*row)
    Console().print(table)


@bench_app.command("review")
def review(
    decisions: int = typer.Option(100, min=10, help="scripted decisions in the browser"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
) -> None:
    """The review console's time from submit to the next item shown, in headless chromium (p50, p95)."""
    from tools.bench.review import run

    figures = run(decisions=decisions)
    if as_json:
        print(json.dumps(figures.as_dict()))
        return
    table = Table(title=f"tagstream bench review ({figures.decisions} decisions, target p95 <= 150 ms)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("submit to next item loaded (browser timing), p50", f"{figures.p50_ms:.0f} ms")
    table.add_row("submit to next item loaded (browser timing), p95", f"{figures.p95_ms:.0f} ms")
    table.add_row("submit to next item loaded (browser timing), max", f"{figures.max_ms:.0f} ms")
    table.add_row("key press to next product seen by the script, p50", f"{figures.script_p50_ms:.0f} ms")
    table.add_row("key press to next product seen by the script, p95", f"{figures.script_p95_ms:.0f} ms")
    Console().print(table)


@bench_app.command("serving")
def serving(
    images: int = typer.Option(1024, min=64, help="synthetic product images to measure with"),
    seconds: float = typer.Option(8.0, min=1, help="how long each rate is measured"),
    batch: int | None = typer.Option(None, min=1, max=64, help="images per request (default: the tagger's batch size)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
) -> None:
    """The served model through Triton against onnxruntime in-process (same file, same batches), and the
    tagger's preprocessing per core."""
    from tools.bench.serving import run

    figures = run(images=images, seconds=seconds, batch=batch)
    if as_json:
        print(json.dumps(figures.as_dict()))
        return
    table = Table(title=f"tagstream bench serving ({figures.model}, batch {figures.batch_size})")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("preprocess (decode, resize, summary, quality), one core",
                  f"{figures.preprocess_one_core:,.0f} images/s")
    table.add_row(f"onnxruntime in-process ({figures.intra_op_threads} thread)",
                  f"{figures.onnxruntime_rate:,.0f} images/s")
    table.add_row("Triton (PyTriton host, gRPC)", f"{figures.triton_rate:,.0f} images/s")
    table.add_row("Triton / in-process", f"{figures.triton_ratio:.2f}")
    table.add_row(f"Triton, {figures.in_flight} requests in flight (as the tagger)",
                  f"{figures.triton_rate_in_flight:,.0f} images/s")
    table.add_row(f"Triton with {figures.in_flight} in flight / in-process", f"{figures.triton_ratio_in_flight:.2f}")
    Console().print(table)


@bench_app.command("fetch")
def fetch(
    fetches: int = typer.Option(4000, min=100, help="fetches per measurement"),
    delay_ms: float = typer.Option(50.0, min=0, help="the image host's delay per answer"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
) -> None:
    """Image fetches per second through the tagger's fetcher against a local image host answering after a delay,
    beside two threads that each wait on one fetch (as the decode threads did)."""
    from tools.bench.fetch import run

    figures = run(fetches=fetches, delay_ms=delay_ms)
    if as_json:
        print(json.dumps(figures.as_dict()))
        return
    table = Table(title=f"tagstream bench fetch ({fetches} fetches, {delay_ms:g} ms per answer)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(f"default policy ({figures.max_per_host} per host, {figures.max_in_flight} in all)",
                  f"{figures.rate_default:,.0f} fetches/s (bound {figures.bound_default:,.0f})")
    table.add_row(f"every slot on one host ({figures.max_in_flight})",
                  f"{figures.rate_wide:,.0f} fetches/s (bound {figures.bound_wide:,.0f})")
    table.add_row("two threads waiting on one fetch each", f"{figures.rate_two_threads:,.0f} fetches/s")
    table.add_row("default policy / two threads", f"{figures.ratio_default_to_two_threads:.1f}x")
    table.add_row("fetcher CPU per fetch", f"{figures.cpu_ms_per_fetch:.3f} ms")
    table.add_row("connections / requests (every slot on one host)",
                  f"{figures.connections_wide:,} / {figures.requests_wide:,}")
    Console().print(table)


@bench_app.command("rollout")
def rollout(
    trials: int = typer.Option(5, min=1, help="breaches and rollbacks to time"),
    rate: float = typer.Option(100.0, min=10, help="synthetic events per second during the trials"),
    taggers: int = typer.Option(2, min=1, max=8, help="tagger processes"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of a table"),
) -> None:
    """From a guardrail breach, and from `rollout rollback`, to every tagger routing new events to stable (as the
    taggers' own /metrics say), on a private stack with a drill candidate and live traffic."""
    from tools.bench.rollout import run

    figures = run(trials=trials, rate=rate, taggers=taggers, progress=not as_json)
    if as_json:
        print(json.dumps(figures.as_dict()))
        return
    data = figures.as_dict()
    table = Table(title=f"tagstream bench rollout ({trials} trials, {taggers} taggers, {rate:g} events/s, "
                        f"measured every {figures.interval_s:g} s, failure limit {figures.failure_limit})")
    table.add_column("measure")
    table.add_column("median", justify="right")
    table.add_column("max", justify="right")
    table.add_row("guardrail breach -> every tagger on stable (target <= 5 s)", f"{data['breach_to_stable_s']:.2f} s",
                  f"{data['breach_to_stable_max_s']:.2f} s")
    table.add_row("  of which breach -> rollback decided", f"{data['breach_to_decision_s']:.2f} s", "")
    table.add_row("  of which decided -> every tagger on stable", f"{data['decision_to_stable_s']:.3f} s", "")
    table.add_row("rollback -> every tagger on stable (target <= 2 s)", f"{data['rollback_to_stable_s']:.3f} s",
                  f"{data['rollback_to_stable_max_s']:.3f} s")
    Console().print(table)


@bench_app.command("model")
def model(
    as_json: bool = typer.Option(False, "--json", help="print one JSON object instead of tables"),
    train_size: int = typer.Option(16000, min=100, help="synthetic training images per run"),
    epochs: int = typer.Option(8, min=1, help="epochs per run (the same budget for both)"),
) -> None:
    """Plain cross-entropy against the default long-tail recipe on the same budget and data: accuracy, macro-F1
    and tail-class recall per attribute, ECE after calibration and out-of-distribution AUROC."""
    from tools.bench.model import BenchConfig, print_bench, run_model_bench

    defaults = BenchConfig()
    config = defaults.model_copy(update={"n_train": train_size,
                                         "train": defaults.train.model_copy(update={"epochs": epochs})})
    result = run_model_bench(config, progress=not as_json, console=console)
    if as_json:
        print(json.dumps(result))
        return
    print_bench(result, Console())


def register(app: typer.Typer) -> None:
    app.add_typer(bench_app, name="bench")
