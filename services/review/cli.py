"""``tagstream review``: run the review console; ``tagstream review hash-password``: a hash for its settings."""

from __future__ import annotations

import sys

import typer

review_app = typer.Typer(invoke_without_command=True)


@review_app.callback()
def review(ctx: typer.Context) -> None:
    """Run the review console in the foreground (settings from TAGSTREAM_* variables or TAGSTREAM_CONFIG).

    Reviewers come from TAGSTREAM_REVIEWERS, a JSON object of name -> password hash (see hash-password).
    Pages on http://127.0.0.1:9600 by default (TAGSTREAM_CONSOLE_HOST, TAGSTREAM_CONSOLE_PORT).
    """
    if ctx.invoked_subcommand is not None:
        return
    from services.review.main import main

    raise typer.Exit(main())


@review_app.command("hash-password")
def hash_password(
    stdin: bool = typer.Option(False, "--stdin", help="read the password from standard input (one line)"),
) -> None:
    """Print the scrypt hash of a password, for TAGSTREAM_REVIEWERS: '{"ana": "<hash>"}'."""
    from services.review.errors import ReviewError
    from services.review.passwords import hash_password as make_hash

    if stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise ReviewError("an empty password cannot be hashed", field="password", hint="choose a password")
    typer.echo(make_hash(password))


def register(app: typer.Typer) -> None:
    app.add_typer(review_app, name="review")
