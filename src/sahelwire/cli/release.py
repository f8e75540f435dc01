"""CLI commands of the versions stage: ``release``, ``releases``, ``diff``, ``publish``,
``verify``, and ``build --release`` (wired in ``cli/__init__``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from sahelwire.cli.common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, fail, project


def release(
    level: Annotated[str, typer.Argument(help="major, minor or patch.")],
) -> None:
    """Cut a release: bump the version, rebuild, write releases/vX.Y.Z.json + CHANGELOG, commit, tag."""
    from sahelwire.io.atomic import ForeignTarget, MountPointTarget
    from sahelwire.versions.releases import ReleaseRefused, cut_release

    paths, _ = project()
    try:
        result = cut_release(paths, level)
    except MountPointTarget as exc:  # cut_release put back what it wrote before raising
        raise fail(
            f"release refused: the build folder {exc.filename} is a mount point and cannot be "
            "replaced as a whole (a build renames a new folder over it); nothing was changed",
            EXIT_USAGE,
        ) from None
    except ForeignTarget as exc:
        raise fail(
            f"release refused: the build folder {exc.filename} {exc.strerror}; nothing was changed",
            EXIT_USAGE,
        ) from None
    except OSError as exc:  # e.g. a full disk or a read-only build folder
        raise fail(
            f"release failed: {exc.filename or ''}: {exc.strerror or exc}; nothing was changed",
            EXIT_USAGE,
        ) from None
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
    if level_needed == "major" and result.version.startswith("0."):
        level_needed = "major (minor before 1.0.0)"
    typer.echo(f"diff requires at least {level_needed}: {'; '.join(reasons)}")
    typer.echo(
        f"the tag is local: push it with `git push origin v{result.version}` "
        "(or `git push origin --follow-tags`); a missing tag can be recreated from history "
        "with `sahelwire releases --create-tags`"
    )


def releases(
    create_tags: Annotated[
        bool,
        typer.Option(
            "--create-tags",
            help="Create the missing vX.Y.Z tags at the commits that added their manifests.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """List every release with its source commit (found from git history) and its tag state."""
    from sahelwire.versions.history import HistoryError, create_missing_tags, release_sources

    paths, _ = project()
    try:
        created = {s.tag for s in create_missing_tags(paths)} if create_tags else set()
        sources = release_sources(paths)
    except HistoryError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "version": s.version,
                        "tag": s.tag,
                        "commit": s.commit,
                        "tag_commit": s.tag_commit,
                        "state": s.state,
                        "created": s.tag in created,
                    }
                    for s in sources
                ],
                indent=2,
            )
        )
    else:
        for source in sources:
            typer.echo(source.describe() + ("  (created now)" if source.tag in created else ""))
        if not sources:
            typer.echo("no releases under releases/")
        if created:
            typer.echo(
                f"created {len(created)} tag(s); push them with `git push origin "
                + " ".join(sorted(created))
                + "`"
            )
    if any(s.state == "elsewhere" for s in sources):
        raise typer.Exit(EXIT_INVALID)
    if any(s.state == "missing" for s in sources):
        typer.echo("missing tags: run `sahelwire releases --create-tags`", err=True)


def build_release(version: str, out: Path | None) -> None:
    """``sahelwire build --release vX.Y.Z``: a past release rebuilt from its own commit."""
    from sahelwire.versions.rebuild import RebuildMismatch, RebuildRefused, rebuild_release

    paths, _ = project()
    try:
        result = rebuild_release(paths, version, out)
    except RebuildRefused as exc:
        raise fail(f"build --release refused: {exc}", EXIT_USAGE) from None
    except RebuildMismatch as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise fail(str(exc), EXIT_INVALID) from None
    typer.echo(
        f"rebuilt v{result.version} from commit {result.commit[:12]} (its own code): "
        f"{result.files} files, {result.bytes} bytes, byte-identical to "
        f"releases/v{result.version}.json -> {result.out}"
    )
    typer.echo(
        "note: load_dataset(FOLDER, ...) ignores revision=; the folder is this version "
        f"because its bytes are (check again with `sahelwire verify v{result.version} --path {result.out}`)"
    )


def diff(
    old: Annotated[str, typer.Argument(help="A released version, e.g. v0.1.0.")],
    new: Annotated[
        str | None,
        typer.Argument(help="Another released version (default: the current, unreleased inputs)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Print what changed between two releases (articles, annotations per layer and label, schema)."""
    from sahelwire.io.release_manifests import ManifestDamaged
    from sahelwire.release.build import BuildRefused
    from sahelwire.versions.data_diff import diff_indexes, diff_json, render_diff
    from sahelwire.versions.history import HistoryError, recorded_manifest
    from sahelwire.versions.releases import working_manifest

    paths, settings = project()
    unchecked = []
    try:
        # Each release as its release commit recorded it: an edited manifest would make the
        # diff (and a CHANGELOG read from it) report changes no release made.
        before, commit = recorded_manifest(paths, old)
        unchecked += [] if commit else [old]
        if new:
            after, commit = recorded_manifest(paths, new)
            unchecked += [] if commit else [new]
        else:
            after = working_manifest(paths, settings)
    except (FileNotFoundError, ManifestDamaged, HistoryError) as exc:  # nothing to diff against
        raise fail(str(exc), EXIT_USAGE) from None
    except BuildRefused as exc:
        raise fail(
            f"cannot build the current inputs: {exc}; run `sahelwire validate`", EXIT_INVALID
        ) from None
    for version in unchecked:
        typer.echo(
            f"note: no git history here: releases/v{version.removeprefix('v')}.json was not "
            "checked against the commit that added it",
            err=True,
        )
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
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Replace a version the Hub already has (says what it overwrites)."
        ),
    ] = False,
) -> None:
    """Upload the released build folder to the Hugging Face Hub and tag it vX.Y.Z (token: $HF_TOKEN)."""
    from sahelwire.versions.publish import PublishRefused, plan_publish, remote_tag, token_from_env
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
        raise fail(f"publish refused: {exc}", EXIT_USAGE if exc.usage else EXIT_INVALID) from None
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
        existing = remote_tag(plan, token)
        if existing is not None and not force:
            for line in existing.lines():
                typer.echo(line, err=True)
            raise fail(
                f"publish refused: {plan.tag} is already published on datasets/{plan.repo_id}; "
                "a version is published once (pass --force to replace it); nothing uploaded",
                EXIT_USAGE,
            )
        if existing is not None:
            typer.echo(f"--force: replacing {plan.tag} on datasets/{plan.repo_id}; it overwrites:")
            for line in existing.lines():
                typer.echo(f"  {line}")
        published = run_publish(plan, token, replace=existing)
    except typer.Exit:
        raise
    except Exception as exc:  # network/Hub errors: name the type, never echo request headers
        raise fail(
            f"upload failed: {type(exc).__name__}: {str(exc).replace(token, '***')}", EXIT_USAGE
        ) from None
    typer.echo(f"published {plan.tag} to datasets/{plan.repo_id}: commit {published.commit}")
    typer.echo(f"tag {plan.tag} -> {published.commit}")
    typer.echo(published.commit_url)


def verify(
    version: Annotated[str, typer.Argument(help="The release to check, e.g. v0.1.0.")],
    repo_id: Annotated[
        str | None,
        typer.Option(
            "--repo-id", help="ORG/NAME on the Hub (HF_ENDPOINT, HF_HUB_OFFLINE honoured)."
        ),
    ] = None,
    path: Annotated[
        Path | None,
        typer.Option("--path", help="A downloaded or rebuilt folder instead of the Hub."),
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            "--manifest",
            help="The release manifest (default: releases/vX.Y.Z.json of this project, checked "
            "against the commit that added it; a FILE given here is taken as it is).",
        ),
    ] = None,
    config: Annotated[
        list[str] | None, typer.Option("--config", help="Only this config (repeatable).")
    ] = None,
    streaming: Annotated[
        bool, typer.Option("--streaming", help="Load with streaming=True instead.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check that a version loaded from the Hub (or a folder) is that release: bytes, rows, commit."""
    from sahelwire.io.release_manifests import ManifestDamaged
    from sahelwire.versions.history import HistoryError, recorded_manifest
    from sahelwire.versions.verify import VerifyUnavailable, verify_folder, verify_hub

    if (repo_id is None) == (path is None):
        raise fail("verify needs exactly one of --repo-id ORG/NAME or --path FOLDER", EXIT_USAGE)
    tag = "v" + version.removeprefix("v")
    reference: Path | dict[str, Any]
    note = None
    if manifest is None:
        # The project's manifest, held to the copy its release commit recorded (as
        # `releases` and `build --release` hold it): an edited one would make verify call
        # edited bytes the release.
        paths, _ = project()
        manifest = paths.root / "releases" / f"{tag}.json"
        try:
            reference, commit = recorded_manifest(paths, tag)
        except (FileNotFoundError, ManifestDamaged, HistoryError) as exc:
            raise fail(f"cannot verify {tag}: {exc}", EXIT_USAGE) from None
        if commit is None:
            note = (
                f"no git history here: releases/{tag}.json was not checked against the "
                "commit that added it"
            )
    else:
        reference = manifest  # a copy the user holds: read strictly, no history to hold it to
    try:
        if repo_id is not None:
            report = verify_hub(repo_id, reference, configs=config, streaming=streaming)
        else:
            assert path is not None
            report = verify_folder(path, reference, configs=config, streaming=streaming)
    except VerifyUnavailable as exc:
        raise fail(f"cannot verify {tag}: {exc}", EXIT_USAGE) from None
    if report.version != tag:
        raise fail(f"{manifest} is the manifest of {report.version}, not {tag}", EXIT_USAGE)
    if note:
        report.notes.append(note)
    if as_json:
        typer.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        for line in report.checked:
            typer.echo(f"ok  {line}")
        for line in report.notes:
            typer.echo(f"note: {line}")
        for problem in report.problems:
            typer.echo(f"error: {problem}")
        typer.echo(
            f"{report.source} {'IS' if report.ok else 'is NOT'} {tag}"
            + (f" (commit {report.commit})" if report.commit else "")
            + f": {len(report.problems)} problem(s)"
        )
    raise typer.Exit(EXIT_OK if report.ok else EXIT_INVALID)


def register(app: typer.Typer) -> None:
    app.command("release")(release)
    app.command("releases")(releases)
    app.command("diff")(diff)
    app.command("publish")(publish)
    app.command("verify")(verify)
