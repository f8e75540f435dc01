"""``sahelwire cache``: the local export cache (sahelwire.annotations.export_cache).

The cache is only ever a copy of what the parser produced; removing it costs one full parse
on the next ``validate`` or ``build`` and changes nothing else.
"""

from __future__ import annotations

import typer

from sahelwire.cli.common import project_paths

app = typer.Typer(
    help="The local cache of parsed exports (.sahelwire/cache/; never a source of truth).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def info() -> None:
    """List the cache's pack files: size and entries (one per export file parsed)."""
    from sahelwire.annotations.export_cache import CACHE_ENV, cache_dir, cache_enabled, describe

    paths = project_paths()
    state = "on" if cache_enabled() else f"off ({CACHE_ENV} is set)"
    typer.echo(f"export cache: {cache_dir(paths).relative_to(paths.root)} ({state})")
    total = 0
    for name, size, entries in describe(paths):
        total += size
        shown = "unreadable (ignored, replaced on the next write)" if entries is None else entries
        typer.echo(f"  {name}  {size / 2**20:.1f} MiB  entries: {shown}")
    typer.echo(f"total {total / 2**20:.1f} MiB")


@app.command()
def clear() -> None:
    """Remove the export cache (the next validate or build parses every export again)."""
    from sahelwire.annotations.export_cache import clear as clear_cache

    paths = project_paths()
    files, size = clear_cache(paths)
    typer.echo(f"removed {files} cache file(s), {size / 2**20:.1f} MiB")
