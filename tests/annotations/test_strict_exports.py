"""Hostile and damaged exports: every class the strict export parser refuses (issue 12).

One corpus of bad inputs (``CASES``), each a small change to the committed project. For each:
the parser reports a Problem naming the file, the rule and (where there is one) the field;
``validate`` and ``build`` both refuse it with the same problems and ``dist/`` is left byte for
byte; ``agreement`` and ``adjudicate`` refuse it too. docs/reliability.md lists the classes.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from helpers import copy_project, run_cli, snapshot
from sahelwire.annotations.tables import read_annotation_tables
from sahelwire.cli import app
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.validation import validate_project
from sahelwire.schema.problems import Problem

A001 = "001_a9cbf47f8b5096a3"
A002 = "002_4eb8b75709aad65d"
EXPORTS = "annotations/exports"
F001 = f"{EXPORTS}/{A001}.json"
F002 = f"{EXPORTS}/{A002}.json"


# -- mutations --------------------------------------------------------------------------
def _path(root: Path, article: str = A001) -> Path:
    return root / EXPORTS / f"{article}.json"


def task_edit(fn: Callable[[dict[str, Any]], None], *, ascii_only: bool = False) -> Any:
    """Edit the task of article 001 as JSON and write it back as pull would."""

    def mutate(root: Path) -> None:
        path = _path(root)
        task = json.loads(path.read_text(encoding="utf-8"))
        fn(task)
        text = json.dumps(task, ensure_ascii=ascii_only, indent=2, sort_keys=True) + "\n"
        path.write_text(text, encoding="utf-8")

    return mutate


def text_edit(fn: Callable[[bytes], bytes]) -> Any:
    """Edit the bytes of article 001's export file."""

    def mutate(root: Path) -> None:
        path = _path(root)
        path.write_bytes(fn(path.read_bytes()))

    return mutate


def replace_once(old: str, new: str) -> Callable[[bytes], bytes]:
    def fn(data: bytes) -> bytes:
        assert old.encode() in data, old
        return data.replace(old.encode(), new.encode(), 1)

    return fn


def ann(t: dict[str, Any]) -> dict[str, Any]:
    return t["annotations"][0]


def results(t: dict[str, Any]) -> list[dict[str, Any]]:
    return ann(t)["result"]


def item(t: dict[str, Any], **match: Any) -> dict[str, Any]:
    return next(r for r in results(t) if all(r.get(k) == v for k, v in match.items()))


def span(t: dict[str, Any]) -> dict[str, Any]:
    return item(t, type="labels")


def relation(t: dict[str, Any]) -> dict[str, Any]:
    return item(t, type="relation")


def set_in(getter: Callable[[dict[str, Any]], Any], key: Any, value: Any) -> Any:
    def fn(t: dict[str, Any]) -> None:
        getter(t)[key] = value

    return task_edit(fn)


def delete(getter: Callable[[dict[str, Any]], Any], key: str) -> Any:
    def fn(t: dict[str, Any]) -> None:
        del getter(t)[key]

    return task_edit(fn)


def append_copy(pick: Callable[[dict[str, Any]], dict[str, Any]], **changes: Any) -> Any:
    def fn(t: dict[str, Any]) -> None:
        clone = json.loads(json.dumps(pick(t)))
        for key, value in changes.items():
            if key == "value":
                clone["value"].update(value)
            else:
                clone[key] = value
        results(t).append(clone)

    return task_edit(fn)


def annotators_text(text: str) -> Any:
    """A case whose annotations/annotators.json is ``text``."""
    return fs(lambda root: (root / "annotations" / "annotators.json").write_text(text, "utf-8"))


def fs(fn: Callable[[Path], object]) -> Any:
    return fn


def rename_to(name: str) -> Any:
    return fs(lambda root: _path(root).rename(root / EXPORTS / name))


def copy_to(name: str) -> Any:
    return fs(lambda root: shutil.copy2(_path(root), root / EXPORTS / name))


def symlinked(root: Path) -> None:
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    _path(root).rename(elsewhere / f"{A001}.json")
    os.symlink(elsewhere / f"{A001}.json", _path(root))


def same_task_id(root: Path) -> None:
    first = json.loads(_path(root).read_text(encoding="utf-8"))["id"]
    path = _path(root, A002)
    task = json.loads(path.read_text(encoding="utf-8"))
    task["id"] = first
    path.write_text(json.dumps(task, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


def surrogate(text: str, at: int = 10) -> str:
    return text[:at] + "\ud800" + text[at:]


def deep(data: bytes) -> bytes:
    nested = '"prediction": {"x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    return replace_once('"prediction": {}', nested)(data)


@dataclass(frozen=True)
class Case:
    mutate: Callable[[Path], None]
    rule: str
    file: str = F001
    field: str | None = None
    # False: a rule of the tables (schema, registry, relation), checked by validation after
    # parsing rather than by the parser itself.
    parser: bool = True


CASES: dict[str, Case] = {
    # JSON that Python's decoder accepts (or crashes on) but Label Studio never writes
    "duplicate-key": Case(
        text_edit(
            replace_once('"was_cancelled": false', '"was_cancelled": true, "was_cancelled": false')
        ),
        "JSON object keys are unique",
        field="annotations[0].was_cancelled",
    ),
    "nan": Case(
        text_edit(replace_once('"lead_time": null', '"lead_time": NaN')),
        "numbers are finite float64",
    ),
    "infinity": Case(
        text_edit(replace_once('"lead_time": null', '"lead_time": -Infinity')),
        "numbers are finite float64",
    ),
    "float-overflow": Case(
        text_edit(replace_once('"lead_time": null', '"lead_time": 1e999')),
        "numbers are finite float64",
    ),
    "int-beyond-64-bits": Case(set_in(ann, "id", 2**64), "id is an integer (64-bit)", field="id"),
    "int-thousands-of-digits": Case(
        text_edit(replace_once('"lead_time": null', '"lead_time": 1' + "0" * 5000)),
        "integers have at most 4300 digits",
    ),
    "lone-surrogate-task-text": Case(
        task_edit(lambda t: t["data"].update(text=surrogate(t["data"]["text"])), ascii_only=True),
        "text is valid Unicode without NUL",
        field="data.text",
    ),
    "lone-surrogate-value-text": Case(
        task_edit(
            lambda t: span(t)["value"].update(text=surrogate(span(t)["value"]["text"], 2)),
            ascii_only=True,
        ),
        "text is valid Unicode without NUL",
        field="annotations[0].result[0].value.text",
    ),
    "lone-surrogate-in-a-key": Case(
        task_edit(lambda t: span(t).update({"\udc00": 1}), ascii_only=True),
        "text is valid Unicode without NUL",
        field="annotations[0].result[0]",
    ),
    "nul-in-text": Case(
        task_edit(lambda t: item(t, from_name="notes")["value"].update(text=["a\x00b"])),
        "text is valid Unicode without NUL",
        field="value.text[0]",
    ),
    "deep-nesting": Case(text_edit(deep), "JSON nesting within the interpreter's limit"),
    "byte-order-mark": Case(text_edit(lambda d: b"\xef\xbb\xbf" + d), "no byte-order mark"),
    "not-utf8": Case(
        text_edit(lambda d: d.replace(b"Pentagon", b"Pentag\xffn", 1)), "file is UTF-8"
    ),
    "empty-file": Case(text_edit(lambda d: b""), "file is one complete JSON task"),
    "whitespace-only-file": Case(text_edit(lambda d: b" \n"), "file is one complete JSON task"),
    "trailing-data": Case(text_edit(lambda d: d + b"{}\n"), "file is one complete JSON task"),
    "truncated": Case(text_edit(lambda d: d[: len(d) // 2]), "file is one complete JSON task"),
    "export-list-in-a-task-file": Case(
        text_edit(lambda d: b"[" + d + b"]"), "a task object with a data dict"
    ),
    # the folder: every entry is read or refused, never skipped
    "upper-case-extension": Case(
        rename_to(f"{A001}.JSON"),
        "export files are named <article_id>.json",
        file=f"{EXPORTS}/{A001}.JSON",
    ),
    "backup-extension": Case(
        copy_to(f"{A001}.json.bak"),
        "export files are named <article_id>.json",
        file=f"{EXPORTS}/{A001}.json.bak",
    ),
    "hidden-file": Case(
        copy_to(f".{A001}.json.swp"),
        "export files are named <article_id>.json",
        file=f"{EXPORTS}/.{A001}.json.swp",
    ),
    "directory": Case(
        fs(lambda root: (root / EXPORTS / "more.json").mkdir()),
        "an export is a regular file",
        file=f"{EXPORTS}/more.json",
    ),
    "symlink": Case(fs(symlinked), "an export is a regular file, not a symlink"),
    "fifo": Case(
        fs(lambda root: os.mkfifo(root / EXPORTS / "pipe.json")),
        "an export is a regular file",
        file=f"{EXPORTS}/pipe.json",
    ),
    "file-name-differs-from-article": Case(
        rename_to("999_renamed.json"),
        "file name is <data.article_id>.json",
        file=f"{EXPORTS}/999_renamed.json",
        field="data.article_id",
    ),
    "same-article-in-two-files": Case(
        copy_to("zz_copy.json"), "one task per article", file=f"{EXPORTS}/zz_copy.json"
    ),
    "same-task-id-in-two-files": Case(
        fs(same_task_id), "task ids are unique across exports", file=F002, field="id"
    ),
    # the task object
    "unknown-task-key": Case(
        set_in(lambda t: t, "sahelwire_note", "x"),
        "every key is a Label Studio task field",
        field="sahelwire_note",
    ),
    "unknown-data-key": Case(
        set_in(lambda t: t["data"], "title", "x"),
        "every key is a Label Studio task data field",
        field="data.title",
    ),
    "task-id-string": Case(set_in(lambda t: t, "id", "2"), "id is an integer (64-bit)", field="id"),
    "annotations-null": Case(
        set_in(lambda t: t, "annotations", None), "annotations is a list", field="annotations"
    ),
    "annotations-missing": Case(
        delete(lambda t: t, "annotations"), "a task has annotations", field="annotations"
    ),
    "prediction-not-an-object": Case(
        set_in(lambda t: t, "predictions", [1]), "a prediction is an object", field="predictions"
    ),
    "prediction-read-like-an-annotation": Case(
        set_in(
            lambda t: t,
            "predictions",
            [
                {
                    "id": 999,
                    "created_at": "2026-11-23T02:46:06.975371Z",
                    "updated_at": "2026-11-23T02:46:06.975371Z",
                    "result": [
                        {
                            "id": "p1",
                            "from_name": "entities",
                            "to_name": "text",
                            "type": "labels",
                            "value": {"start": 4.0, "end": 12, "labels": ["ORG"]},
                        }
                    ],
                }
            ],
        ),
        "value.start is an integer (64-bit)",
        field="value.start",
    ),
    "draft-with-unknown-key": Case(
        set_in(lambda t: t, "drafts", [{"id": 1, "result": [], "note": "x"}]),
        "every key is a Label Studio draft field",
        field="note",
    ),
    # the annotation
    "result-null": Case(set_in(ann, "result", None), "result is a list", field="result"),
    "was-cancelled-string": Case(
        set_in(ann, "was_cancelled", "false"),
        "was_cancelled is true/false",
        field="was_cancelled",
    ),
    "was-cancelled-missing": Case(
        delete(ann, "was_cancelled"), "an annotation has was_cancelled", field="was_cancelled"
    ),
    "ground-truth-int": Case(
        set_in(ann, "ground_truth", 0), "ground_truth is true/false", field="ground_truth"
    ),
    "annotation-id-bool": Case(set_in(ann, "id", True), "id is an integer (64-bit)", field="id"),
    "completed-by-bool": Case(
        set_in(ann, "completed_by", True),
        "completed_by is an integer (64-bit) or an object",
        field="completed_by",
    ),
    "completed-by-unknown-email": Case(
        set_in(ann, "completed_by", {"email": "mallory@example.org"}),
        "annotator is a known user",
        field="completed_by",
    ),
    "completed-by-server-user-id": Case(
        set_in(ann, "completed_by", 2), "annotator is a known user", field="completed_by"
    ),
    "completed-by-with-a-server-id-too": Case(
        set_in(ann, "completed_by", {"id": 3, "email": "ai-annotator-1@sahelwire.local"}),
        "annotator is a known user",
        field="completed_by",
    ),
    "unknown-annotation-key": Case(
        set_in(ann, "score", 1),
        "every key is a Label Studio annotation field",
        field="score",
    ),
    "timestamp-not-utc": Case(
        set_in(ann, "updated_at", "2026-11-23T03:57:24.182054+01:00"),
        "a UTC timestamp as Label Studio writes it (YYYY-MM-DDTHH:MM:SS[.ffffff]Z)",
        field="updated_at",
    ),
    "negative-lead-time": Case(set_in(ann, "lead_time", -1), "lead_time >= 0", field="lead_time"),
    "parent-prediction-missing": Case(
        set_in(ann, "parent_prediction", 999),
        "parent_prediction names a prediction of this task",
        field="parent_prediction",
    ),
    "annotators-file-malformed": Case(
        annotators_text('{"ai-annotator-1@sahelwire.local": "yes"}\n'),
        'each annotator is "<e-mail>": {}',
        file="annotations/annotators.json",
    ),
    "annotators-file-truncated": Case(
        annotators_text('{"a@x.org": {}'),
        # named as what it is (an annotator list), not as a task file to pull again
        "file is one complete JSON object",
        file="annotations/annotators.json",
    ),
    "annotators-file-duplicate-key": Case(
        annotators_text('{"a@x.org": {}, "a@x.org": {}}\n'),
        "JSON object keys are unique",
        file="annotations/annotators.json",
    ),
    "annotators-file-not-an-object": Case(
        annotators_text('["ai-annotator-1@sahelwire.local"]\n'),
        "an object of e-mail -> {}",
        file="annotations/annotators.json",
    ),
    # the result items, against the labeling config
    "unknown-result-key": Case(
        set_in(span, "meta", {"text": ["a region note"]}),
        "every key is a Label Studio result item field",
        field="meta",
    ),
    "unknown-value-key": Case(
        set_in(lambda t: span(t)["value"], "globalOffsets", {"start": 0, "end": 1}),
        "every key is a Label Studio entities value field",
        field="value.globalOffsets",
    ),
    "type-differs-from-control": Case(
        set_in(lambda t: item(t, from_name="realis"), "type", "textarea"),
        "type is the result type of the control in the labeling config",
        field="type",
    ),
    "to-name-not-the-text": Case(
        set_in(span, "to_name", "html"),
        "to_name is the labeling config's object (text)",
        field="to_name",
    ),
    "origin-unknown": Case(
        set_in(span, "origin", "robot"),
        "origin is one of manual, prediction, prediction-changed",
        field="origin",
    ),
    "offset-float": Case(
        set_in(lambda t: span(t)["value"], "start", 4.0),
        "value.start is an integer (64-bit)",
        field="value.start",
    ),
    "offset-bool": Case(
        set_in(lambda t: span(t)["value"], "start", True),
        "value.start is an integer (64-bit)",
        field="value.start",
    ),
    "region-id-int": Case(set_in(span, "id", 5), "id is a string", field="id"),
    "two-labels-on-one-region": Case(
        set_in(lambda t: span(t)["value"], "labels", ["ORG", "GPE"]),
        "exactly one label per region",
        field="value.labels",
    ),
    "region-id-duplicated": Case(
        append_copy(lambda t: item(t, id="en_norp_29"), id="e_pentagon"),
        "region ids are unique within an annotation",
        field="id",
    ),
    "attribute-two-values": Case(
        set_in(lambda t: item(t, from_name="realis")["value"], "choices", ["ACTUAL", "PLANNED"]),
        "exactly one choice string per region",
        field="value.choices",
    ),
    "attribute-given-twice": Case(
        append_copy(lambda t: item(t, from_name="realis"), value={"choices": ["NEGATED"]}),
        "one value per attribute and region",
        field="realis",
    ),
    "attribute-offsets-differ-from-region": Case(
        task_edit(
            lambda t: item(t, from_name="realis")["value"].update(
                start=item(t, from_name="realis")["value"]["start"] + 1
            )
        ),
        "a per-region attribute has its region's start/end",
        field="realis: value.start/end",
    ),
    "attribute-on-the-wrong-layer": Case(
        append_copy(
            lambda t: item(t, from_name="approximate"),
            id="e_pentagon",
            value={"start": 4, "end": 12},
        ),
        "attribute belongs to its region's layer",
        field="approximate",
    ),
    "number-as-string": Case(
        set_in(lambda t: item(t, from_name="value")["value"], "number", "650"),
        "value.number is a finite number",
        field="value.number",
    ),
    "number-beyond-float64-precision": Case(
        set_in(lambda t: item(t, from_name="value")["value"], "number", 2**60 + 1),
        "value.number is a finite number",
        field="value.number",
    ),
    "approximate-not-true-or-false": Case(
        set_in(lambda t: item(t, from_name="approximate")["value"], "choices", ["yes"]),
        "approximate is true or false",
        field="approximate",
    ),
    "single-choice-with-two-values": Case(
        set_in(
            lambda t: item(t, from_name="primary_frame")["value"],
            "choices",
            ["SECURITY_DEFENSE", "DIPLOMACY"],
        ),
        "primary_frame takes one value",
        field="value.choices",
    ),
    "notes-with-two-texts": Case(
        set_in(lambda t: item(t, from_name="notes")["value"], "text", ["one", "two"]),
        "notes takes one value",
        field="value.text",
    ),
    "article-level-control-twice": Case(
        append_copy(lambda t: item(t, from_name="stance_us_presence"), id="again"),
        "one result per article-level control and annotation",
        field="from_name",
    ),
    "article-level-value-not-a-string": Case(
        set_in(lambda t: item(t, from_name="quality_flags")["value"], "choices", [1]),
        "article-level values are a non-empty list of strings",
        field="value.choices",
    ),
    "multi-choice-repeated": Case(
        task_edit(
            lambda t: item(t, from_name="quality_flags")["value"].update(
                choices=item(t, from_name="quality_flags")["value"]["choices"] * 2
            )
        ),
        "values are not repeated",
        field="value.choices",
    ),
    "relation-direction-left": Case(
        set_in(relation, "direction", "left"),
        "relations point from the event (direction right)",
        field="direction",
    ),
    "relation-twice": Case(
        append_copy(relation), "relations are unique within an annotation", field="labels"
    ),
    "relation-role-not-a-string": Case(
        set_in(relation, "labels", [1]), "a relation has an argument role", field="labels"
    ),
    "relation-to-missing-region": Case(
        set_in(relation, "to_id", "no_such_region"),
        "relation joins regions of the same annotation",
        field="from/to",
        parser=False,
    ),
}


def mutated(root: Path, case: str) -> Path:
    CASES[case].mutate(root)
    return root


def _matches(problem: dict[str, Any], case: Case) -> bool:
    return (
        problem["rule"] == case.rule
        and problem["file"] == case.file
        and (case.field is None or case.field in str(problem["field"]))
    )


@pytest.mark.parametrize("case", list(CASES))
def test_parser_refuses_naming_file_record_field_rule_and_value(tmp_path: Path, case: str) -> None:
    root = mutated(copy_project(tmp_path / "proj"), case)
    before = snapshot(root / "annotations")
    paths = ProjectPaths(root)
    if CASES[case].parser:
        problems = read_annotation_tables(paths).problems
    else:
        problems = validate_project(paths, include_dist=False).problems
    found = [p.to_json() for p in problems]
    assert any(_matches(p, CASES[case]) for p in found), found
    # every report can be printed and serialized (lone surrogates are escaped)
    text = json.dumps(found, ensure_ascii=False)
    text.encode("utf-8")
    assert snapshot(root / "annotations") == before  # nothing moved, fixed or deleted


# -- validate and build agree, and a refused build keeps dist/ ---------------------------
@pytest.fixture(scope="module")
def built_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("built") / "proj")
    result = CliRunner().invoke(app, ["build"], env={"SAHELWIRE_ROOT": str(root)})
    assert result.exit_code == 0, result.output
    return root


def _errors(text: str) -> list[str]:
    return sorted(line for line in text.splitlines() if line.startswith("error: "))


def _invoke(root: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, list(args), env={"SAHELWIRE_ROOT": str(root)})
    # A typer.Exit is the command's own exit; anything else would be a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result


@pytest.mark.parametrize("case", list(CASES))
def test_validate_and_build_refuse_with_the_same_problems_and_keep_dist(
    built_project: Path, tmp_path: Path, case: str
) -> None:
    root = tmp_path / "proj"
    shutil.copytree(built_project, root)
    mutated(root, case)
    dist = snapshot(root / "dist")
    validated = _invoke(root, "validate", "--json")
    built = _invoke(root, "build")
    assert validated.exit_code == 1 and built.exit_code == 1, validated.output + built.output
    problems = json.loads(validated.stdout)["problems"]
    assert any(_matches(p, CASES[case]) for p in problems), problems
    # the same problems, as build prints them ("error: <problem>" per line)
    assert sorted(f"error: {Problem(**p)}" for p in problems) == _errors(built.stderr)
    assert "the previous build folder is intact" in built.stderr
    assert snapshot(root / "dist") == dist


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith("annotators-file-")])
def test_a_broken_annotator_list_is_one_problem_not_one_per_annotation(
    tmp_path: Path, case: str
) -> None:
    # Each annotation's "annotator is a known user" only repeated it (15 more on the
    # committed corpus): the list unread, none is judged (its one problem has no record).
    root = mutated(copy_project(tmp_path / "proj"), case)
    result = _invoke(root, "validate", "--json")
    assert result.exit_code == 1, result.output
    problems = json.loads(result.stdout)["problems"]
    if case != "annotators-file-malformed":
        assert len(problems) == 1 and _matches(problems[0], CASES[case]), problems
        assert problems[0]["record"] is None
        return
    # An entry not understood still names its e-mail: the list's problem, and none for
    # that annotator's annotations. (The list also leaves out ai-annotator-2, whose
    # annotations are each reported, rightly.)
    listed = [p for p in problems if p["file"] == CASES[case].file]
    assert len(listed) == 1 and listed[0]["record"] == "ai-annotator-1@sahelwire.local"
    unknown = {p["value"] for p in problems if p["rule"] == "annotator is a known user"}
    assert unknown == {"ai-annotator-2@sahelwire.local"}


@pytest.mark.parametrize("command", ["agreement", "adjudicate"])
@pytest.mark.parametrize(
    "case", ["duplicate-key", "result-null", "completed-by-unknown-email", "upper-case-extension"]
)
def test_agreement_and_adjudicate_refuse_invalid_input(
    tmp_path: Path, command: str, case: str
) -> None:
    root = mutated(copy_project(tmp_path / "proj"), case)
    result = _invoke(root, command, "--json")
    assert result.exit_code == 1, result.output
    problems = json.loads(result.stdout)["problems"]
    assert any(_matches(p, CASES[case]) for p in problems), problems
    assert f"{command} refused" in result.stderr


@pytest.mark.parametrize("command", ["agreement", "adjudicate", "validate"])
def test_committed_project_passes_every_command(tmp_path: Path, command: str) -> None:
    result = _invoke(copy_project(tmp_path / "proj"), command)
    assert result.exit_code == 0, result.output


# -- the real command line, on the classes that used to crash ---------------------------
@pytest.mark.parametrize(
    "case", ["lone-surrogate-task-text", "lone-surrogate-value-text", "int-thousands-of-digits"]
)
def test_cli_refuses_without_traceback_and_prints_valid_json(tmp_path: Path, case: str) -> None:
    root = mutated(copy_project(tmp_path / "proj"), case)
    result = run_cli(root, "validate", "--json")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    problems = json.loads(result.stdout)["problems"]
    assert any(_matches(p, CASES[case]) for p in problems), problems
    refused = run_cli(root, "build")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert not (root / "dist").exists()


def test_cli_agreement_and_adjudicate_exit_1_on_a_lone_surrogate(tmp_path: Path) -> None:
    root = mutated(copy_project(tmp_path / "proj"), "lone-surrogate-value-text")
    for command in ("agreement", "adjudicate"):
        refused = run_cli(root, command, "--json")
        assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert json.loads(refused.stdout)["ok"] is False


# -- error messages name the real file ---------------------------------------------------
def _first_entity_id(t: dict[str, Any]) -> None:
    item(t, from_name="entity_id")["value"]["text"] = ["ent_not_registered"]


def _unknown_label(t: dict[str, Any]) -> None:
    span(t)["value"]["labels"] = ["SPACESHIP"]


@pytest.mark.parametrize(
    ("mutate", "rule"),
    [
        (_unknown_label, None),  # a pandera schema error
        (_first_entity_id, "entity_id in schemas/entities.yaml"),  # a registry error
        (
            lambda t: relation(t).update(to_id="no_such_region"),
            "relation joins regions of the same annotation",
        ),
    ],
    ids=["schema", "registry", "relation"],
)
def test_errors_name_the_export_file_not_the_folder(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], rule: str | None
) -> None:
    root = copy_project(tmp_path / "proj")
    task_edit(mutate)(root)
    result = _invoke(root, "validate", "--json", "--no-dist")
    problems = [p for p in json.loads(result.stdout)["problems"] if p["file"] != "gold"]
    assert problems and result.exit_code == 1
    if rule is not None:
        assert any(p["rule"] == rule for p in problems), problems
    assert {p["file"] for p in problems} == {F001}, problems


def test_a_temp_file_left_by_a_killed_pull_is_skipped(tmp_path: Path) -> None:
    """`write_bytes_atomic` leaves `.<name>.<random>.tmp` when killed; the file it was
    replacing is complete, so the leftover is not an export (anything else is refused)."""
    root = copy_project(tmp_path / "proj")
    half = _path(root).read_bytes()[:1000]
    (root / EXPORTS / f".{A001}.json.k3x_9q2a.tmp").write_bytes(half)
    assert read_annotation_tables(ProjectPaths(root)).problems == []
    (root / EXPORTS / f".{A001}.json.tmp").write_bytes(half)  # not the atomic-write pattern
    problems = read_annotation_tables(ProjectPaths(root)).problems
    assert [(p.file, p.rule) for p in problems] == [
        (f"{EXPORTS}/.{A001}.json.tmp", "export files are named <article_id>.json")
    ]
