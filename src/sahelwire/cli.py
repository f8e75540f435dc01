"""The one command line: ``sahelwire <stage>``. Exit codes: 0 ok, 1 invalid data, 2 usage/environment."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from sahelwire.config import ConfigError, Settings
from sahelwire.paths import ProjectNotFound, ProjectPaths

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2

app = typer.Typer(
    name="sahelwire",
    help="Ingest, validate, build, sync and release the SahelWire dataset.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Ingest, validate, build, sync and release the SahelWire dataset."""


def fail(message: str, code: int) -> typer.Exit:
    """Print ``message`` to stderr and return the Exit to raise."""
    typer.echo(f"sahelwire: {message}", err=True)
    return typer.Exit(code)


def project() -> tuple[ProjectPaths, Settings]:
    """The enclosing project and its settings, or exit 2 with the reason."""
    try:
        paths = ProjectPaths.discover()
        return paths, Settings.load(paths)
    except (ProjectNotFound, ConfigError) as exc:
        raise fail(str(exc), EXIT_USAGE) from None


@app.command()
def ingest(
    inputs: Annotated[list[Path], typer.Argument(help="Text files, JSONL files or folders of them.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Add raw articles to dataset/raw/ exactly as received, with a manifest row each."""
    from sahelwire.ingest import IngestRefused
    from sahelwire.ingest import ingest as run_ingest
    from sahelwire.locks import LockBusy

    paths, settings = project()
    try:
        result = run_ingest(paths, inputs, settings.max_article_bytes)
    except IngestRefused as exc:
        if as_json:
            typer.echo(json.dumps({"refused": [p.__dict__ for p in exc.problems]}, indent=2))
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise fail(f"ingest refused: {len(exc.problems)} problem(s); dataset/raw/ unchanged", EXIT_INVALID) from None
    except LockBusy as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    if as_json:
        typer.echo(json.dumps(result.__dict__, indent=2))
        return
    for article_id in result.added:
        typer.echo(f"added      {article_id}")
    for article_id in result.unchanged:
        typer.echo(f"unchanged  {article_id}")
    for article_id, existing in result.duplicates:
        typer.echo(f"duplicate  {article_id}: same text as {existing}; not stored again")
    typer.echo(
        f"{len(result.added)} added, {len(result.unchanged)} unchanged, {len(result.duplicates)} duplicate(s)"
    )


def _register_subcommands() -> None:
    # Stages with several subcommands own a Typer sub-app in their own module; they are
    # wired here so `sahelwire --help` lists everything.
    pass


def main() -> None:
    _register_subcommands()
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
