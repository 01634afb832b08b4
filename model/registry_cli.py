"""``tagstream model register``: publish the ``ModelCard`` of exported versions on ``tagstream.models``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from contracts.errors import TagstreamError

console = Console(stderr=True)


def register_command(
    version: Annotated[list[int] | None, typer.Option(
        "--version", min=1, help="version to register (repeatable; default: every exported one)")] = None,
    repository: Annotated[Path | None, typer.Option(
        help="model repository (default: the committed one the local Triton host serves)")] = None,
) -> None:
    """Publish the card of each version (reference profile, review thresholds if exported) to the compacted
    tagstream.models topic, where taggers, the monitor and the rollout controller read it.

    Connects to TAGSTREAM_KAFKA_BOOTSTRAP (default 127.0.0.1:9092).
    """
    from model.registry import register_repository, versions
    from model.tritonconfig import DEFAULT_REPOSITORY
    from runtime.settings import KafkaSettings

    repo = repository or DEFAULT_REPOSITORY
    if not version and not versions(repo):
        console.print(f"[red]error:[/red] no exported version in {repo}; export one with "
                      "`tagstream model export --version N`")
        raise typer.Exit(1)
    try:
        cards = register_repository(KafkaSettings(), repo, only=version or None)
    except TagstreamError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(1) from None
    for card in cards:
        thresholds = "with review thresholds" if card.review else "no review thresholds"
        console.print(f"[green]registered[/green] {card.model.name}:{card.model.version} ({thresholds})")


def register(model_app: typer.Typer) -> None:
    """Add ``register`` to the ``tagstream model`` group."""
    model_app.command("register")(register_command)
