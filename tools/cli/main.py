"""``tagstream``: run the local stack, send traffic, watch it, export contracts, benchmark."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.text import Text

from contracts.errors import TagstreamError

app = typer.Typer(
    name="tagstream",
    help="Streaming catalogue tagging: Kafka in, a multi-task model on Triton, tags out.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
contracts_app = typer.Typer(help="The message contracts and their JSON Schemas.", no_args_is_help=True)
app.add_typer(contracts_app, name="contracts")
console = Console(stderr=True)


@contracts_app.command("export")
def contracts_export(check: bool = typer.Option(False, "--check", help="only report drift, write nothing")) -> None:
    """Write the JSON Schema of every message to contracts/schemas/ (one file per message)."""
    from contracts import schemas

    if check:
        stale = schemas.drift()
        if stale:
            console.print(f"[red]schemas out of date:[/red] {', '.join(stale)}; run `tagstream contracts export`")
            raise typer.Exit(1)
        console.print("schemas match the models")
        return
    for path in schemas.export():
        console.print(f"wrote {path.name}")


@app.command("tagger")
def tagger() -> None:
    """Run one tagger in the foreground (settings from TAGSTREAM_* variables or TAGSTREAM_CONFIG)."""
    from services.tagger.main import main

    raise typer.Exit(main())


def rollout_controller() -> None:
    """Run the rollout controller in the foreground (settings from TAGSTREAM_* variables or TAGSTREAM_CONFIG)."""
    from services.controller.main import main

    raise typer.Exit(main())


def _register() -> None:
    from model import cli as model_cli
    from model import registry_cli
    from rollout import cli as rollout_cli
    from services.review import cli as review_cli
    from tools.cli import bench, demo
    from tools.dlq import cli as dlq_cli
    from tools.monitoring import cli as monitoring_cli
    from tools.stack import cli as stack_cli
    from tools.traffic import cli as traffic_cli

    stack_cli.register(app)
    traffic_cli.register(app)
    demo.register(app)
    bench.register(app)
    model_cli.register(app)
    registry_cli.register(model_cli.model_app)
    monitoring_cli.register(app)
    rollout_cli.rollout_app.command("controller")(rollout_controller)
    rollout_cli.register(app)
    review_cli.register(app)
    dlq_cli.register(app)


_register()


def run() -> None:
    """Console entry point: an expected failure is one line that names the cause and the fix, and exit status 2.

    Expected failures are ``TagstreamError``s: invalid settings, a missing file, no trained model, a broker
    that does not answer, a port in use... A traceback means a bug (please report it).
    """
    try:
        app()
    except TagstreamError as e:
        console.print(Text.assemble(("error: ", "bold red"), str(e)), soft_wrap=True, highlight=False)
        raise SystemExit(2) from None
