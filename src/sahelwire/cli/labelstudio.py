"""The ``sahelwire labelstudio`` sub-commands."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlparse

import typer

from sahelwire.cli.common import EXIT_INVALID, EXIT_USAGE, fail, project_paths
from sahelwire.io.paths import ProjectPaths

app = typer.Typer(
    help="Serve Label Studio locally, push articles with pre-annotations, pull annotations.",
    no_args_is_help=True,
)

PROG = "sahelwire labelstudio"


def _fail(message: str, code: int = EXIT_INVALID) -> typer.Exit:
    return fail(message, code, prog=PROG)


def _paths() -> ProjectPaths:
    """The enclosing project; exit 2 when it is missing or its [tool.sahelwire] is bad
    (every command here reads the settings, some only after reaching the server)."""
    from sahelwire.io.config import ConfigError, Settings

    paths = project_paths(prog=PROG)
    try:
        Settings.load(paths)
    except ConfigError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    return paths


# How many dropped predicted regions push lists (the count is always printed).
SHOW_DROPPED = 20


@app.command()
def install() -> None:
    """Install the pinned Label Studio server into its own venv (.sahelwire/labelstudio/venv)."""
    from sahelwire.labelstudio import server

    paths = _paths()
    if server.is_installed(paths):
        typer.echo(
            f"Label Studio {server.LABEL_STUDIO_VERSION} already installed in {server.venv_dir(paths)}"
        )
        return
    typer.echo(
        f"installing Label Studio {server.LABEL_STUDIO_VERSION} into {server.venv_dir(paths)} (~1 min)"
    )
    try:
        server.install(paths)
    except server.ServerError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    typer.echo("installed")


@app.command()
def serve(
    port: Annotated[
        int | None, typer.Option(help="Port on 127.0.0.1 (default: from label_studio_url).")
    ] = None,
) -> None:
    """Start the local server on 127.0.0.1 (creates the admin and its token on first start)."""
    from sahelwire.io.config import Settings
    from sahelwire.labelstudio import server

    paths = _paths()
    url = Settings.load(paths).label_studio_url
    port = port or urlparse(url).port or 8080
    data_dir = server.home(paths) / "data"
    served = f"http://{server.HOST}:{port}"
    # One server per data dir: two Label Studios on one SQLite database can corrupt it, and
    # the second one's served.json would point push/pull/restore at whichever stopped first.
    # A running serve of this checkout is named first (its own port is busy too, and "port
    # in use" would not say it is ours); create=False makes nothing where serve never ran.
    try:
        lock = server.lock_data_dir(data_dir, served, create=False)
        # Refused before anything is installed or started (Label Studio would move to another
        # port by itself, and a health check of this one would reach the other program).
        if server.port_in_use(port):
            raise _fail(
                f"port {port} on {server.HOST} is already in use; stop that program or choose "
                "another port: sahelwire labelstudio serve --port P",
                EXIT_USAGE,
            )
        # Held until this process ends (and by its server, which inherits it): the kernel
        # releases it even after a SIGKILL, so it never goes stale.
        lock = lock or server.lock_data_dir(data_dir, served)
    except server.ServerRunning as exc:
        raise _fail(
            f"a Label Studio server from this checkout is already running {exc.where}; "
            f"stop it first ({exc.hint}) or use that one",
            EXIT_USAGE,
        ) from None
    served_file = server.served_url_file(paths)
    try:
        creds = server.load_or_create_credentials(paths, served)
        # Checked before the ~40 s start: a folder in its place only failed once the server
        # was up (and then stopped it).
        if served_file.exists() and not served_file.is_file():
            raise server.ServerError(f"{served_file} is not a file; move it aside and start again")
    except server.ServerError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    if not server.is_installed(paths):
        typer.echo(
            f"installing Label Studio {server.LABEL_STUDIO_VERSION} into "
            f"{server.venv_dir(paths)} (first run only, ~1-2 min) ..."
        )
    # From here on SIGTERM stops serve the way Ctrl-C does (start() stops a server it is
    # waiting for): its default, an exit on the spot, would leave the server running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.install(paths)
        typer.echo(f"starting Label Studio on {server.HOST}:{port} (first start ~40 s) ...")
        running = server.start(paths, data_dir=data_dir, port=port, creds=creds, lock=lock)
    except server.ServerError as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    # Everything after the start inside the try: a SIGTERM while serve still printed these
    # lines left the server running (serve exited 0 with it up; a CI run's test sent it
    # right after "is up").
    try:
        try:
            server.record_served_url(paths, running.url)
        except OSError as exc:  # the finally below stops the server
            raise _fail(
                f"{served_file} cannot be written ({exc.strerror or exc}); the server was stopped",
                EXIT_USAGE,
            ) from None
        typer.echo(f"Label Studio is up at {running.url} (data: {data_dir})")
        typer.echo("push, pull and invite use this URL (unless LABEL_STUDIO_URL is set)")
        typer.echo(f"admin login and API token: {server.credentials_file(paths)} (mode 0600)")
        typer.echo("Ctrl-C stops it.")
        running.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        running.stop()


@app.command()
def config(
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 if a checked-in file drifted.")
    ] = False,
) -> None:
    """Generate annotations/label_config.xml and the key list of annotations/GUIDELINES.md
    from schemas/ (taxonomy and registries)."""
    from sahelwire.io.atomic import write_text_atomic
    from sahelwire.io.text_files import read_utf8
    from sahelwire.labelstudio.guidelines import with_generated_sections
    from sahelwire.labelstudio.instructions import guidelines_path
    from sahelwire.labelstudio.label_config import LabelConfig

    paths = _paths()
    label_config = LabelConfig.load(paths)
    guide = guidelines_path(paths)
    try:
        guide_now = read_utf8(guide)
        wanted = {
            paths.label_config_file: label_config.xml(),
            guide: with_generated_sections(guide_now, label_config.taxonomy),
        }
    except (OSError, ValueError) as exc:  # GuidelinesError and read_utf8's are ValueErrors
        raise _fail(str(exc)) from None
    for target, text in wanted.items():
        try:  # bytes: a file that is not UTF-8 is out of date, not a decoder's traceback
            current = target.read_bytes() if target.exists() else None
            stale = current != text.encode()
            if check:
                if stale:
                    raise _fail(f"{target} is out of date; run `sahelwire labelstudio config`")
                typer.echo(f"{target} is up to date")
            elif stale:
                write_text_atomic(target, text)
                typer.echo(f"wrote {target}")
            else:
                typer.echo(f"{target} unchanged")
        except OSError as exc:  # a folder in its place, no permission
            raise _fail(f"{target}: cannot be read or written ({exc.strerror or exc})") from None


@app.command()
def push(
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    no_restore: Annotated[
        bool,
        typer.Option(
            "--no-restore",
            help="Push tasks to a server that lacks committed annotations, without restoring them.",
        ),
    ] = False,
    from_release: Annotated[
        str | None,
        typer.Option(
            "--from-release",
            metavar="vX.Y.Z",
            help="Re-open a published version: its articles, and its gold as predictions that "
            "name each item's original annotators (rebuilt from its commit, or --path).",
        ),
    ] = None,
    path: Annotated[
        Path | None,
        typer.Option(
            "--path",
            help="With --from-release: the release's files (a download, a build --release "
            "folder), checked against releases/vX.Y.Z.json first.",
        ),
    ] = None,
) -> None:
    """Create or update the project and its tasks (idempotent), with pre-annotations."""
    from sahelwire.io.locks import LockBusy
    from sahelwire.labelstudio.client import ConnectionProblem, connect
    from sahelwire.labelstudio.push import PredictionsInvalid, RestoreFirst
    from sahelwire.labelstudio.push import push as do_push

    paths = _paths()
    if path is not None and from_release is None:
        raise _fail("--path names a release's files: use it with --from-release vX.Y.Z", EXIT_USAGE)
    if from_release is not None:
        _push_from_release(paths, from_release, path, quiet=quiet, no_restore=no_restore)
        return
    try:
        summary = do_push(
            connect(paths),
            paths,
            show_progress=not quiet and sys.stderr.isatty(),
            require_restored=not no_restore,
        )
    except RestoreFirst as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    except PredictionsInvalid as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise _fail(str(exc)) from None
    except (ConnectionProblem, LockBusy) as exc:
        raise _fail(str(exc)) from None
    typer.echo(summary.line())
    for line in summary.dropped[:SHOW_DROPPED]:
        typer.echo(f"  dropped from the prediction: {line}")
    if len(summary.dropped) > SHOW_DROPPED:
        typer.echo(f"  ... and {len(summary.dropped) - SHOW_DROPPED} more dropped region(s)")
    if summary.refused:
        for reason in summary.refused:
            typer.echo(f"refused: {reason}", err=True)
        raise typer.Exit(EXIT_INVALID)


def _push_from_release(
    paths: ProjectPaths, version: str, path: Path | None, *, quiet: bool, no_restore: bool
) -> None:
    """``push --from-release``: the same project, task identity, text checks, lock and restore
    precondition as push; the release's verified files instead of dataset/raw + the baseline."""
    from sahelwire.io.locks import LockBusy
    from sahelwire.labelstudio.client import ConnectionProblem, connect
    from sahelwire.labelstudio.push import RestoreFirst
    from sahelwire.versions.reopen import (
        ReopenRefused,
        ReopenUnavailable,
        load_release_gold,
        reopen,
    )

    # The release is read and checked before the server is touched: an unknown version or
    # files that are not the release are refused without a connection.
    try:
        gold = load_release_gold(paths, version, path)
        summary = reopen(
            connect(paths),
            paths,
            gold,
            require_restored=not no_restore,
            show_progress=not quiet and sys.stderr.isatty(),
        )
    except (ReopenUnavailable, RestoreFirst) as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    except ReopenRefused as exc:
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise _fail(str(exc)) from None
    except (ConnectionProblem, LockBusy) as exc:
        raise _fail(str(exc)) from None
    for note in summary.notes:
        typer.echo(f"  note: {note}", err=True)
    typer.echo(summary.line())


@app.command()
def pull(
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="Also delete local copies of tasks and annotations deleted on the server.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Fetch every annotation via a snapshot export into annotations/exports/ (incremental)."""
    from sahelwire.io.locks import LockBusy
    from sahelwire.labelstudio.client import ConnectionProblem, connect
    from sahelwire.labelstudio.pull import PullRefused
    from sahelwire.labelstudio.pull import pull as do_pull

    paths = _paths()
    try:
        summary = do_pull(
            connect(paths), paths, prune=prune, show_progress=not quiet and sys.stderr.isatty()
        )
    except PullRefused as exc:
        raise _fail(f"pull refused, nothing written: {exc}") from None
    except (ConnectionProblem, LockBusy) as exc:
        raise _fail(f"{exc}; nothing written") from None
    for name in summary.changed_files:
        typer.echo(f"  wrote {name}")
    # Deleted on this server but kept here: say exactly what --prune would remove.
    for stem in summary.kept_tasks:
        typer.echo(f"  kept (deleted on this server; --prune removes it): task file {stem}.json")
    for ref in summary.kept_annotation_refs:
        typer.echo(f"  kept (deleted on this server; --prune removes it): {ref}")
    # Never on this server (a fresh one): kept whatever the flags say.
    for stem in summary.absent_tasks:
        typer.echo(f"  kept (never on this server; restore puts it there): task file {stem}.json")
    for ref in summary.absent_annotation_refs:
        typer.echo(f"  kept (never on this server; restore puts it there): {ref}")
    for note in summary.notes:
        typer.echo(f"  note: {note}", err=True)
    typer.echo(summary.line())


@app.command()
def review(
    do_pull: Annotated[
        bool,
        typer.Option(
            "--pull",
            help="Turn submitted reviews into annotations/decisions/<article>.yaml "
            "(decided_by: the reviewer's e-mail; why: the reviewer's reason).",
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="With --pull: replace a different decision already in a decisions file.",
        ),
    ] = False,
    sheet_skeleton: Annotated[
        Path | None,
        typer.Option(
            "--sheet-skeleton",
            metavar="FILE",
            help="Write a review sheet to fill in: every unsettled conflict (item, its text, "
            "who marked it, tied values) with an empty action and why (never overwrites FILE; "
            "no server needed).",
        ),
    ] = None,
    article: Annotated[
        list[str] | None,
        typer.Option(
            "--article", metavar="ID", help="With --sheet-skeleton: only this article (repeat)."
        ),
    ] = None,
    submit: Annotated[
        list[Path] | None,
        typer.Option(
            "--submit",
            metavar="FILE",
            help="Submit a filled-in review sheet (repeat for several) to the review project "
            "as --reviewer's own review; then `review --pull` writes the decisions.",
        ),
    ] = None,
    reviewer: Annotated[
        str | None,
        typer.Option(
            "--reviewer",
            metavar="EMAIL",
            help="With --submit: the reviewer's e-mail (signs up through an invite link, "
            "password kept in the git-ignored state; never printed).",
        ),
    ] = None,
) -> None:
    """Put each article with unsettled conflicts into the review project (idempotent); --pull
    writes the submitted reviews as decisions; --sheet-skeleton / --submit review from a YAML
    sheet instead of the editor (an AI or scripted reviewer). docs/review.md"""
    from sahelwire.annotations.review import ReviewRefused, pull_reviews, push_reviews
    from sahelwire.cli.common import valid_inputs
    from sahelwire.io.locks import LockBusy
    from sahelwire.labelstudio.client import ConnectionProblem, connect

    modes = [m for m, on in (("--pull", do_pull), ("--sheet-skeleton", sheet_skeleton),
                             ("--submit", submit)) if on]  # fmt: skip
    if len(modes) > 1:
        raise _fail(f"{' and '.join(modes)}: use one at a time", EXIT_USAGE)
    if overwrite and not do_pull:
        raise _fail("--overwrite replaces decisions: use it with --pull", EXIT_USAGE)
    if article and sheet_skeleton is None:
        raise _fail("--article chooses what --sheet-skeleton writes: use it with it", EXIT_USAGE)
    if (reviewer is None) != (not submit):
        raise _fail("--submit FILE and --reviewer EMAIL go together", EXIT_USAGE)
    paths = _paths()
    repairing: dict[str, list[str]] = {}
    if do_pull and overwrite:
        from sahelwire.annotations.review import repairable_articles

        def set_aside(inputs: Any, problems: list[Any]) -> list[Any]:
            # --overwrite is the documented way to replace decisions that made the gold
            # invalid: those problems wait for the reviews; every other one refuses.
            found, rest = repairable_articles(inputs, problems, paths)
            repairing.update(found)
            return rest

        inputs = valid_inputs("review", False, prog=PROG, set_aside=set_aside)
    else:
        inputs = valid_inputs("review", False, prog=PROG)
    if sheet_skeleton is not None:
        _write_sheet_skeleton(paths, inputs, sheet_skeleton, set(article) if article else None)
        return
    if submit:
        assert reviewer is not None
        _submit_sheets(paths, inputs, submit, reviewer)
        return
    try:
        conn = connect(paths)
        if do_pull:
            pulled = pull_reviews(
                conn,
                paths,
                inputs.layers,
                inputs.taxonomy,
                overwrite=overwrite,
                repairing=repairing,
            )
        else:
            pushed = push_reviews(conn, paths, inputs.layers, inputs.taxonomy)
    except ReviewRefused as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    except (ConnectionProblem, LockBusy) as exc:
        raise _fail(f"{exc}; nothing written") from None
    if do_pull:
        for name in pulled.changed_files:
            typer.echo(f"  wrote {name}")
        for decided in pulled.decided:
            # Never silent: an agreed relation leaving the gold is said where it happens.
            for item in decided.dropped:
                typer.echo(
                    f"  {decided.article_id}: rejects {item}, which the annotators agreed "
                    "on (its end is rejected; the review's own line says why)"
                )
        for aid in pulled.not_reviewed:
            typer.echo(f"  not reviewed yet: {aid}")
        for aid in pulled.not_needed:
            typer.echo(f"  ignored: the review of {aid} (the article has no conflict now)")
        for reason in pulled.refused:
            typer.echo(f"refused: {reason}", err=True)
        typer.echo(pulled.line())
        if pulled.decided:
            typer.echo("next: `sahelwire adjudicate` to check, then commit annotations/decisions/")
        raise typer.Exit(EXIT_INVALID if pulled.refused else 0)
    for aid in pushed.created:
        typer.echo(f"  pushed {aid}")
    for aid in pushed.updated:
        typer.echo(f"  updated {aid} (new versions; not reviewed yet)")
    for reason in pushed.refused:
        typer.echo(f"refused: {reason}", err=True)
    typer.echo(pushed.line())
    if pushed.created or pushed.updated or pushed.unchanged:
        typer.echo(
            f"next: the reviewer opens each task of project {pushed.project_id} "
            f"({conn.url}/projects/{pushed.project_id}/data) from the task list, submits the "
            "gold with a reason; then `sahelwire labelstudio review --pull`"
        )
    if pushed.refused:
        raise typer.Exit(EXIT_INVALID)


def _write_sheet_skeleton(
    paths: ProjectPaths, inputs: Any, path: Path, only: set[str] | None
) -> None:
    from sahelwire.annotations.review_sheet import SheetError, sheet_skeleton, write_sheet_skeleton
    from sahelwire.raw.manifest import load_articles

    texts = {a.id: a.text for a in load_articles(paths)}
    text, n = sheet_skeleton(inputs.layers, inputs.taxonomy, paths, texts, only)
    if not n:
        raise _fail(
            "no article "
            + (f"of {', '.join(sorted(only))} " if only else "")
            + "has unsettled conflicts; no sheet written",
            EXIT_INVALID,
        )
    try:
        write_sheet_skeleton(path, text)
    except (SheetError, OSError) as exc:
        raise _fail(f"cannot write the sheet: {exc}") from None
    typer.echo(
        f"wrote {path}: a review sheet for {n} article(s); fill in each article's reason and "
        "each conflict's action and why, then `sahelwire labelstudio review --submit "
        f"{path} --reviewer EMAIL`"
    )


def _submit_sheets(paths: ProjectPaths, inputs: Any, sheets: list[Path], reviewer: str) -> None:
    from sahelwire.annotations.review import ReviewRefused
    from sahelwire.annotations.review_sheet import SheetError, submit_sheets
    from sahelwire.io.locks import LockBusy
    from sahelwire.labelstudio.client import ConnectionProblem, connect
    from sahelwire.labelstudio.identity import is_email

    if not is_email(reviewer):
        raise _fail(f"--reviewer {reviewer!r}: the reviewer is named by an e-mail", EXIT_USAGE)
    for sheet in sheets:  # before connecting: a mistyped path is the first thing to hear of
        if not sheet.is_file():
            raise _fail(f"--submit {sheet}: no such review sheet; nothing submitted", EXIT_USAGE)
    try:
        summary = submit_sheets(
            connect(paths), paths, inputs.layers, inputs.taxonomy, sheets, reviewer
        )
    except SheetError as exc:
        raise _fail(f"{exc}; nothing submitted") from None
    except ReviewRefused as exc:
        raise _fail(str(exc), EXIT_USAGE) from None
    except (ConnectionProblem, LockBusy) as exc:
        raise _fail(str(exc)) from None
    for aid in summary.created:
        typer.echo(f"  submitted the review of {aid}")
    for aid in summary.updated:
        typer.echo(f"  updated the review of {aid}")
    for note in summary.notes:
        typer.echo(f"note: {note}", err=True)
    for reason in summary.refused:
        typer.echo(f"refused: {reason}", err=True)
    typer.echo(summary.line())
    if summary.created or summary.updated or summary.unchanged:
        typer.echo("next: `sahelwire labelstudio review --pull` writes the decisions")
    if summary.refused:
        raise typer.Exit(EXIT_INVALID)


@app.command()
def restore(
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Bring a (fresh) server to the repository's state: accounts, tasks, every annotation."""
    from sahelwire.io.locks import LockBusy
    from sahelwire.labelstudio.client import ConnectionProblem, connect
    from sahelwire.labelstudio.restore import RestoreRefused
    from sahelwire.labelstudio.restore import restore as do_restore

    paths = _paths()
    try:
        summary = do_restore(connect(paths), paths, show_progress=not quiet and sys.stderr.isatty())
    except RestoreRefused as exc:
        raise _fail(f"restore refused, no annotation created: {exc}") from None
    except (ConnectionProblem, LockBusy) as exc:
        raise _fail(str(exc)) from None
    for email in summary.accounts_created:
        typer.echo(
            f"  created account {email} (random password, never printed; the annotator sets "
            f"their own: sahelwire labelstudio set-password {email})"
        )
    for ref in summary.deleted_here:
        typer.echo(f"  not put back (deleted on this server; pull --prune drops it): {ref}")
    typer.echo(summary.line())
    if summary.push.refused:
        for reason in summary.push.refused:
            typer.echo(f"refused: {reason}", err=True)
        raise typer.Exit(EXIT_INVALID)


@app.command()
def migrate() -> None:
    """Convert exports pulled before repository identities (server ids -> e-mails, UUIDs)."""
    from sahelwire.labelstudio.identity import IdentityError
    from sahelwire.labelstudio.legacy import migrate as do_migrate

    paths = _paths()
    try:
        result = do_migrate(paths)
    except IdentityError as exc:
        raise _fail(f"migration refused, nothing written: {exc}") from None
    for path, _data in result.writes:
        typer.echo(f"  wrote {path.relative_to(paths.root)}")
    typer.echo(
        f"migrate: {len(result.converted)} export file(s) converted, "
        f"{len(result.already)} already in repository form"
    )


@app.command("set-password")
def set_password(
    email: Annotated[str, typer.Argument(help="The annotator's e-mail (an existing account).")],
) -> None:
    """Set an account's password on the managed server (asked on the terminal, never echoed)."""
    import os
    import subprocess

    from sahelwire.labelstudio import server

    paths = _paths()
    if os.environ.get("LABEL_STUDIO_URL"):
        raise _fail(
            "LABEL_STUDIO_URL is set: set the password on that server (its admin can)", EXIT_USAGE
        )
    data_dir = server.home(paths) / "data"
    if not server.is_installed(paths) or not data_dir.is_dir():
        raise _fail(
            "no managed server here yet: run `sahelwire labelstudio serve` once", EXIT_USAGE
        )
    # Label Studio's own command asks for the password itself (getpass): it never passes
    # through an argument, an environment variable or this process.
    # Its report goes to stdout (read here); the prompt goes to the terminal.
    result = subprocess.run(
        [str(server.executable(paths)), "reset_password", "--username", email],
        env=server.admin_command_env(data_dir),
        stdout=subprocess.PIPE,
        text=True,
    )
    if result.returncode != 0 or "Password successfully changed" not in result.stdout:
        said = " ".join(
            line
            for line in result.stdout.splitlines()
            if "password" in line.lower() or "not found" in line
        )
        raise _fail(f"the password of {email} was not set: {said or 'see above'}")
    typer.echo(f"password of {email} set; log in at the server's /user/login/")


@app.command("rotate-token")
def rotate_token() -> None:
    """Replace the managed server's API token (old one stops working; file stays 0600)."""
    import os

    from sahelwire.labelstudio import server
    from sahelwire.labelstudio.client import ConnectionProblem, call, connect

    paths = _paths()
    if os.environ.get("LABEL_STUDIO_API_KEY"):
        raise _fail(
            "LABEL_STUDIO_API_KEY is set: rotate that token on its own server "
            "(Account & Settings > Access Token), then update the variable",
            EXIT_USAGE,
        )
    try:
        conn = connect(paths)
        response = call(conn, lambda: conn.client.users.reset_token())
    except ConnectionProblem as exc:
        raise _fail(str(exc)) from None
    new_token = str(getattr(response, "token", "") or "")
    if not new_token:
        raise _fail(
            "the server did not return a new token; the old one may be revoked: "
            "log in with the password in the credentials file and reset it there"
        )
    server.update_api_key(paths, new_token)
    typer.echo(
        f"API token rotated; the old one no longer works. New token in {server.credentials_file(paths)}"
    )


@app.command()
def invite(
    reset: Annotated[
        bool,
        typer.Option(
            "--reset",
            help="Make a new link; every earlier link stops working (its accounts stay).",
        ),
    ] = False,
) -> None:
    """Print the sign-up link for new annotators (sign-up without a link is disabled).

    The link is reusable: anyone holding it can create accounts until it is reset."""
    from sahelwire.labelstudio.client import ConnectionProblem, connect
    from sahelwire.labelstudio.invite import invite_url, reset_invite
    from sahelwire.labelstudio.project import queue_note

    paths = _paths()
    try:
        conn = connect(paths)
        typer.echo(reset_invite(conn) if reset else invite_url(conn))
        note = queue_note(conn, paths)
    except ConnectionProblem as exc:
        raise _fail(str(exc)) from None
    typer.echo(
        "reusable: anyone with this link can sign up until `sahelwire labelstudio invite "
        "--reset`" + (" (earlier links no longer work)" if reset else ""),
        err=True,
    )
    typer.echo(note, err=True)


@app.command("submit-worksheets")
def submit_worksheets(
    annotator: Annotated[str, typer.Option(help="Annotator e-mail (signs up via an invite link).")],
    queue: Annotated[
        bool,
        typer.Option(
            "--queue",
            help="Take tasks in the order Label Studio's queue hands them to ANNOTATOR "
            "(overlap and pre-annotations as in Label All Tasks).",
        ),
    ] = False,
    new_version: Annotated[
        bool,
        typer.Option(
            "--new-version",
            help="A changed worksheet becomes a new annotation; the earlier one is kept "
            "(adjudication counts the latest, lists the earlier as superseded).",
        ),
    ] = False,
) -> None:
    """Submit annotations/worksheets/<handle>/*.yaml as ANNOTATOR's own annotations
    (<handle>: the e-mail before @; idempotent)."""
    from sahelwire.labelstudio.client import ConnectionProblem, connect
    from sahelwire.labelstudio.worksheet_submit import submit
    from sahelwire.labelstudio.worksheets import WorksheetError

    paths = _paths()
    try:
        summary = submit(connect(paths), paths, annotator, queue=queue, new_version=new_version)
    except (ConnectionProblem, WorksheetError) as exc:
        raise _fail(str(exc)) from None
    typer.echo(summary.line())


@app.command("check-worksheets")
def check_worksheets_command(
    annotator: Annotated[
        str | None, typer.Option(help="Only this annotator's folder (default: every folder).")
    ] = None,
) -> None:
    """Resolve annotations/worksheets/<handle>/*.yaml and run the validator's span rules
    (no server needed); exit 1 naming worksheet, region and rule."""
    from sahelwire.labelstudio.worksheets import (
        WorksheetError,
        check_worksheets,
        unclaimed_worksheet_folders,
        worksheet_annotators,
    )

    paths = _paths()
    try:
        who = [annotator] if annotator else worksheet_annotators(paths)
    except WorksheetError as exc:
        raise _fail(str(exc)) from None
    # Every folder is checked by default: one that is no known annotator's is said, not skipped.
    problems = [] if annotator else unclaimed_worksheet_folders(paths, who)
    for email in who:
        try:
            problems += [str(p) for p in check_worksheets(paths, email)]
        except WorksheetError as exc:
            problems.append(str(exc))
    for line in problems:
        typer.echo(line, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"worksheets: {len(who)} annotator folder(s) resolve with 0 problems")
