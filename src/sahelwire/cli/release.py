"""CLI commands of the release stage: ``release``, ``diff``, ``publish`` (wired in cli.py)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from sahelwire.cli.common import EXIT_INVALID, EXIT_USAGE, fail, project


def release(
    level: Annotated[str, typer.Argument(help="major, minor or patch.")],
) -> None:
    """Cut a release: bump the version, rebuild, write releases/vX.Y.Z.json + CHANGELOG, commit, tag."""
    from sahelwire.versions.releases import ReleaseRefused, cut_release

    paths, _ = project()
    try:
        result = cut_release(paths, level)
    except ReleaseRefused as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        code = EXIT_INVALID if exc.problems or "requires a" in str(exc) else EXIT_USAGE
        raise fail(f"release refused: {exc}; nothing was changed", code) from None
    level_needed, reasons = result.diff.required_level()
    typer.echo(
        f"released v{result.version} (previous: {('v' + result.previous) if result.previous else 'none'}); "
        f"commit {result.commit[:12]}, tag v{result.version}"
    )
    typer.echo(f"manifest {result.manifest.relative_to(paths.root)}; CHANGELOG.md entry added")
    typer.echo(f"diff requires at least {level_needed}: {'; '.join(reasons)}")


def diff(
    old: Annotated[str, typer.Argument(help="A released version, e.g. v0.1.0.")],
    new: Annotated[
        str | None,
        typer.Argument(help="Another released version (default: the current, unreleased inputs)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Print what changed between two releases (articles, annotations per layer and label, schema)."""
    from sahelwire.release.build import BuildRefused
    from sahelwire.versions.data_diff import diff_indexes, diff_json, render_diff
    from sahelwire.versions.releases import load_manifest, working_manifest

    paths, settings = project()
    try:
        before = load_manifest(paths, old)
        after = load_manifest(paths, new) if new else working_manifest(paths, settings)
    except FileNotFoundError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    except BuildRefused as exc:
        raise fail(
            f"cannot build the current inputs: {exc}; run `sahelwire validate`", EXIT_INVALID
        ) from None
    result = diff_indexes(before, after)
    if as_json:
        typer.echo(json.dumps(diff_json(result), indent=2, ensure_ascii=False))
        return
    typer.echo(
        f"# v{before['version']} -> {after['version'] if not new else 'v' + after['version']}\n"
    )
    typer.echo(render_diff(result))


def publish(
    repo_id: Annotated[
        str | None,
        typer.Option("--repo-id", help="ORG/NAME to upload to; required, never implied."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print exactly what would be uploaded; send nothing.")
    ] = False,
) -> None:
    """Upload the released build folder to the Hugging Face Hub and tag it vX.Y.Z (token: $HF_TOKEN)."""
    from sahelwire.versions.publish import PublishRefused, plan_publish, token_from_env
    from sahelwire.versions.publish import publish as run_publish

    paths, settings = project()
    if not repo_id:
        # An upload target is never implied from config: a copied checkout must not
        # publish to someone else's repository by accident.
        raise fail(
            f"publish needs an explicit --repo-id ORG/NAME (configured: {settings.hub_repo_id}); "
            "nothing uploaded",
            EXIT_USAGE,
        )
    try:
        plan = plan_publish(paths, settings, repo_id)
    except PublishRefused as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise fail(f"publish refused: {exc}", EXIT_INVALID) from None
    for line in plan.lines():
        typer.echo(line)
    if dry_run:
        typer.echo("dry run: nothing uploaded")
        return
    try:
        token = token_from_env()
    except PublishRefused as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    try:
        commit = run_publish(plan, token)
    except Exception as exc:  # network/Hub errors: name the type, never echo request headers
        raise fail(
            f"upload failed: {type(exc).__name__}: {str(exc).replace(token, '***')}", EXIT_USAGE
        ) from None
    typer.echo(f"published {plan.tag} to datasets/{plan.repo_id} (commit {commit[:12]})")


def register(app: typer.Typer) -> None:
    app.command("release")(release)
    app.command("diff")(diff)
    app.command("publish")(publish)
