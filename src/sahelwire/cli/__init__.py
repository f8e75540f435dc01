"""The one command line, ``sahelwire <stage>`` (exit codes: 0 ok, 1 invalid data, 2 usage or environment): the root app here, the ``labelstudio`` sub-app and
the release commands in their own modules, shared exit codes and helpers in ``common``. The
only package that imports the CLI library (typer).

The top of the import order: may import every stage; nothing imports it.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from sahelwire.cli.common import EXIT_INVALID, EXIT_OK, EXIT_USAGE, fail, project, project_paths
from sahelwire.cli.common import valid_inputs as _valid_inputs

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


@app.command()
def ingest(
    inputs: Annotated[
        list[Path], typer.Argument(help="Text files, JSONL files or folders of them.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Add raw articles to dataset/raw/ exactly as received, with a manifest row each."""
    from sahelwire.io.locks import LockBusy
    from sahelwire.raw.ingest import IngestRefused
    from sahelwire.raw.ingest import ingest as run_ingest

    paths, settings = project()
    try:
        result = run_ingest(paths, inputs, settings.max_article_bytes)
    except IngestRefused as exc:
        if as_json:
            typer.echo(json.dumps({"refused": [p.__dict__ for p in exc.problems]}, indent=2))
        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        raise fail(
            f"ingest refused: {len(exc.problems)} problem(s); dataset/raw/ unchanged", EXIT_INVALID
        ) from None
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


@app.command()
def validate(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    no_dist: Annotated[
        bool, typer.Option("--no-dist", help="Skip dist/ even when present.")
    ] = False,
) -> None:
    """Validate everything committed (and dist/ when present) against schemas/."""
    from sahelwire.io.config import ConfigError, EnvironmentSettingError, Settings
    from sahelwire.release.build import BuildEnvironmentError, build_memory_limit
    from sahelwire.release.validation import validate_project

    paths = project_paths()

    def usage_error(message: str) -> typer.Exit:
        # --json promises a JSON report on stdout: a configuration or environment error
        # (exit 2) gets one too, not only the line on stderr.
        if as_json:
            typer.echo(json.dumps({"ok": False, "error": message}, indent=2, ensure_ascii=False))
        return fail(message, EXIT_USAGE)

    try:
        settings = Settings.load(paths)
        # The environment settings the build reads, so validate refuses what build would.
        build_memory_limit(settings)
        report = validate_project(paths, include_dist=not no_dist)
    except ConfigError as exc:
        raise usage_error(str(exc)) from None
    except (BuildEnvironmentError, EnvironmentSettingError) as exc:
        raise usage_error(f"error: {exc}") from None
    except (OSError, ValueError) as exc:
        raise usage_error(f"cannot validate: {exc}") from None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "checked": report.checked,
                    "problems": [p.to_json() for p in report.problems],
                    "proposals": report.proposals,
                    "warnings": [
                        {
                            "article": w.article_id,
                            "record": w.record,
                            "rule": w.rule,
                            "detail": w.detail,
                        }
                        for w in report.warnings
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        for problem in report.problems:
            typer.echo(f"error: {problem}")
        for p in report.proposals:
            typer.echo(
                f"proposal (not an error): {p['file']}: {p['record']} ({p['label']} "
                f"{p['text']!r}, {p['annotator']}): {p['field']} = {p['proposal']!r}"
            )
        if report.proposals:
            typer.echo(
                f"{len(report.proposals)} registry proposal(s): add each to schemas/entities.yaml "
                "or schemas/events.yaml and pick it in Label Studio, or turn it down "
                "(annotations/GUIDELINES.md, §2.4)"
            )
        if report.warnings:
            typer.echo(
                f"{len(report.warnings)} warning(s) for the reviewer (completeness, not errors; "
                "see docs/review.md):"
            )
            for warning in report.warnings:
                typer.echo(f"warning: {warning}")
        checked = ", ".join(f"{k} {v}" for k, v in report.checked.items())
        typer.echo(
            f"{'valid' if report.ok else 'INVALID'}: {len(report.problems)} problem(s); checked {checked}"
        )
        for line in _validate_next_steps(report.problems, paths):
            typer.echo(f"next: {line}")
    raise typer.Exit(EXIT_OK if report.ok else EXIT_INVALID)


def _validate_next_steps(problems: list[Any], paths: Any) -> list[str]:
    """What to do about the kinds of problem found (a walkthrough: the list stopped there,
    and an unsettled conflict named a decisions file nobody had touched)."""
    from sahelwire.annotations.adjudication import UNSETTLED_RULE
    from sahelwire.annotations.review import overwrite_hint

    steps = []
    hint = overwrite_hint(problems, paths)
    if hint is not None:
        steps.append(hint)
    unsettled = sum(p.rule == UNSETTLED_RULE for p in problems)
    if unsettled:
        steps.append(
            f"{unsettled} conflict(s) between annotators have no decision yet (the decisions "
            "file named is where one goes): `sahelwire adjudicate` lists them and how to "
            "settle them"
        )
    if any(str(p.file).startswith("annotations/exports") for p in problems):
        steps.append(
            "a problem in annotations/exports/ is in an annotation as pulled: its annotator "
            "corrects it in Label Studio (open it, fix it, Update), then `sahelwire "
            "labelstudio pull`; exports are never edited by hand (docs/label_studio.md)"
        )
    return steps


@app.command()
def build(
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default: dist/, or dist-vX.Y.Z/ with --release)."),
    ] = None,
    past_release: Annotated[
        str | None,
        typer.Option(
            "--release",
            help="Rebuild a past release vX.Y.Z from the commit that added its manifest, "
            "with that commit's code; checked byte for byte against releases/vX.Y.Z.json.",
        ),
    ] = None,
) -> None:
    """Build the release folder (card, Parquet splits per config, checksums) from what is committed."""
    if past_release is not None:
        from sahelwire.cli.release import build_release

        build_release(past_release, out)
        return
    from sahelwire.io.atomic import ForeignTarget, MountPointTarget
    from sahelwire.release.build import BuildEnvironmentError, BuildRefused
    from sahelwire.release.build import build as run_build
    from sahelwire.release.card.template import CardTemplateError

    paths, settings = project()
    try:
        release = run_build(paths, settings, out)
    except MountPointTarget as exc:  # before the generic OSError: it has a way out
        raise fail(
            f"build refused: the output folder {exc.filename} is a mount point and cannot be "
            "replaced as a whole (a build renames a new folder over it); use --out with a "
            f"folder inside it, e.g. --out {Path(exc.filename) / 'dist'}; "
            "the previous build folder is intact",
            EXIT_USAGE,
        ) from None
    except ForeignTarget as exc:  # before the generic OSError: nothing was built
        raise fail(
            f"build refused: the output folder {exc.filename} {exc.strerror}; nothing was changed",
            EXIT_USAGE,
        ) from None
    except CardTemplateError as exc:
        raise fail(
            f"build refused: {exc}; the previous build folder is intact", EXIT_USAGE
        ) from None
    except BuildRefused as exc:
        from sahelwire.annotations.review import overwrite_hint

        for problem in exc.problems:
            typer.echo(f"error: {problem}", err=True)
        hint = overwrite_hint(exc.problems, paths)
        if hint is not None:
            typer.echo(f"next: {hint}", err=True)
        raise fail(
            f"build refused: {exc}; the previous build folder is intact", EXIT_INVALID
        ) from None
    except (BuildEnvironmentError, MemoryError) as exc:  # exit 2: the machine, not the data
        raise fail(
            f"build failed: {exc or 'out of memory'}; the previous build folder is intact",
            EXIT_USAGE,
        ) from None
    except OSError as exc:  # full disk, file size limit, permissions: the staging is discarded
        raise fail(
            f"build failed: {exc.filename or 'the release'}: {exc.strerror or exc}; "
            "the previous build folder is intact",
            EXIT_USAGE,
        ) from None
    except ValueError as exc:  # a schemas/ file unreadable as one: as `validate` says it
        raise fail(
            f"build refused: {exc}; the previous build folder is intact", EXIT_USAGE
        ) from None
    target = out or paths.dist_dir
    for config, by_split in release.rows.items():
        typer.echo(f"{config:16} " + "  ".join(f"{s} {n}" for s, n in by_split.items()))
    typer.echo(f"built {len(release.files)} files into {target}")
    for warning in release.warnings:
        typer.echo(f"warning: {warning}", err=True)


@app.command()
def card(
    check: Annotated[
        bool,
        typer.Option("--check", help="Exit 1 if DATASET_CARD.md is out of date; write nothing."),
    ] = False,
) -> None:
    """Regenerate the generated parts of DATASET_CARD.md (YAML metadata, tables, statistics)."""
    from sahelwire.release.build import BuildRefused, update_card
    from sahelwire.release.card.template import CardTemplateError

    paths, settings = project()
    try:
        current = update_card(paths, settings, check=check)
    except CardTemplateError as exc:
        raise fail(str(exc), EXIT_USAGE) from None
    except BuildRefused as exc:
        raise fail(
            f"cannot render the card: {exc}; run `sahelwire validate`", EXIT_INVALID
        ) from None
    if current:
        typer.echo("DATASET_CARD.md is up to date")
    elif check:
        raise fail(
            "DATASET_CARD.md drifted from its sources; run `sahelwire card` and commit",
            EXIT_INVALID,
        )
    else:
        typer.echo("DATASET_CARD.md updated")


@app.command()
def agreement(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Inter-annotator agreement (Krippendorff's alpha, pairwise span F1) where measured."""
    from sahelwire.annotations.agreement import ERROR_CLASSES, agreement_report

    _, settings = project()
    inputs = _valid_inputs("agreement", as_json)
    layers, taxonomy = inputs.layers, inputs.taxonomy
    report = agreement_report(
        layers.annotations,
        layers.regions,
        layers.choices,
        taxonomy,
        relations=layers.relations,
        min_articles=settings.agreement_min_articles,
    )
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    n = report["articles_with_2plus_annotators"]
    if n == 0:
        typer.echo("agreement not measured: no article has annotations by two or more annotators")
        return
    typer.echo(f"articles with 2+ annotators: {n}")
    if report["caution"]:
        typer.echo(f"caution: {report['caution']}")
    fragile = ", below the minimum: see the caution" if report["caution"] else ""
    for layer, r in report["spans"].items():
        # None: neither annotator of any pair marked a span of this layer (F1 undefined).
        exact, overlap = (
            "n/a  " if r[k] is None else f"{r[k]:.3f}" for k in ("f1_exact", "f1_overlap")
        )
        typer.echo(
            f"span F1 {layer:12} exact {exact}  overlap {overlap}  ({r['pairs']} pairs{fragile})"
        )
    for layer, r in report["span_errors"].items():
        classes = ", ".join(f"{c} {r[c]}" for c in ERROR_CLASSES)
        typer.echo(
            f"span errors {layer:12} {classes}; strict F1 {r['f1_strict']:.3f}, "
            f"partial F1 {r['f1_partial']:.3f} (SemEval classes, nervaluate)"
        )
    if report["arguments"]:
        r = report["arguments"]
        roles = ", ".join(f"{k} {v:.3f}" for k, v in r["roles"].items())
        f1 = "n/a" if r["f1"] is None else f"{r['f1']:.3f}"
        typer.echo(f"argument F1 {f1} (event span, argument span, role; by role: {roles})")
    for name, r in report["links"].items():
        typer.echo(
            f"{name} agreement {r['agreement']:.3f} over {r['mentions']} mention(s) both "
            "marked identically"
        )
    for name, r in report["article_labels"].items():
        alpha = "undefined" if r["alpha"] is None else f"{r['alpha']:.3f}"
        typer.echo(
            f"alpha {name:40} {alpha}  ({r['articles']} articles{', ' + r['note'] if r.get('note') else ''}{fragile})"
        )


@app.command()
def baseline(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Score the offline pre-annotation baseline against the gold layer."""
    from rich.console import Console
    from rich.table import Table

    from sahelwire.annotations.baseline import HEADER, attribute_lines, baseline_report, table_rows

    paths, _ = project()
    report = baseline_report(paths)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    if report["layers"] is None:
        typer.echo(report["message"])
        return
    table = Table(title=f"baseline {report['model_version']} vs gold")
    for i, name in enumerate(HEADER):
        table.add_column(name, justify="left" if i < 2 else "right")
    for row in table_rows(report):
        table.add_row(*row, style="bold" if row[1] == "(all)" else None)
    console = Console()
    if not console.is_terminal:
        # Piped or captured output: rich's 80-column default would truncate label names.
        console = Console(width=160)
    console.print(table)
    for line in attribute_lines(report):
        console.print(line, markup=False, highlight=False)
    typer.echo(
        f"{report['articles_scored']} article(s) scored; not predicted: "
        f"{', '.join(report['layers_not_predicted']) or 'none'}"
    )


# How many decisions against the majority (and stale notes) adjudicate prints (each is one
# long line).
AGAINST_SHOWN = 10


@app.command()
def adjudicate(
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
    skeleton: Annotated[
        bool,
        typer.Option(
            "--skeleton",
            help="Write annotations/decisions/<article>.yaml with one placeholder per "
            "unsettled conflict; to a file that exists, placeholders for the conflicts it "
            "does not list are appended (its entries never changed).",
        ),
    ] = False,
) -> None:
    """List every adjudication conflict, who made what, and how it was settled (exit 1 if any is unsettled)."""
    from sahelwire.annotations.adjudication import (
        UNSETTLED_RULE,
        decisions_against_majority,
        write_skeletons,
    )
    from sahelwire.annotations.review import review_title, stale_notes

    paths, settings = project()
    layers = _valid_inputs("adjudicate", as_json).layers
    # Earlier decisions that later annotators made go against the majority: they stand
    # (rule 4), and the maintainer reading this sees which (the review box alone said so).
    against = decisions_against_majority(layers.conflicts, paths.decisions_dir)
    # A decision's `conflict:` note says who made what when it was written; after a later
    # annotator it is out of date, and only a reader is misled (adjudication ignores it).
    stale = stale_notes(layers.conflicts, paths.decisions_dir)
    unsettled = [p for p in layers.problems if p.rule == UNSETTLED_RULE]
    open_items = {(p.record, p.field) for p in unsettled}
    open_conflicts = [
        c
        for c in layers.conflicts
        if c["kind"] == "conflict" and (c["article_id"], c["item"]) in open_items
    ]
    articles = sorted({c["article_id"] for c in open_conflicts})
    written: list[Path] = []
    extended: list[Path] = []
    kept: list[Path] = []
    if skeleton:
        try:
            written, extended, kept = write_skeletons(paths.decisions_dir, open_conflicts)
        except OSError as exc:
            raise fail(f"cannot write a skeleton: {exc}", EXIT_USAGE) from None
    review = review_title(settings.label_studio_project_title)
    next_step = (
        None
        if not unsettled
        else (
            f"settle the {len(unsettled)} unsettled conflict(s) of {len(articles)} article(s) "
            f"({', '.join(articles)}) in Label Studio: `sahelwire labelstudio review` puts "
            f"them in the project {review!r}; once a reviewer has submitted the gold there, "
            "`sahelwire labelstudio review --pull` writes annotations/decisions/. Or decide "
            "by hand in annotations/decisions/<article>.yaml (`sahelwire adjudicate "
            "--skeleton` writes one to fill in). See docs/review.md"
        )
    )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "conflicts": layers.conflicts,
                    "unsettled": len(unsettled),
                    "against_majority": against,
                    "stale_notes": stale,
                    "next_step": next_step,
                    "skeletons_written": [str(p.relative_to(paths.root)) for p in written],
                    "skeletons_extended": [str(p.relative_to(paths.root)) for p in extended],
                    "skeletons_kept": [str(p.relative_to(paths.root)) for p in kept],
                },
                indent=2,
                default=str,
            )
        )
    else:
        for c in layers.conflicts:
            typer.echo(
                f"{c['article_id']}  {c['kind']:10} {c['item']}  {c['detail']}  decision={c.get('decision')}"
            )
        status = layers.gold.status
        single = status.filter(status["n_annotators"] == 1).height
        typer.echo(
            f"{len(layers.conflicts)} conflict(s), {len(unsettled)} unsettled; "
            f"{status.height} article(s) in gold, {single} single-annotated"
        )
        if against:
            typer.echo(
                f"{len(against)} decision(s) go against the majority of the annotators now "
                "(they stand: a later annotator never overturns a reviewer; change the entry "
                "in annotations/decisions/<article>.yaml to revisit one):"
            )
            for a in against[:AGAINST_SHOWN]:
                value = f" {a['value']!r}" if "value" in a else ""
                typer.echo(
                    f"  {a['article_id']}  {a['item']}  {a['detail']}  "
                    f"decision={a['decision']}{value} by {a['decided_by']}"
                )
            if len(against) > AGAINST_SHOWN:
                typer.echo(f"  ... and {len(against) - AGAINST_SHOWN} more (`--json` lists all)")
        if stale:
            typer.echo(
                f"{len(stale)} decision note(s) (`conflict:`) no longer say who made what now "
                "(written before later annotators; the decisions stand, adjudication ignores "
                "the notes): `sahelwire labelstudio review --pull` brings the notes of a file "
                "it writes up to date; or edit the note by hand:"
            )
            for n in stale[:AGAINST_SHOWN]:
                typer.echo(
                    f"  {n['article_id']}  {n['item']}  note {n['note']!r}, now {n['now']!r}"
                )
            if len(stale) > AGAINST_SHOWN:
                typer.echo(f"  ... and {len(stale) - AGAINST_SHOWN} more (`--json` lists all)")
        for path in written:
            typer.echo(
                f"wrote {path.relative_to(paths.root)}: a skeleton; fill in action, decided_by "
                "and why for each entry"
            )
        for path in extended:
            typer.echo(
                f"added placeholders to {path.relative_to(paths.root)} for the conflicts it "
                "did not list (its entries as they were); fill in action, decided_by and why"
            )
        for path in kept:
            typer.echo(
                f"kept {path.relative_to(paths.root)}: it exists and lists every unsettled "
                "conflict already, or is laid out so that appending placeholders would change "
                "what it says (add any missing entries by hand)"
            )
        if next_step:
            typer.echo(f"next: {next_step}")
    raise typer.Exit(EXIT_INVALID if unsettled else EXIT_OK)


def _register_subcommands() -> None:
    # Stages with several subcommands own a Typer sub-app in their own module; they are
    # wired here so `sahelwire --help` lists everything.
    from sahelwire.cli.labelstudio import app as labelstudio_app

    app.add_typer(labelstudio_app, name="labelstudio")
    from sahelwire.cli.cache import app as cache_app

    app.add_typer(cache_app, name="cache")
    from sahelwire.cli.release import register as register_release_commands

    register_release_commands(app)


def _record_interrupts() -> list[int]:
    """SIGINT handled as Python's default handler does (KeyboardInterrupt), and recorded.

    DuckDB answers a SIGINT during a query with RuntimeError("Query interrupted"), not
    KeyboardInterrupt (the build's DuckDB phase printed a traceback and exited 1, the code
    of invalid data). The record tells that error from any other RuntimeError, which stays
    a bug to show."""
    seen: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)
        signal.default_int_handler(signum, frame)

    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not if ignored
        signal.signal(signal.SIGINT, handler)
    return seen


def main() -> None:
    _register_subcommands()
    from sahelwire.io.config import EnvironmentSettingError

    interrupts = _record_interrupts()
    try:
        app()
    except KeyboardInterrupt:
        print("sahelwire: interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit as exc:
        # Click ends a Ctrl-C with exit 130 and no word (a walkthrough's interrupted
        # `release` printed nothing, where every refusal says what happened).
        if interrupts and exc.code == 130:
            print("sahelwire: interrupted", file=sys.stderr)
        raise
    except RuntimeError:
        if not interrupts:
            raise
        # As typer ends a KeyboardInterrupt (exit 130); what the command was writing is
        # staged and discarded as for any other interruption (io.atomic).
        print("sahelwire: interrupted", file=sys.stderr)
        sys.exit(130)
    except EnvironmentSettingError as exc:  # whichever command read the variable
        print(f"sahelwire: error: {exc}", file=sys.stderr)
        sys.exit(2)
