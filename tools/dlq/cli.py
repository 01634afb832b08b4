"""``tagstream dlq list | show | replay``: what the tagger dead-lettered, why, and replaying it once fixed."""

from __future__ import annotations

import base64
import getpass
import json
from collections import Counter, defaultdict

import typer
from rich.console import Console
from rich.table import Table

from runtime.settings import KafkaSettings
from tools.dlq import reader
from tools.dlq.errors import AlreadyReplayed, DlqError
from tools.dlq.replay import plan, replay
from tools.dlq.select import matching, parse_code, parse_position, parse_since

dlq_app = typer.Typer(help="Dead letters: list them by code, show one, replay them once the cause is fixed.",
                      no_args_is_help=True)
out = Console()
err = Console(stderr=True)
EXAMPLES = 3
SHOW_LIMIT = 20_000

CODE_HELP = "only this error code (e.g. image_url_failed)"
SINCE_HELP = "only dead letters from this long ago (30m, 2h, 1d) or since this time (ISO 8601)"


@dlq_app.command("list")
def list_(code: str | None = typer.Option(None, "--code", help=CODE_HELP),
          since: str | None = typer.Option(None, "--since", help=SINCE_HELP)) -> None:
    """A table by error code: how many, the latest, examples (PARTITION:OFFSET, field, message)."""
    settings = KafkaSettings()
    letters = reader.dead_letters(settings)
    chosen = matching(letters, parse_code(code), parse_since(since) if since else None)
    done = reader.replays(settings)
    by_code = defaultdict(list)
    for letter in chosen:
        if letter.dead is not None:
            by_code[letter.dead.error.code.value].append(letter)
    table = Table(title=f"dead letters ({len(chosen)} of {len(letters)})")
    for column in ("code", "count", "replayed", "latest", "examples"):
        table.add_column(column, overflow="fold")
    for name, group in sorted(by_code.items(), key=lambda kv: -len(kv[1])):
        latest = max(letter.dead.time for letter in group if letter.dead is not None)
        replayed = sum((letter.partition, letter.offset) in done for letter in group)
        examples = "\n".join(f"{letter.position}  {letter.dead.error.field or '-'}: {letter.dead.error.message[:90]}"
                             for letter in group[-EXAMPLES:] if letter.dead is not None)
        table.add_row(name, str(len(group)), str(replayed), latest.isoformat(timespec="seconds"), examples)
    out.print(table)
    broken = [letter.position for letter in letters if letter.dead is None]
    if broken:
        err.print(f"[yellow]{len(broken)} records on the dead-letter topic are not dead letters:[/yellow] "
                  f"{', '.join(broken[:10])}")


@dlq_app.command("show")
def show(offset: str = typer.Argument(..., help="OFFSET, or PARTITION:OFFSET as `tagstream dlq list` shows")) -> None:
    """One dead letter: the error, the field, where it came from, and the original bytes (JSON pretty-printed)."""
    partition, number = parse_position(offset)
    settings = KafkaSettings()
    found = [letter for letter in reader.dead_letters(settings)
             if letter.offset == number and (partition is None or letter.partition == partition)]
    if not found:
        raise DlqError(f"no dead letter at {offset}", field="offset", hint="see `tagstream dlq list`")
    if len(found) > 1:
        raise DlqError(f"offset {number} exists in partitions {', '.join(str(f.partition) for f in found)}",
                       field="offset", hint=f"give PARTITION:OFFSET, e.g. {found[0].partition}:{number}")
    letter = found[0]
    if letter.dead is None:
        raise DlqError(f"the record at {letter.position} is not a dead letter ({letter.problem})")
    dead = letter.dead
    replayed = reader.replays(settings).get((letter.partition, letter.offset))
    out.print(f"[bold]dead letter {letter.position}[/bold] at {dead.time.isoformat()} (group {dead.consumer_group})")
    out.print(f"error   [red]{dead.error.code.value}[/red]: {dead.error.message}")
    out.print(f"field   {dead.error.field or '-'}")
    out.print(f"source  {dead.source.topic}[{dead.source.partition}]@{dead.source.offset}")
    if replayed is not None:
        out.print(f"replayed {replayed.time.isoformat(timespec='seconds')} by {replayed.by} to "
                  f"{replayed.republished.topic}[{replayed.republished.partition}]@{replayed.republished.offset}")
    if dead.original_key_b64:
        out.print(f"key     {base64.b64decode(dead.original_key_b64).decode('utf-8', 'replace')}")
    for name, value in dead.original_headers:
        out.print(f"header  {name}: {base64.b64decode(value).decode('utf-8', 'replace')}")
    if dead.original_truncated:
        out.print("[yellow]the bytes below were cut to the tagger's size limit; the whole record is at the "
                  "source until retention[/yellow]")
    out.print(_pretty(base64.b64decode(dead.original_value_b64)), markup=False, highlight=False)


def _pretty(value: bytes) -> str:
    try:
        text = json.dumps(json.loads(value), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        text = value.decode("utf-8", "replace")
    return text if len(text) <= SHOW_LIMIT else f"{text[:SHOW_LIMIT]}\n… ({len(text)} characters in all)"


@dlq_app.command("replay")
def replay_(code: str | None = typer.Option(None, "--code", help=CODE_HELP),
            since: str | None = typer.Option(None, "--since", help=SINCE_HELP),
            dry_run: bool = typer.Option(False, "--dry-run", help="show what would be replayed; publish nothing"),
            force: bool = typer.Option(False, "--force", help="replay again what was replayed before"),
            by: str | None = typer.Option(None, "--by", help="who replays (recorded); default: the login name"),
            ) -> None:
    """Re-publish the original bytes of dead letters to catalog.events, once each, after the cause is fixed.

    Each replayed event carries the header tagstream-replay-of naming its dead letter, and each replay is
    recorded on tagstream.dlq.replays: replaying the same dead letter again is refused unless --force.
    """
    settings = KafkaSettings()
    chosen = matching(reader.dead_letters(settings), parse_code(code), parse_since(since) if since else None)
    done = reader.replays(settings)
    todo = plan(chosen, done, force=force)
    for letter in todo.truncated:
        err.print(f"[yellow]skipped {letter.position}[/yellow]: its bytes were cut to the size limit; the whole "
                  "event is at its source position until retention")
    if not todo.todo:
        if todo.replayed_before:
            raise AlreadyReplayed(f"all {len(todo.replayed_before)} selected dead letters were replayed before",
                                  hint="add --force to replay them again")
        err.print("nothing to replay")
        return
    if todo.replayed_before:
        err.print(f"{len(todo.replayed_before)} replayed before, left out (--force replays them again)")
    codes = Counter(letter.dead.error.code.value for letter in todo.todo if letter.dead is not None)
    summary = ", ".join(f"{n} {c}" for c, n in codes.most_common())
    if dry_run:
        out.print(f"would replay {len(todo.todo)} dead letters ({summary}): "
                  f"{', '.join(letter.position for letter in todo.todo[:50])}")
        return
    records = replay(settings, todo.todo, done, by=by or _login())
    out.print(f"replayed {len(records)} dead letters ({summary}) to catalog.events; recorded on tagstream.dlq.replays")


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def register(app: typer.Typer) -> None:
    app.add_typer(dlq_app, name="dlq")
