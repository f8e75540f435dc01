"""What every command module shares: exit codes, the error exit, the enclosing project.

Its own module so that the command modules (``cli/__init__``, ``cli/labelstudio``,
``cli/release``) can all import it without importing each other: the root app wires the
sub-apps, and nothing imports the root app back.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

import typer

from sahelwire.io.config import ConfigError, Settings
from sahelwire.io.paths import ProjectNotFound, ProjectPaths

if TYPE_CHECKING:
    from sahelwire.release.validation import ValidatedInputs
    from sahelwire.schema.problems import Problem

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def fail(message: str, code: int, *, prog: str = "sahelwire") -> typer.Exit:
    """Print ``message`` to stderr and return the Exit to raise."""
    typer.echo(f"{prog}: {message}", err=True)
    return typer.Exit(code)


def project_paths(*, prog: str = "sahelwire") -> ProjectPaths:
    """The enclosing project, or exit 2 with the reason."""
    try:
        return ProjectPaths.discover()
    except ProjectNotFound as exc:
        raise fail(str(exc), EXIT_USAGE, prog=prog) from None


def project() -> tuple[ProjectPaths, Settings]:
    """The enclosing project and its settings, or exit 2 with the reason."""
    paths = project_paths()
    try:
        return paths, Settings.load(paths)
    except ConfigError as exc:
        raise fail(str(exc), EXIT_USAGE) from None


def valid_inputs(
    command: str,
    as_json: bool,
    *,
    prog: str = "sahelwire",
    set_aside: Callable[[ValidatedInputs, list[Problem]], list[Problem]] | None = None,
) -> ValidatedInputs:
    """The inputs as ``validate`` reads them, or exit 1 listing every problem.

    ``agreement`` and ``adjudicate`` work on what the build would publish, so they read
    the exports with the same parser and refuse the same invalid input (instead of
    measuring what is left after skipping it). Unsettled conflicts are not invalid input:
    listing them is what ``adjudicate`` is for.
    """
    from sahelwire.annotations.adjudication import UNSETTLED_RULE
    from sahelwire.release.validation import validate_inputs

    paths = project_paths(prog=prog)
    try:
        Settings.load(paths)
    except ConfigError as exc:
        raise fail(str(exc), EXIT_USAGE, prog=prog) from None
    try:
        report, inputs = validate_inputs(paths)
    except (OSError, ValueError) as exc:
        raise fail(f"cannot {command}: {exc}", EXIT_USAGE, prog=prog) from None
    problems = [p for p in report.problems if p.rule != UNSETTLED_RULE]
    if problems and set_aside is not None:
        # Problems the command itself repairs (review --pull --overwrite replacing the
        # decisions that cause them); it checks they are gone before it writes.
        problems = set_aside(inputs, problems)
    if problems:
        if as_json:
            typer.echo(
                json.dumps(
                    {"ok": False, "problems": [p.to_json() for p in problems]},
                    indent=2,
                    ensure_ascii=False,
                )
            )
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
        from sahelwire.annotations.review import overwrite_hint

        hint = overwrite_hint(problems, paths, inputs)
        if hint is not None:
            typer.echo(f"next: {hint}", err=True)
        raise fail(
            f"{command} refused: {len(problems)} problem(s) in the inputs (as `sahelwire "
            "validate` reports them); nothing computed",
            EXIT_INVALID,
            prog=prog,
        )
    return inputs
