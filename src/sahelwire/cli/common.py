"""What every command module shares: exit codes, the error exit, the enclosing project.

Its own module so that the command modules (``cli/__init__``, ``cli/labelstudio``,
``cli/release``) can all import it without importing each other: the root app wires the
sub-apps, and nothing imports the root app back.
"""

from __future__ import annotations

import typer

from sahelwire.io.config import ConfigError, Settings
from sahelwire.io.paths import ProjectNotFound, ProjectPaths

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
