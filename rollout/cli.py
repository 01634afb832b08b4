"""``tagstream rollout``: start, watch, gate and roll back a rollout through the controller's API.

Every command talks to the controller (``TAGSTREAM_ROLLOUT_API_URL``, default the local stack's); changes carry
the API token (``TAGSTREAM_ROLLOUT_API_TOKEN``, or the file the local stack writes). A refusal is one line with the
reason and the way out, exit status 1; an unreachable controller or a bad plan, exit status 2.
"""

from __future__ import annotations

import getpass
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from rollout.client import ApiError, RolloutClient, RolloutClientSettings
from rollout.errors import PlanError
from rollout.plan import load_plan, plan_path, shipped_plans

rollout_app = typer.Typer(help="Staged rollouts of a new model version: shadow, pilot, canary, full; gates; rollback.",
                          no_args_is_help=True)
console = Console(stderr=True)
out = Console()


def _actor() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def _client() -> RolloutClient:
    return RolloutClient(RolloutClientSettings())


def _call(action: Callable[[RolloutClient], Any]) -> Any:
    """Run one API call; a refusal or failure is one line and an exit status, never a traceback."""
    try:
        return action(_client())
    except ApiError as e:
        console.print(f"[red]{'refused' if e.status == 409 else 'error'}:[/red] {e}", soft_wrap=True)
        raise typer.Exit(1 if e.status == 409 else 2) from None


def _done(state: dict[str, Any]) -> None:
    status = state["status"]
    console.print(f"[green]{status['reason']}[/green] {status['message']} (revision {status['revision']})",
                  soft_wrap=True)


@rollout_app.command("start")
def start(candidate: int = typer.Option(..., "--candidate", min=1, help="the model version to roll out"),
          plan: str = typer.Option("default",
                                   help=f"a plan file (YAML) or a shipped plan: {', '.join(shipped_plans())}"),
          actor: str | None = typer.Option(None, help="who starts it, for the audit history (default: user@host)"),
          ) -> None:
    """Load the candidate on Triton and enter the plan's first stage (the plan is checked here first)."""
    try:
        path = plan_path(plan)
        load_plan(path)
    except PlanError as e:
        console.print(f"[red]error:[/red] {e}", soft_wrap=True)
        raise typer.Exit(2) from None
    body = {"candidate": str(candidate), "plan": Path(path).read_text(), "plan_name": str(plan),
            "actor": actor or _actor()}
    _done(_call(lambda c: c.post("/start", body)))


def _command(name: str, doc: str) -> None:
    def command(actor: str | None = typer.Option(None, help="who, for the audit history (default: user@host)")) -> None:
        _done(_call(lambda c: c.post(f"/{name}", {"actor": actor or _actor()})))

    command.__doc__ = doc
    rollout_app.command(name)(command)


_command("approve", "Open the current stage's manual gate.")
_command("pause", "Stop advancing (routing stays as it is; a guardrail breach still rolls back).")
_command("resume", "Advance again after a pause; the stage's analysis starts afresh.")
_command("promote", "Skip what is left of the current stage's bake and gate: on to the next stage now.")


@rollout_app.command("rollback")
def rollback(reason: str = typer.Option(..., help="why, for the audit history"),
             actor: str | None = typer.Option(None, help="who, for the audit history (default: user@host)")) -> None:
    """Back to stable now: the candidate serves nothing from the next batch on."""
    _done(_call(lambda c: c.post("/rollback", {"actor": actor or _actor(), "reason": reason})))


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def render(view: dict[str, Any]) -> Group:
    """The status as people read it: stage, share, time in stage, bake, guardrails against limits, next gate."""
    state, status = view["state"], view["state"]["status"]
    spec = state["spec"]
    lines = Text()
    lines.append(f"{view['model']}: {view['phase']}", style="bold")
    versions = f"stable {spec['stable_version']}" + (f", candidate {spec['candidate_version']}"
                                                     if spec.get("candidate_version") else "")
    lines.append(f"  ({versions}, plan {spec.get('plan') or '-'}, revision {status['revision']})\n")
    step = status.get("step") or status["stage"]
    lines.append(f"stage {step} ({status['stage']}), traffic share {status['traffic_share']:.0%}")
    if view.get("time_in_stage_s") is not None:
        lines.append(f", {view['time_in_stage_s']:.0f} s in stage")
    bake = view.get("bake")
    if bake:
        lines.append(f"; bake {bake['time_s']:.0f}/{bake['needed_time_s']:.0f} s, "
                     f"{bake['events'] if bake['events'] is not None else '?'}/{bake['needed_events']} events")
    lines.append(f"\n{status['reason']}: {status['message']}\n")
    lines.append(f"next: {view['next_gate']}")
    if view.get("waiting"):
        lines.append(f" (now: {view['waiting']})")
    table = Table(title="guardrails (latest measurement, worst attribute first)", title_justify="left")
    for column in ("guardrail", "attribute", "phase", "value", "max", "warn", "samples", "failed", "inconcl.",
                   "errors in a row"):
        table.add_column(column, justify="right" if column not in ("guardrail", "attribute", "phase") else "left")
    for g in view.get("guardrails", []):
        worst = g["measurements"][0] if g["measurements"] else {}
        table.add_row(g["guardrail"], worst.get("attribute") or "(tag)", g["phase"] or "-",
                      _figure(worst.get("value")), _figure(worst.get("max")), _figure(worst.get("warn")),
                      str(worst.get("samples") if worst.get("samples") is not None else "-"), str(g["failed"]),
                      str(g["inconclusive"]), str(g["consecutive_errors"]))
    return Group(lines, table) if view.get("guardrails") else Group(lines)


@rollout_app.command("status")
def status(as_json: bool = typer.Option(False, "--json", help="print the controller's answer as JSON"),
           watch: bool = typer.Option(False, "--watch", help="refresh until Ctrl-C"),
           interval: float = typer.Option(2.0, min=0.2, help="seconds between refreshes with --watch")) -> None:
    """Where the rollout stands: stage, share, time in stage, each guardrail against its limit, the next gate."""
    if as_json:
        out.print_json(json.dumps(_call(lambda c: c.get())))
        return
    if not watch:
        out.print(render(_call(lambda c: c.get())))
        return
    with Live(render(_call(lambda c: c.get())), console=out, refresh_per_second=4) as live:
        try:
            while True:
                time.sleep(interval)
                live.update(render(_call(lambda c: c.get())))
        except KeyboardInterrupt:
            pass


@rollout_app.command("history")
def history(as_json: bool = typer.Option(False, "--json", help="print the audit history as JSON"),
            limit: int | None = typer.Option(None, min=1, help="only the last N transitions")) -> None:
    """The audit history: who did what, when, why, and the figures behind automatic decisions."""
    entries = _call(lambda c: c.get(f"/history{f'?limit={limit}' if limit else ''}"))
    if as_json:
        out.print_json(json.dumps(entries))
        return
    table = Table(title="rollout history")
    for column in ("time", "actor", "action", "from", "to", "reason", "message"):
        table.add_column(column, overflow="fold")
    for t in entries:
        figures = [f"{m['guardrail']}{'[' + m['attribute'] + ']' if m['attribute'] else ''}={_figure(m['value'])}"
                   for m in t["figures"] if m["phase"] in ("failed", "error", "inconclusive")]
        message = t["message"] + (f" [{', '.join(figures[:5])}]" if figures else "")
        table.add_row(t["time"][:19].replace("T", " "), t["actor"], t["action"], t["from_step"] or "-",
                      t["to_step"] or "-", t["reason"], message)
    out.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(rollout_app, name="rollout")
