"""``tagstream monitor``, ``label``, ``dashboard``, ``report quality`` and ``bench monitor``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from contracts import LabelSource
from contracts.errors import TagstreamError

err = Console(stderr=True, highlight=False)
report_app = typer.Typer(help="Reports from the topics.", no_args_is_help=True)
#: Where the monitor of the local stack writes its Evidently workspace (``<state_dir>/evidently``).
DEFAULT_WORKSPACE = Path(".tagstream/evidently")


def _fail(message: str) -> NoReturn:
    err.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    raise typer.Exit(1)


def monitor() -> None:
    """Run the monitor in the foreground (settings from TAGSTREAM_MONITOR_* and TAGSTREAM_KAFKA_* variables).

    Follows catalog.tags, catalog.tags.shadow, catalog.labels and tagstream.models; serves /metrics, /healthz and
    /readyz on 127.0.0.1:9400 (TAGSTREAM_MONITOR_PORT).
    """
    from services.monitor.main import main

    raise typer.Exit(main())


def label(
    truth: Annotated[Path, typer.Option("--truth", metavar="FILE", exists=False, dir_okay=False,
                                        help="The file `tagstream produce --truth-out FILE` wrote.")],
    synthetic: Annotated[bool, typer.Option("--synthetic", help="Label from the generator's ground truth (the only "
                                                                 "labeller there is).")] = False,
    delay: Annotated[float, typer.Option(min=0.0, metavar="S", help="Seconds before the first label is sent.")] = 0.0,
    jitter: Annotated[float, typer.Option(min=0.0, metavar="S",
                                          help="Extra random delay per label, up to S seconds: labels arrive out of "
                                               "order.")] = 0.0,
    sample: Annotated[float, typer.Option(
        min=0.0, max=1.0, metavar="P", help="Share of products labelled (chosen by a hash of the product id).")] = 0.1,
    source: Annotated[LabelSource, typer.Option(help="audit: a random sample (measures quality); reviewer: what a "
                                                     "review queue returns.")] = LabelSource.AUDIT,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the sample and the jitter.")] = 0,
) -> None:
    """Publish LabelFeedback on catalog.labels from the ground truth of synthetic traffic.

    Example: tagstream produce --synthetic 2000 --truth-out truth.jsonl && tagstream label --synthetic --truth
    truth.jsonl --delay 30 --jitter 60 --sample 0.1
    """
    from runtime.settings import KafkaSettings
    from tools.monitoring.labeller import publish, read_truth, schedule

    if not synthetic:
        _fail("only the synthetic labeller exists: pass --synthetic (labels from `tagstream produce --truth-out`)")
    try:
        due = schedule(read_truth(truth), sample=sample, seed=seed, delay_s=delay, jitter_s=jitter)
        err.print(f"sending {len(due)} {source.value} labels over about {delay + jitter:.0f} s")
        sent = publish(KafkaSettings(), due, source=source)
    except TagstreamError as e:
        _fail(str(e))
    Console(highlight=False).print(f"published {sent} {source.value} labels to catalog.labels")


def dashboard(
    workspace: Annotated[Path, typer.Option(help="The monitor's Evidently workspace (TAGSTREAM_MONITOR_WORKSPACE).")
                         ] = DEFAULT_WORKSPACE,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the UI on 127.0.0.1.")] = 8085,
) -> None:
    """Serve the monitor's Evidently workspace with `evidently ui` on 127.0.0.1, offline, telemetry off.

    The tagstream project has one dashboard tab per model version: drift share, input and prediction drift,
    estimated and realised quality, review share. Ctrl-C stops it.
    """
    from monitoring.dashboard import open_project

    try:
        open_project(workspace)
    except TagstreamError as e:
        _fail(str(e))
    command = [sys.executable, "-m", "evidently.cli", "ui", "--workspace", str(workspace), "--host", "127.0.0.1",
               "--port", str(port)]
    err.print(f"Evidently UI on http://127.0.0.1:{port} (workspace {workspace}); Ctrl-C stops it")
    try:
        raise typer.Exit(subprocess.call(command, env={**os.environ, "DO_NOT_TRACK": "1"}))
    except KeyboardInterrupt:
        raise typer.Exit(0) from None


@report_app.command("quality")
def report_quality(
    merchant: Annotated[str | None, typer.Option(help="Only this merchant.")] = None,
    since: Annotated[datetime | None, typer.Option(help="Only tags made from this time (ISO 8601, with zone).")
                     ] = None,
    targets: Annotated[Path | None, typer.Option(help="YAML of agreed targets (default: the committed "
                                                      "monitoring/quality_targets.yaml).")] = None,
    source: Annotated[LabelSource, typer.Option(help="Labels to score with (audit: unbiased).")] = LabelSource.AUDIT,
    min_labels: Annotated[int, typer.Option(min=1, help="Fewest labels a figure needs for a verdict.")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per row.")] = False,
) -> None:
    """Quality per merchant and attribute against the agreed targets: what is missed, by how much, and how many
    labels stand behind each figure. Reads catalog.tags and catalog.labels from the beginning."""
    from monitoring.policy import load_targets
    from runtime.settings import KafkaSettings
    from tools.monitoring.report import ALPHA, report_from_topics

    if since is not None and since.tzinfo is None:
        _fail("--since needs a time zone, e.g. 2026-11-30T08:00:00+00:00")
    try:
        rows = report_from_topics(KafkaSettings(), load_targets(targets), merchant=merchant, since=since,
                                  source=source, min_labels=min_labels)
    except TagstreamError as e:
        _fail(str(e))
    if as_json:
        for row in rows:
            print(json.dumps(row.as_dict()))
        return
    if not rows:
        err.print(f"no {source.value} label joins a tag yet" + (f" for merchant {merchant}" if merchant else ""))
        return
    table = Table(title=f"quality against agreed targets ({source.value} labels; {1 - ALPHA:.0%} intervals)")
    for column in ("merchant", "version", "attribute", "labels", "accuracy", "interval", "target", "verdict"):
        table.add_column(column, justify="right" if column in ("labels", "accuracy", "target") else "left")
    for row in rows:
        verdict = row.verdict
        if verdict == "missed":
            verdict = f"[red]missed by {row.missed_by * 100:.1f} points[/red]"
        table.add_row(row.merchant, row.model_version, row.attribute, str(row.labels), f"{row.accuracy:.1%}",
                      f"{row.lower:.1%} - {row.upper:.1%}", "-" if row.target is None else f"{row.target:.0%}",
                      verdict)
    Console().print(table)
    missed = sum(r.verdict == "missed" for r in rows)
    Console(highlight=False).print(f"{missed} of {len(rows)} figures missed")


def bench_monitor(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    window: Annotated[int, typer.Option(min=100, help="Tags per window.")] = 5000,
    windows: Annotated[int, typer.Option(min=1, help="Windows to stream through the broker.")] = 6,
    tagger_rate: Annotated[float | None, typer.Option(
        min=1.0, help="The tagger's end-to-end rate to compare with (default: measured by `tagstream bench pipeline` "
                      "on the CI machine, see the README).")] = None,
) -> None:
    """How long one window takes to judge (decisions, and the Evidently snapshot beside them), the monitor's
    sustained tags per second through a real broker, and its headroom over the tagger."""
    from tools.monitoring.bench import print_figures, run

    figures = run(window=window, windows=windows, tagger_rate=tagger_rate, progress=not as_json)
    if as_json:
        print(json.dumps(figures.as_dict()))
        return
    print_figures(figures, Console())


def register(app: typer.Typer) -> None:
    """Add the monitor's commands to ``tagstream``; ``bench monitor`` joins the bench group."""
    from tools.cli.bench import bench_app

    app.command("monitor")(monitor)
    app.command("label")(label)
    app.command("dashboard")(dashboard)
    app.add_typer(report_app, name="report")
    bench_app.command("monitor")(bench_monitor)
