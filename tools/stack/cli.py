"""``tagstream up``, ``tagstream status`` and ``tagstream down``: the local stack from the shell."""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from tools.stack.settings import StackSettings
from tools.stack.stack import LocalStack

console = Console(stderr=True)

#: How often ``up --foreground`` checks that every component still runs.
WATCH_PERIOD_S = 2.0


def up(
    foreground: bool = typer.Option(False, "--foreground", "-f",
                                    help="stay attached: stop the whole stack on Ctrl-C or SIGTERM"),
    durable: bool | None = typer.Option(None, "--durable/--memory",
                                        help="keep broker data in a local S3 (moto) so it survives a broker "
                                             "restart, or in memory (fast, the default; TAGSTREAM_BROKER_STORAGE)"),
    partitions: int | None = typer.Option(None, min=1, help="partitions per topic (TAGSTREAM_PARTITIONS, default 4)"),
    taggers: int | None = typer.Option(None, min=0, help="tagger processes to run (TAGSTREAM_TAGGERS, default 1)"),
    with_prometheus: bool = typer.Option(False, "--with-prometheus",
                                         help="also run a Prometheus server (Debian's) scraping the stack, with the "
                                              "alert rules; on TAGSTREAM_PROMETHEUS_PORT (9090)"),
) -> None:
    """Start the local stack: Kafka broker (Tansu), topics, Triton (PyTriton), the taggers and the monitor.

    Returns once every component answers its readiness check, leaving the stack in the background.
    Stop it with `tagstream down`; check it with `tagstream status`.
    Ports come from TAGSTREAM_* variables (e.g. TAGSTREAM_BROKER_PORT) or the TAGSTREAM_CONFIG file.
    Everything listens on 127.0.0.1 only. Logs: .tagstream/logs/ (TAGSTREAM_STATE_DIR).
    """
    overrides: dict[str, Any] = {}
    if durable is not None:
        overrides["broker_storage"] = "s3" if durable else "memory"
    if partitions is not None:
        overrides["partitions"] = partitions
    if taggers is not None:
        overrides["taggers"] = taggers
    if with_prometheus:
        overrides["with_prometheus"] = True
    settings = StackSettings(**overrides)
    stack = LocalStack(settings)
    console.print(f"starting {', '.join(stack.components)}; logs in {settings.logs_dir}/")
    stack.start(on_ready=lambda name, seconds: console.print(f"  [green]ready[/green] {name} ({seconds:.1f} s)"))
    _print_status(stack)
    if not foreground:
        console.print("the stack runs in the background: `tagstream status` to check it, `tagstream down` to stop it")
        return
    _stay_attached(stack)


def _stay_attached(stack: LocalStack) -> None:
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    console.print("attached: Ctrl-C stops the stack")
    reported: set[str] = set()
    try:
        while not stop.wait(WATCH_PERIOD_S):
            for status in stack.status():
                if status.recorded and not status.alive and status.name not in reported:
                    reported.add(status.name)
                    console.print(f"[red]{status.name} exited[/red]; see {status.log}")
    finally:
        console.print("stopping the stack")
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        console.print("stopped")


def down() -> None:
    """Stop the local stack recorded in .tagstream (TAGSTREAM_STATE_DIR).

    Taggers stop first, the broker last.
    Each gets SIGTERM, then SIGKILL for whatever is left of its process group.
    """
    settings = StackSettings()
    stack = LocalStack.recorded(settings)
    if stack is None:
        console.print(f"no local stack recorded in {settings.state_dir}; nothing to stop")
        return
    stack.stop()
    console.print("local stack stopped")


def status() -> None:
    """Show each component of the local stack: pid, address, readiness, log file.

    Exits 1 when a started component is not ready, or when no stack is recorded.
    """
    settings = StackSettings()
    stack = LocalStack.recorded(settings)
    if stack is None:
        console.print(f"no local stack recorded in {settings.state_dir}; start one with `tagstream up`")
        raise typer.Exit(1)
    if not _print_status(stack):
        raise typer.Exit(1)


def _print_status(stack: LocalStack) -> bool:
    """Print the status table; True when every recorded component is ready."""
    table = Table(title=f"local stack ({stack.settings.state_dir})")
    for column in ("component", "pid", "address", "state"):
        table.add_column(column, no_wrap=column != "address")
    table.add_column("log", overflow="fold")
    healthy = True
    for s in stack.status():
        if s.ready:
            state = "[green]ready[/green]"
        elif s.alive:
            state = "[yellow]running, not ready[/yellow]"
        elif s.recorded:
            state = "[red]down[/red]"
        else:
            state = "[dim]not started[/dim]"
        healthy = healthy and s.healthy
        table.add_row(s.name, str(s.pid or "-"), s.address, state, str(s.log))
    Console().print(table)
    return healthy


def register(app: typer.Typer) -> None:
    """Add ``up``, ``down`` and ``status`` to the ``tagstream`` command."""
    app.command("up")(up)
    app.command("down")(down)
    app.command("status")(status)
