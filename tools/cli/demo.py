"""``tagstream demo``: the local stack, synthetic traffic and a live view, until Ctrl-C."""

from __future__ import annotations

import itertools
import threading

import typer
from rich.console import Console

from model.drift import DriftKnobError, parse_drift
from model.synthetic import SyntheticConfig
from tools.cli.watch import watch
from tools.stack import LocalStack, StackSettings
from tools.traffic.produce import produce
from tools.traffic.synthetic import generate

console = Console(stderr=True)


def _traffic(stack: LocalStack, rate: float, malformed_ratio: float, config: SyntheticConfig,
             stop: threading.Event) -> None:
    for seed in itertools.count(1):  # chunks of fresh events until stopped
        records = itertools.takewhile(lambda _: not stop.is_set(), generate(1000, malformed_ratio=malformed_ratio,
                                                                           seed=seed, config=config))
        produce(stack.kafka_settings(), records, rate=rate, progress=False)
        if stop.is_set():
            return


def demo(
    rate: float = typer.Option(100.0, min=1, help="synthetic events per second"),
    malformed_ratio: float = typer.Option(0.05, min=0, max=1, help="share of malformed events"),
    duration: float | None = typer.Option(None, min=1, help="stop after this many seconds (default: Ctrl-C)"),
    keep: bool = typer.Option(False, help="leave the stack running afterwards"),
    drift: list[str] | None = typer.Option(None, help="drift the synthetic traffic, KNOB=VALUE (repeatable), e.g. "
                                                      "brightness=0.6 or non_garment=0.2"),
) -> None:
    """Start the stack (unless one runs), send synthetic traffic and show throughput, latency, lag and
    dead letters live. Ctrl-C stops the traffic and the stack."""
    try:
        config = SyntheticConfig(drift=parse_drift(drift or []))
    except DriftKnobError as e:
        raise typer.BadParameter(str(e), param_hint="--drift") from e
    settings = StackSettings()
    stack = LocalStack.recorded(settings)
    started = stack is None
    if stack is None:
        stack = LocalStack(settings)
        console.print(f"starting the local stack: {', '.join(stack.components)} (logs in {settings.logs_dir}/)")
        stack.start(on_ready=lambda name, s: console.print(f"  [green]ready[/green] {name} ({s:.1f} s)"))
        stack.start_keeper()  # a component that crashes during the demo comes back (logs/keeper.log)
    stop = threading.Event()
    sender = threading.Thread(target=_traffic, args=(stack, rate, malformed_ratio, config, stop), daemon=True)
    sender.start()
    urls = [f"{stack.tagger_metrics_url(i)}/metrics" for i in range(stack.settings.taggers)]
    console.print(f"sending {rate:.0f} events/s ({malformed_ratio:.0%} malformed); Ctrl-C to stop")
    console.print("in another terminal: `tagstream tail catalog.tags`, `tagstream tail catalog.events.dlq`, "
                  "`tagstream status`")
    try:
        watch(urls, duration_s=duration)
    except KeyboardInterrupt:
        console.print("\nstopping")
    finally:
        stop.set()
        sender.join(timeout=15)
        if started and not keep:
            stack.stop()
            console.print("stack stopped")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
