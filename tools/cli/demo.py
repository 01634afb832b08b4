"""``tagstream demo``: the local stack, synthetic traffic, a rollout and a live view, until Ctrl-C."""

from __future__ import annotations

import itertools
import os
import threading

import typer
from rich.console import Console, Group, RenderableType

from model.drift import DriftKnobError, parse_drift
from model.synthetic import SyntheticConfig
from services.review.local import LOCAL_PASSWORD, LOCAL_REVIEWER
from tools.cli.demo_rollout import DemoCandidate, DemoRollout, demo_repository, review_line
from tools.cli.watch import watch
from tools.monitoring.live import DemoLabeller, monitor_table
from tools.monitoring.stack import monitor_url
from tools.stack import LocalStack, StackSettings
from tools.traffic.produce import produce
from tools.traffic.synthetic import generate

console = Console(stderr=True)
#: The demo's monitor judges windows of 1,000 tags or 20 s, so that drift shows within a minute at 100 events/s.
DEMO_MONITOR_ENV = {"TAGSTREAM_MONITOR_WINDOW_EVENTS": "1000", "TAGSTREAM_MONITOR_WINDOW_SECONDS": "20"}


def _traffic(stack: LocalStack, rate: float, malformed_ratio: float, config: SyntheticConfig,
             stop: threading.Event, labeller: DemoLabeller) -> None:
    for seed in itertools.count(1):  # chunks of fresh events until stopped
        records = itertools.takewhile(lambda _: not stop.is_set(), generate(1000, malformed_ratio=malformed_ratio,
                                                                           seed=seed, config=config))
        produce(stack.kafka_settings(), labeller.tap(records), rate=rate, progress=False)
        if stop.is_set():
            return


def demo(
    rate: float = typer.Option(100.0, min=1, help="synthetic events per second"),
    malformed_ratio: float = typer.Option(0.05, min=0, max=1, help="share of malformed events"),
    duration: float | None = typer.Option(None, min=1, help="stop after this many seconds (default: Ctrl-C)"),
    keep: bool = typer.Option(False, help="leave the stack running afterwards"),
    drift: list[str] | None = typer.Option(None, help="drift the synthetic traffic, KNOB=VALUE (repeatable), e.g. "
                                                      "brightness=0.6 or non_garment=0.2"),
    rollout: DemoCandidate = typer.Option(DemoCandidate.COPY, help="the candidate rolled out with the quick plan: "
                                                                   "copy (version 1 unchanged: goes to full), drill "
                                                                   "(fabric scrambled: rolled back), none"),
    rollout_after: float = typer.Option(30.0, min=0, help="seconds of traffic before the rollout starts"),
) -> None:
    """Start the stack (unless one runs), send synthetic traffic and show throughput, latency, lag, dead letters,
    the monitor's drift and quality figures (with audit labels for a tenth of the products, 20 s late), a rollout
    of version 2 moving through its stages, and the review queue, live. Ctrl-C stops the traffic and the stack."""
    try:
        config = SyntheticConfig(drift=parse_drift(drift or []))
    except DriftKnobError as e:
        raise typer.BadParameter(str(e), param_hint="--drift") from e
    demo_env = {k: v for k, v in DEMO_MONITOR_ENV.items() if k not in os.environ}  # the user's settings win
    settings = StackSettings(monitor_env={**demo_env, **StackSettings().monitor_env})
    stack = LocalStack.recorded(settings)
    started = stack is None
    if stack is not None and rollout is not DemoCandidate.NONE:
        console.print("a stack runs already: no rollout this time (the demo rolls out a candidate it writes into the "
                      "repository of a stack it starts; `tagstream down` first to see one)")
        rollout = DemoCandidate.NONE
    if stack is None:
        if rollout is not DemoCandidate.NONE:
            settings = settings.model_copy(update={"model_repository": demo_repository(settings.state_dir, rollout)})
        stack = LocalStack(settings)
        console.print(f"starting the local stack: {', '.join(stack.components)} (logs in {settings.logs_dir}/)")
        stack.start(on_ready=lambda name, s: console.print(f"  [green]ready[/green] {name} ({s:.1f} s)"))
        stack.start_keeper()  # a component that crashes during the demo comes back (logs/keeper.log)
    stop = threading.Event()
    labeller = DemoLabeller(stack.kafka_settings())  # audit labels for 10% of the products, 20 s later
    labeller.start()
    sender = threading.Thread(target=_traffic, args=(stack, rate, malformed_ratio, config, stop, labeller),
                              daemon=True)
    sender.start()
    releaser = DemoRollout(stack.settings, after_s=rollout_after) if rollout is not DemoCandidate.NONE else None
    if releaser is not None:
        releaser.start()
    urls = [f"{stack.tagger_metrics_url(i)}/metrics" for i in range(stack.settings.taggers)]

    def panels() -> Group:
        parts: list[RenderableType] = [monitor_table(monitor_url(stack.settings))]
        if releaser is not None:
            parts.append(releaser.panel())
        if stack.settings.review:
            parts.append(review_line(stack.settings, user=LOCAL_REVIEWER, password=LOCAL_PASSWORD))
        return Group(*parts)

    console.print(f"sending {rate:.0f} events/s ({malformed_ratio:.0%} malformed); Ctrl-C to stop")
    console.print("in another terminal: `tagstream tail catalog.tags`, `tagstream tail catalog.events.dlq`, "
                  "`tagstream status`, `tagstream rollout status --watch`")
    try:
        watch(urls, duration_s=duration, extra=panels)
    except KeyboardInterrupt:
        console.print("\nstopping")
    finally:
        stop.set()
        if releaser is not None:
            releaser.stop()
        sender.join(timeout=15)
        labeller.stop()
        if started and not keep:
            stack.stop()
            console.print("stack stopped")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
