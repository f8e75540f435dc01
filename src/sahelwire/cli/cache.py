"""``sahelwire cache``: the local caches under .sahelwire/cache/.

The export cache (sahelwire.annotations.export_cache) is only ever a copy of what the parser
produced; the per-article memos (published rows: sahelwire.release.article_cache; span error
classes: sahelwire.annotations.agreement_cache; baseline predictions:
sahelwire.annotations.baseline_cache; span rules: sahelwire.release.span_rule_cache)
only copies of what a build computed. Removing them costs one full parse or computation on the
next ``validate`` or ``build`` and changes nothing else.
"""

from __future__ import annotations

import typer

from sahelwire.cli.common import project_paths

app = typer.Typer(
    help="The local caches of parsed exports and per-article build results "
    "(.sahelwire/cache/; never a source of truth).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def info() -> None:
    """List the caches' pack files: size, entries, and which memo packs a build validated."""
    from sahelwire.annotations.export_cache import CACHE_ENV, cache_dir, cache_enabled, describe
    from sahelwire.io.article_packs import CACHE_ENV as MEMO_ENV
    from sahelwire.io.article_packs import describe_folder, memo_enabled
    from sahelwire.io.file_hashes import FileHashes
    from sahelwire.release import parquet_reuse
    from sahelwire.release.memos import memo_folders
    from sahelwire.release.validation import raw_hashes_folder

    paths = project_paths()
    state = "on" if cache_enabled() else f"off ({CACHE_ENV} is set)"
    typer.echo(f"export cache: {cache_dir(paths).relative_to(paths.root)} ({state})")
    total = 0
    for name, size, entries in describe(paths):
        total += size
        shown = "unreadable (ignored, replaced on the next write)" if entries is None else entries
        typer.echo(f"  {name}  {size / 2**20:.1f} MiB  entries: {shown}")
    for folder, what in (
        (cache_dir(paths), "export files'"),
        (raw_hashes_folder(paths), "raw texts'"),
    ):
        hashes = FileHashes.load(folder)
        if hashes.path.is_file():
            size = hashes.path.stat().st_size
            total += size
            where = hashes.path.relative_to(paths.root)
            typer.echo(f"  {where}  {size / 2**20:.1f} MiB  {what} hashes: {len(hashes.entries)}")
    for title, folder in memo_folders(paths):
        state = "on" if memo_enabled() else f"off ({MEMO_ENV} is set)"
        typer.echo(f"{title}: {folder.relative_to(paths.root)} ({state})")
        for name, size, entries, checked in describe_folder(folder):
            total += size
            shown = (
                "unreadable (ignored, replaced on the next build)" if entries is None else entries
            )
            # A checked pack's rows passed a build's validation: the next build trusts them.
            mark = "  rows validated by a build" if checked else ""
            typer.echo(f"  {name}  {size / 2**20:.1f} MiB  articles: {shown}{mark}")
    kept, kept_size = parquet_reuse.describe(paths)
    folder = parquet_reuse.cache_folder(paths).relative_to(paths.root)
    state = "on" if memo_enabled() else f"off ({MEMO_ENV} is set)"
    typer.echo(f"the last build's Parquet files: {folder} ({state})")
    # Hard links to the built files where the file system allows: no second copy then.
    typer.echo(f"  {kept} file(s)  {kept_size / 2**20:.1f} MiB (hard links where possible)")
    total += kept_size
    typer.echo(f"total {total / 2**20:.1f} MiB")


@app.command()
def clear() -> None:
    """Remove the caches (the next validate or build parses and computes everything again)."""
    from sahelwire.annotations.export_cache import clear as clear_cache
    from sahelwire.io import file_hashes
    from sahelwire.io.article_packs import clear_folder
    from sahelwire.release import parquet_reuse
    from sahelwire.release.memos import memo_folders
    from sahelwire.release.validation import raw_hashes_folder

    paths = project_paths()
    files, size = clear_cache(paths)
    more, more_size = file_hashes.clear(raw_hashes_folder(paths))
    files, size = files + more, size + more_size
    for _, folder in memo_folders(paths):
        more, more_size = clear_folder(folder)
        files, size = files + more, size + more_size
    more, more_size = parquet_reuse.clear(paths)
    files, size = files + more, size + more_size
    typer.echo(f"removed {files} cache file(s), {size / 2**20:.1f} MiB")
