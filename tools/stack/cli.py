"""``tagstream up``, ``status``, ``restart`` and ``down``: the local stack from the shell."""

from __future__ import annotations

import signal
import threading
import time
from types import FrameType
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from runtime.logs import configure
from tools.stack.errors import StackError, StackRunningError
from tools.stack.keeper import CRASH_LOOP, Keeper, in_a_row
from tools.stack.settings import StackSettings
from tools.stack.stack import ComponentStatus, LocalStack

console = Console(stderr=True, soft_wrap=True)  # one message, one line, whatever the width


def up(
    foreground: bool = typer.Option(False, "--foreground", "-f",
                                    help="stay attached, restarting crashed components here; stop the whole "
                                         "stack on Ctrl-C or SIGTERM"),
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

    On a stack that already runs, starts only what is missing. Returns once every component answers its
    readiness check, leaving the stack in the background with its keeper, which restarts a crashed
    component with a growing backoff (logs/keeper.log). Stop it with `tagstream down`; check it with
    `tagstream status`. Ports come from TAGSTREAM_* variables (e.g. TAGSTREAM_BROKER_PORT) or the
    TAGSTREAM_CONFIG file. Everything listens on 127.0.0.1 only. Logs: .tagstream/logs/ (TAGSTREAM_STATE_DIR).
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
    requested = StackSettings(**overrides)
    stack = LocalStack.recorded(requested)
    if stack is not None and not stack.running():
        stack.forget()  # a record left by a stack that died with its keeper (a reboot): start afresh
        stack = None
    if stack is None:
        stack = LocalStack(requested)
        console.print(f"starting {', '.join(stack.components)}; logs in {requested.logs_dir}/")
    else:
        _refuse_other_settings(stack.settings, overrides)
        missing = stack.missing()
        console.print(f"a local stack runs in {stack.settings.state_dir}: "
                      + (f"starting what is missing: {', '.join(missing)}" if missing else "every component runs"))
    if foreground and stack.keeper.alive():
        raise StackRunningError("the stack already runs in the background with its keeper",
                                hint="run `tagstream down` first, or `tagstream up` without --foreground")
    stack.start(on_ready=lambda name, seconds: console.print(f"  [green]ready[/green] {name} ({seconds:.1f} s)"))
    if foreground:
        _stay_attached(stack)
        return
    stack.start_keeper()
    _print_status(stack)
    console.print("the stack runs in the background and its keeper restarts what crashes: `tagstream status` to "
                  "check it, `tagstream down` to stop it")


def _refuse_other_settings(running: StackSettings, overrides: dict[str, Any]) -> None:
    """An option that contradicts the running stack is an error, not a silent no-op."""
    for key, value in overrides.items():
        if getattr(running, key) != value:
            raise StackRunningError(f"the running stack has {key}={getattr(running, key)}, not {value}",
                                    hint="run `tagstream down` first to change it")


def _stay_attached(stack: LocalStack) -> None:
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    configure("INFO", name="tagstream")
    console.print("attached: crashed components are restarted here; Ctrl-C stops the stack")
    try:
        Keeper(stack, stop=stop).run()
    finally:
        console.print("stopping the stack")
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        console.print("stopped")


def _recorded(settings: StackSettings) -> LocalStack:
    stack = LocalStack.recorded(settings)
    if stack is None:
        raise StackError(f"no local stack recorded in {settings.state_dir}", hint="start one with `tagstream up`")
    return stack


def restart(
    component: str = typer.Argument(..., help="the component, as `tagstream status` names it: e.g. tagger-0, "
                                              "triton, broker", show_default=False),
) -> None:
    """Restart one component of the running local stack and wait until it is ready again.

    A memory broker loses its records on a restart (use `tagstream up --durable` to keep them).
    """
    stack = _recorded(StackSettings())
    stack.process(component)  # an unknown name fails before anything stops
    console.print(f"restarting {component}")
    seconds = stack.restart(component)
    console.print(f"  [green]ready[/green] {component} ({seconds:.1f} s)")


def down() -> None:
    """Stop the local stack recorded in .tagstream (TAGSTREAM_STATE_DIR).

    The keeper stops first, then the taggers, the broker last.
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
    """Show each component of the local stack: pid, address, state, restarts, log file.

    Exits 1 when a started component is not ready (or waits for a restart), or when no stack is recorded.
    """
    settings = StackSettings()
    stack = LocalStack.recorded(settings)
    if stack is None:
        console.print(f"no local stack recorded in {settings.state_dir}; start one with `tagstream up`")
        raise typer.Exit(1)
    if not _print_status(stack):
        raise typer.Exit(1)


def describe(status: ComponentStatus, now: float) -> str:
    """The state column: ready, starting, down, or when the keeper tries again and why."""
    restarts = status.restarts
    if status.ready:
        return "[green]ready[/green]"
    if status.alive:
        return "[yellow]running, not ready[/yellow]"
    if restarts.retry_at is not None:
        wait = max(0.0, restarts.retry_at - now)
        label = "crash loop" if restarts.failures >= CRASH_LOOP else "down"
        return (f"[red]{label}[/red]: it {restarts.last_exit}; restart in {wait:.0f} s "
                f"({in_a_row(restarts.failures)})")
    if status.recorded:
        return "[red]down[/red]"
    return "[dim]not started[/dim]"


def _print_status(stack: LocalStack) -> bool:
    """Print the status table; True when every recorded component (and the keeper, if any) is ready."""
    table = Table(title=f"local stack ({stack.settings.state_dir})")
    for column in ("component", "pid", "address", "state", "restarts"):
        table.add_column(column, no_wrap=column in ("component", "pid", "restarts"),
                         justify="right" if column == "restarts" else "left")
    table.add_column("log", overflow="fold")
    healthy = True
    now = time.time()
    rows = stack.status()
    keeper = stack.keeper_status()
    for s in [*rows, *([keeper] if keeper is not None else [])]:
        healthy = healthy and s.healthy
        restarts = str(s.restarts.count) if s is not keeper else "-"
        table.add_row(s.name, str(s.pid or "-"), s.address, describe(s, now), restarts, str(s.log))
    Console().print(table)
    return healthy


def register(app: typer.Typer) -> None:
    """Add ``up``, ``status``, ``restart`` and ``down`` to the ``tagstream`` command."""
    app.command("up")(up)
    app.command("status")(status)
    app.command("restart")(restart)
    app.command("down")(down)
