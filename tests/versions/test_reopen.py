"""Re-opening a published version for annotation: ``labelstudio push --from-release vX.Y.Z``.

The real v0.1.0 is rebuilt from its commit (its own code) and pushed into the session's real
Label Studio server; tasks and predictions are read back through the SDK. What the test expects
is read from the release's Parquet files here, independently of sahelwire.versions.reopen.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from label_studio_sdk import LabelStudio

from helpers import ROOT, copy_project, ls_projects, ls_tasks, run_cli
from sahelwire.schema.taxonomy import load_taxonomy
from sahelwire.versions.reopen import PROVENANCE_KEY, article_results, counted_rows

MANIFEST = json.loads((ROOT / "releases/v0.1.0.json").read_text(encoding="utf-8"))
MODEL_VERSION = "sahelwire-v0.1.0-gold"
GOLD_CONFIGS = ("documents", "mentions", "events", "quantities", "ner_bio")


# -- the release, read independently --------------------------------------------------


def names(feature: Any, value: Any) -> Any:
    """Decode class-label ids with the feature names stored in the Parquet file."""
    if value is None or not isinstance(feature, dict):
        return value
    if feature.get("_type") == "ClassLabel":
        return None if value < 0 else feature["names"][value]
    if feature.get("_type") == "List":
        return [names(feature["feature"], v) for v in value]
    if "_type" not in feature:
        return {k: names(f, value.get(k)) for k, f in feature.items()}
    return value


def release_rows(folder: Path, config: str) -> list[dict[str, Any]]:
    rows = []
    for path in sorted((folder / "data" / config).glob("*.parquet")):
        table = pq.read_table(path)
        features = json.loads(table.schema.metadata[b"huggingface"])["info"]["features"]
        rows += [{k: names(features[k], v) for k, v in r.items()} for r in table.to_pylist()]
    return rows


@pytest.fixture(scope="module")
def v010(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v0.1.0 rebuilt from its commit by its own code (byte-identical, or build refuses)."""
    out = tmp_path_factory.mktemp("release") / "dist-v0.1.0"
    built = run_cli(ROOT, "build", "--release", "v0.1.0", "--out", str(out))
    assert built.returncode == 0, built.stderr
    return out


@pytest.fixture(scope="module")
def v020(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """v0.2.0 rebuilt from its commit by its own code: its gold was made under taxonomy
    3.0.0, so every required field of the editor is filled."""
    out = tmp_path_factory.mktemp("release") / "dist-v0.2.0"
    built = run_cli(ROOT, "build", "--release", "v0.2.0", "--out", str(out))
    assert built.returncode == 0, built.stderr
    return out


def v010_annotations(root: Path) -> None:
    """Keep, per task, only the annotation v0.1.0 was built from: the first annotator's
    first one (later versions and the second annotator came with v0.2.0; history is kept in
    the exports, so it is still there). Decisions are for v0.2.0's conflicts: removed."""
    for path in (root / "annotations" / "exports").glob("*.json"):
        task = json.loads(path.read_text(encoding="utf-8"))
        task["annotations"] = [min(task["annotations"], key=lambda a: (a["updated_at"], a["id"]))]
        text = json.dumps(task, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
        path.write_text(text, encoding="utf-8")
    shutil.rmtree(root / "annotations" / "decisions", ignore_errors=True)


def project_copy(dest: Path) -> Path:
    """A copy of the project without its exports (a fresh server needs no restore) but with
    releases/, so releases/v0.1.0.json is there to check files against."""
    root = copy_project(dest)
    for exported in (root / "annotations" / "exports").glob("*.json"):
        exported.unlink()
    (root / "annotations" / "annotators.json").unlink()
    shutil.rmtree(
        root / "annotations" / "decisions", ignore_errors=True
    )  # they decide the removed exports
    shutil.copytree(ROOT / "releases", root / "releases")
    return root


def retitle(root: Path) -> str:
    title = f"SahelWire reopen {uuid.uuid4().hex[:8]}"
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    old = 'label_studio_project_title = "SahelWire US-Niger v1"'
    assert old in text
    pyproject.write_text(text.replace(old, f'label_studio_project_title = "{title}"'))
    return title


def server_env(ls_server: Any) -> dict[str, str | None]:
    return {"LABEL_STUDIO_URL": ls_server.url, "LABEL_STUDIO_API_KEY": ls_server.api_key}


def project_state(client: LabelStudio, title: str) -> tuple[int, list[Any], list[Any]]:
    project = next(p for p in ls_projects(client) if p.title == title)
    tasks = list(ls_tasks(client, project=project.id, fields="all"))
    predictions = list(client.predictions.list(project=project.id))
    return int(project.id), tasks, predictions


# -- the bar ---------------------------------------------------------------------------


@pytest.mark.labelstudio
def test_push_from_release_puts_every_gold_item_as_an_attributed_prediction(
    tmp_path: Path, ls_server: Any, v010: Path
) -> None:
    # A clone: the release is rebuilt from its commit in the clone's own history (no --path).
    root = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(root)], check=True)
    for exported in (root / "annotations" / "exports").glob("*.json"):
        exported.unlink()
    (root / "annotations" / "annotators.json").unlink()
    shutil.rmtree(
        root / "annotations" / "decisions", ignore_errors=True
    )  # they decide the removed exports
    title = retitle(root)
    env = server_env(ls_server)

    pushed = run_cli(root, "labelstudio", "push", "--from-release", "v0.1.0", env=env)
    assert pushed.returncode == 0, pushed.stderr
    assert "rebuilt from commit eae997efa3ff" in pushed.stdout
    assert "tasks 5 created" in pushed.stdout and "predictions 5 added" in pushed.stdout

    client = LabelStudio(base_url=ls_server.url, api_key=ls_server.api_key)
    project_id, tasks, predictions = project_state(client, title)
    documents = {d["id"]: d for d in release_rows(v010, "documents")}
    by_article = {t.data["article_id"]: t for t in tasks}
    assert sorted(by_article) == sorted(documents) and len(tasks) == len(documents)
    prediction_of = {}
    for p in predictions:
        assert p.task not in prediction_of, "one release prediction per task"
        prediction_of[p.task] = p
    # Label Studio shows annotators the project's model version: the release's now.
    assert client.projects.get(id=project_id).model_version == MODEL_VERSION

    # Who made what, from the release's annotations_raw: the latest non-cancelled annotation
    # of each annotator (there is one per article in v0.1.0, none cancelled or superseded).
    raw = release_rows(v010, "annotations_raw")
    assert not any(r["cancelled"] for r in raw)
    made: dict[tuple[str, str], set[str]] = defaultdict(set)
    key_of: dict[tuple[int, str], str] = {}
    for r in raw:
        if r["kind"] == "region":
            key = f"region:{r['layer']}:{r['label']}:{r['start']}:{r['end']}"
            key_of[(r["annotation_id"], r["region_id"])] = key
            made[(r["article_id"], key)].add(r["annotator"])
        elif r["kind"] == "choice":
            made[(r["article_id"], f"choice:{r['layer']}:{r['label']}")].add(r["annotator"])
    for r in raw:
        if r["kind"] == "relation":
            src = key_of[(r["annotation_id"], r["region_id"])].removeprefix("region:")
            dst = key_of[(r["annotation_id"], r["to_region_id"])].removeprefix("region:")
            made[(r["article_id"], f"relation:{src}->{dst}:{r['label']}")].add(r["annotator"])
    annotators = {r["annotator"] for r in raw}
    assert annotators == {"ai-annotator-1@sahelwire.local"}

    checked: defaultdict[str, int] = defaultdict(int)
    for aid, doc in documents.items():
        task = by_article[aid]
        text = doc["text"]
        assert task.data == {"text": text, "article_id": aid, "text_sha256": doc["sha256"]}
        # nothing credited to anyone: no annotation, no draft, only the prediction
        assert (task.total_annotations, task.cancelled_annotations) == (0, 0)
        assert list(client.annotations.list(id=task.id)) == []
        prediction = prediction_of[task.id]
        assert prediction.model_version == MODEL_VERSION
        dumped = json.dumps(prediction.model_dump(mode="json"))
        assert ls_server.admin_email not in dumped
        result = prediction.result

        def provenance(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
            prov = item[PROVENANCE_KEY]
            assert prov["release"] == "v0.1.0"
            return {i["item"]: i for i in prov["items"]}

        def credited(
            item: dict[str, Any], key: str, aid: str = aid, doc: dict[str, Any] = doc
        ) -> None:
            entry = provenance(item)[key]
            assert set(entry["annotators"]) == made[(aid, key)] != set(), key
            assert entry["of"] == doc["n_annotators"] and entry["adjudicated"] is False

        spans = {
            (r["from_name"], r["value"]["labels"][0], r["value"]["start"], r["value"]["end"]): r
            for r in result
            if r["type"] == "labels"
        }
        for layer in ("zones", "entities", "events", "quantities"):
            for s in doc[layer]:
                item = spans[(layer, s["label"], s["start"], s["end"])]
                # exact offsets (code points = Label Studio's unit) and text
                assert item["value"]["text"] == s["text"] == text[s["start"] : s["end"]]
                credited(item, f"region:{layer}:{s['label']}:{s['start']}:{s['end']}")
                checked["spans"] += 1
                for arg in s.get("arguments") or []:
                    rels = [
                        r
                        for r in result
                        if r["type"] == "relation"
                        and r["from_id"] == item["id"]
                        and r["labels"] == [arg["role"]]
                        and any(
                            t["id"] == r["to_id"]
                            and (t["value"]["start"], t["value"]["end"], t["value"]["text"])
                            == (arg["start"], arg["end"], arg["text"])
                            for t in spans.values()
                        )
                    ]
                    assert len(rels) == 1, (aid, s, arg)
                    credited(rels[0], next(iter(provenance(rels[0]))))
                    checked["relations"] += 1
        for field in ("stance_us_presence", "primary_frame", "quality_flags"):
            values = doc[field] if isinstance(doc[field], list) else [doc[field]]
            for v in [v for v in values if v is not None]:
                item = next(r for r in result if r.get("from_name") == field)
                assert v in item["value"]["choices"]
                credited(item, f"choice:{field}:{v}")
                checked["choices"] += 1
        if doc["notes"]:
            item = next(r for r in result if r.get("from_name") == "notes")
            assert "\n".join(item["value"]["text"]) == doc["notes"]
            for v in item["value"]["text"]:
                credited(item, f"choice:notes:{v}")
            checked["choices"] += 1
    gold_rows = MANIFEST["rows"]
    assert checked["spans"] == sum(
        len(d[la])
        for d in documents.values()
        for la in ("zones", "entities", "events", "quantities")
    ) and checked["spans"] >= sum(gold_rows["mentions"].values())
    assert checked["relations"] == sum(len(e["arguments"]) for e in release_rows(v010, "events"))
    assert checked["relations"] > 0 and checked["choices"] > 0

    # A second push changes nothing: no task, no prediction added.
    again = run_cli(root, "labelstudio", "push", "--from-release", "v0.1.0", env=env)
    assert again.returncode == 0, again.stderr
    assert "tasks 0 created, 5 reused" in again.stdout
    assert "predictions 0 added, 5 already there" in again.stdout
    _, tasks2, predictions2 = project_state(client, title)
    assert sorted(t.id for t in tasks2) == sorted(t.id for t in tasks)
    assert sorted(p.id for p in predictions2) == sorted(p.id for p in predictions)

    # Submitted unchanged, the predictions are the release's gold again: as annotations by
    # the annotator they credit, they build to v0.1.0's gold Parquet files byte for byte.
    # v0.1.0's Parquet format predates this code's (article_id, mention ids, zones), so the
    # yardstick is today's build of v0.1.0's annotations, still in the committed exports
    # (tests/versions/test_rebuild.py proves the release's own bytes from its commit).
    committed = copy_project(tmp_path / "committed")
    v010_annotations(committed)
    reference = run_cli(committed, "build", "--out", str(tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr
    exports = root / "annotations" / "exports"
    for n, (aid, task) in enumerate(sorted(by_article.items()), start=1):
        result = prediction_of[task.id].result
        (who,) = {a for r in result for i in r[PROVENANCE_KEY]["items"] for a in i["annotators"]}
        submitted = [{k: v for k, v in r.items() if k != PROVENANCE_KEY} for r in result]
        (exports / f"{aid}.json").write_text(
            json.dumps(
                {
                    "id": n,
                    "data": task.data,
                    "annotations": [
                        {
                            "id": n,
                            "unique_id": str(uuid.uuid4()),
                            "completed_by": {"email": who},
                            "result": submitted,
                            "was_cancelled": False,
                            "ground_truth": False,
                            "lead_time": None,
                            "created_at": "2026-12-03T00:00:00Z",
                            "updated_at": "2026-12-03T00:00:00Z",
                            "prediction": {"model_version": MODEL_VERSION},
                        }
                    ],
                },
                ensure_ascii=False,
                indent=2,
                sort_keys=True,
            )
            + "\n",
            encoding="utf-8",
        )
    (root / "annotations" / "annotators.json").write_text(json.dumps({who: {}}) + "\n")
    built = run_cli(root, "build", "--out", str(tmp_path / "rebuilt"))
    assert built.returncode == 0, built.stderr
    compared = 0
    for config in GOLD_CONFIGS:
        for want in sorted((tmp_path / "reference" / "data" / config).glob("*.parquet")):
            got = tmp_path / "rebuilt" / want.relative_to(tmp_path / "reference")
            assert got.read_bytes() == want.read_bytes(), want.name
            compared += 1
    assert compared == 15


@pytest.mark.labelstudio
def test_push_from_release_refuses_a_project_holding_other_text(
    tmp_path: Path, ls_server: Any, v010: Path
) -> None:
    root = project_copy(tmp_path / "p")
    title = retitle(root)
    env = server_env(ls_server)
    # The project holds the raw articles (push), and one task's text was changed on the server.
    assert run_cli(root, "labelstudio", "push", env=env).returncode == 0
    client = LabelStudio(base_url=ls_server.url, api_key=ls_server.api_key)
    _, tasks, predictions = project_state(client, title)
    task = sorted(tasks, key=lambda t: t.data["article_id"])[2]
    other = {**task.data, "text": task.data["text"] + " (edited)"}
    client.tasks.update(id=task.id, data=other)

    refused = run_cli(
        root, "labelstudio", "push", "--from-release", "v0.1.0", "--path", str(v010), env=env
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr
    assert f"task {task.id} (article {task.data['article_id']}) holds another text" in (
        refused.stderr
    )
    assert "nothing pushed" in refused.stderr
    _, tasks_after, predictions_after = project_state(client, title)
    assert sorted(t.id for t in tasks_after) == sorted(t.id for t in tasks)
    assert sorted(p.id for p in predictions_after) == sorted(p.id for p in predictions)
    assert all(p.model_version != MODEL_VERSION for p in predictions_after)


# -- refusals before any server is touched --------------------------------------------

# A closed port: a command that tried to reach a server would fail with "cannot reach".
NO_SERVER: dict[str, str | None] = {
    "LABEL_STUDIO_URL": "http://127.0.0.1:9",
    "LABEL_STUDIO_API_KEY": "0" * 40,
}


@pytest.fixture()
def copied(tmp_path: Path) -> Iterator[Path]:
    yield project_copy(tmp_path / "p")


def test_push_from_release_refuses_an_unknown_version_or_files_that_are_not_the_release(
    copied: Path, v010: Path, tmp_path: Path
) -> None:
    unknown = run_cli(copied, "labelstudio", "push", "--from-release", "v9.9.9", env=NO_SERVER)
    assert unknown.returncode == 2, unknown.stderr
    listed = ", ".join(sorted(p.stem for p in (ROOT / "releases").glob("v*.json")))
    assert f"no release manifest v9.9.9.json (releases: {listed})" in unknown.stderr
    assert "cannot reach" not in unknown.stderr and "Traceback" not in unknown.stderr

    alone = run_cli(copied, "labelstudio", "push", "--path", str(v010), env=NO_SERVER)
    assert alone.returncode == 2 and "use it with --from-release" in alone.stderr

    # a download whose documents file lost one byte's worth of truth
    download = tmp_path / "download"
    shutil.copytree(v010, download)
    victim = download / "data/documents/train-00000-of-00001.parquet"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.write_bytes(bytes(data))
    changed = run_cli(
        copied,
        "labelstudio",
        "push",
        "--from-release",
        "v0.1.0",
        "--path",
        str(download),
        env=NO_SERVER,
    )
    assert changed.returncode == 1, changed.stderr
    assert "is not release v0.1.0" in changed.stderr and "nothing pushed" in changed.stderr
    assert "data/documents/train-00000-of-00001.parquet field sha256" in changed.stderr
    assert "cannot reach" not in changed.stderr and "Traceback" not in changed.stderr

    # a copy without git history cannot rebuild the release: say so, and how else
    no_history = run_cli(copied, "labelstudio", "push", "--from-release", "v0.1.0", env=NO_SERVER)
    assert no_history.returncode == 2, no_history.stderr
    assert "cannot rebuild v0.1.0 here" in no_history.stderr and "--path" in no_history.stderr


def test_push_from_release_refuses_what_could_not_be_pulled_or_shown(
    copied: Path, v010: Path
) -> None:
    # 1. an article whose raw text changed since the release: work on the release's text
    #    could never be pulled (pull needs the raw text)
    manifest = copied / "dataset/raw/manifest.jsonl"
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    target = rows[1]
    path = copied / "dataset/raw/texts" / f"{target['id']}.txt"
    text = path.read_text(encoding="utf-8") + "\nCorrection appended after the release.\n"
    path.write_text(text, encoding="utf-8")
    target.update(
        sha256=hashlib.sha256(text.encode()).hexdigest(),
        n_chars=len(text),
        n_bytes=len(text.encode()),
    )
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    args = ("labelstudio", "push", "--from-release", "v0.1.0", "--path", str(v010))
    changed = run_cli(copied, *args, env=NO_SERVER)
    assert changed.returncode == 1, changed.stderr
    assert f"dataset/raw/manifest.jsonl record {target['id']} field sha256" in changed.stderr
    assert "could not be pulled" in changed.stderr and "cannot reach" not in changed.stderr

    # 2. a label of the release that today's labeling config lacks (Label Studio would drop
    #    the region from the prediction)
    taxonomy = copied / "schemas/taxonomy.yaml"
    lines = taxonomy.read_text(encoding="utf-8").splitlines(keepends=True)
    norp = next(i for i, line in enumerate(lines) if "name: NORP" in line)
    taxonomy.write_text("".join(lines[:norp] + lines[norp + 1 :]), encoding="utf-8")
    assert "NORP" not in load_taxonomy(taxonomy).layer("entities").label_names
    dropped = run_cli(copied, *args, env=NO_SERVER)
    assert dropped.returncode == 1, dropped.stderr
    assert "field entities.label: rule the label exists in schemas/taxonomy.yaml value 'NORP'" in (
        dropped.stderr
    )
    assert "Traceback" not in dropped.stderr and "cannot reach" not in dropped.stderr


# -- attribution with several annotators and decisions (no server needed) --------------


def raw_row(annotation: int, annotator: str, kind: str, **kw: Any) -> dict[str, Any]:
    base = {
        "article_id": "a1",
        "annotation_id": annotation,
        "annotator": annotator,
        "cancelled": False,
        "kind": kind,
        "updated_at": f"2026-12-0{annotation % 9 + 1}T00:00:00Z",
        "region_id": None,
        "to_region_id": None,
        "start": None,
        "end": None,
        "text": None,
        **dict.fromkeys(("entity_id", "event_id", "realis", "value", "unit", "approximate")),
    }
    return {**base, **kw}


def region_row(
    annotation: int, who: str, rid: str, layer: str, label: str, s: int, e: int, **attrs: Any
) -> dict[str, Any]:
    text = TEXT[s:e]
    return raw_row(
        annotation,
        who,
        "region",
        layer=layer,
        label=label,
        region_id=rid,
        start=s,
        end=e,
        text=text,
        **attrs,
    )


TEXT = "Niger said the US troops left Agadez."


def test_attribution_names_only_who_made_each_item_and_marks_decisions() -> None:
    a, b, c = "a@x.test", "b@x.test", "c@x.test"
    rows = [
        # a: an older annotation (superseded by 4) and a cancelled one: neither counts
        region_row(1, a, "r9", "entities", "ORG", 0, 5),
        {**region_row(2, a, "r8", "entities", "PERSON", 30, 36), "cancelled": True},
        region_row(4, a, "r1", "entities", "GPE", 0, 5, entity_id="ent_niger"),
        region_row(4, a, "r2", "events", "STATEMENT", 6, 10, realis="ACTUAL"),
        raw_row(
            4, a, "relation", layer="relations", label="AGENT", region_id="r2", to_region_id="r1"
        ),
        raw_row(4, a, "choice", layer="primary_frame", label="DIPLOMACY"),
        # b: same entity with another entity_id, same event; GPE Agadez alone (a minority,
        # kept by a decision); a note
        region_row(5, b, "x1", "entities", "GPE", 0, 5, entity_id="ent_other"),
        region_row(5, b, "x2", "events", "STATEMENT", 6, 10, realis="ACTUAL"),
        region_row(5, b, "x3", "entities", "GPE", 30, 36),
        raw_row(
            5, b, "relation", layer="relations", label="AGENT", region_id="x2", to_region_id="x1"
        ),
        raw_row(5, b, "choice", layer="primary_frame", label="DIPLOMACY"),
        raw_row(5, b, "choice", layer="notes", label="checked twice"),
        # c: the event only
        region_row(6, c, "y2", "events", "STATEMENT", 6, 10, realis="PLANNED"),
    ]
    counted = counted_rows(rows)
    assert {r["annotation_id"] for r in counted} == {4, 5, 6}
    doc: dict[str, Any] = {
        "id": "a1",
        "text": TEXT,
        "n_annotators": 3,
        "zones": [],
        "entities": [
            {"start": 0, "end": 5, "text": "Niger", "label": "GPE", "entity_id": "ent_niger"},
            {"start": 30, "end": 36, "text": "Agadez", "label": "GPE", "entity_id": None},
        ],
        "events": [
            {
                "start": 6,
                "end": 10,
                "text": "said",
                "label": "STATEMENT",
                "realis": "ACTUAL",
                "event_id": None,
                "arguments": [{"role": "AGENT", "start": 0, "end": 5, "text": "Niger"}],
            },
        ],
        "quantities": [],
        "stance_us_presence": None,
        "primary_frame": "DIPLOMACY",
        "quality_flags": [],
        "notes": "checked twice",
    }
    decisions = {
        "region:entities:GPE:30:36": {"action": "accept", "decided_by": "lead@x.test"},
        "attr:entities:GPE:0:5:entity_id": {
            "action": "set",
            "value": "ent_niger",
            "decided_by": "lead@x.test",
        },
    }
    taxonomy = load_taxonomy(ROOT / "schemas/taxonomy.yaml")
    results, problems, undecided = article_results(
        "v9.0.0", doc, counted, taxonomy, lambda article: decisions
    )
    assert problems == [] and undecided == []
    prov = {i["item"]: i for r in results for i in r[PROVENANCE_KEY]["items"]}
    assert prov["region:entities:GPE:0:5"] == {
        "item": "region:entities:GPE:0:5",
        "annotators": [a, b],
        "of": 3,
        "adjudicated": False,
    }
    # a tie between the makers' entity ids, settled by a decision: only a gave that value
    assert prov["attr:entities:GPE:0:5:entity_id"]["annotators"] == [a]
    assert prov["attr:entities:GPE:0:5:entity_id"]["adjudicated"] is True
    assert prov["attr:entities:GPE:0:5:entity_id"]["decided_by"] == "lead@x.test"
    # one of three: kept by a decision, credited to its maker, never to the decider
    assert prov["region:entities:GPE:30:36"]["annotators"] == [b]
    assert prov["region:entities:GPE:30:36"]["decided_by"] == "lead@x.test"
    assert prov["region:events:STATEMENT:6:10"]["annotators"] == [a, b, c]
    assert prov["attr:events:STATEMENT:6:10:realis"] == {
        "item": "attr:events:STATEMENT:6:10:realis",
        "annotators": [a, b],
        "of": 3,
        "adjudicated": False,
    }
    assert prov["relation:events:STATEMENT:6:10->entities:GPE:0:5:AGENT"]["annotators"] == [a, b]
    assert prov["choice:primary_frame:DIPLOMACY"]["annotators"] == [a, b]
    assert prov["choice:notes:checked twice"]["annotators"] == [b]
    # the superseded ORG and the cancelled PERSON are nowhere
    assert not any("ORG" in k or "PERSON" in k for k in prov)

    # a gold item nobody made (a release whose files contradict each other) is refused
    bad = {
        **doc,
        "entities": [
            *doc["entities"],
            {"start": 15, "end": 17, "text": "US", "label": "GPE", "entity_id": None},
        ],
    }
    _, problems, _ = article_results("v9.0.0", bad, counted, taxonomy, lambda article: {})
    assert [p.record for p in problems] == ["a1 region:entities:GPE:15:17"]
    # a span whose text is not the article's at its offsets is refused, never shifted
    shifted = {**doc, "entities": [{**doc["entities"][0], "start": 1, "end": 6}]}
    _, problems, _ = article_results("v9.0.0", shifted, counted, taxonomy, lambda article: {})
    assert any(p.rule.startswith("text[start:end]") for p in problems)


# -- what an annotator sees and submits (real editor, headless Chromium) ----------------

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


@pytest.mark.labelstudio
@pytest.mark.browser
@pytest.mark.skipif(not shutil.which("chromium"), reason="Debian chromium is not installed")
def test_the_editor_starts_from_the_release_gold_and_submits_it_unchanged(
    ls_project: Any, ls_server: Any, v020: Path, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    root = ls_project.root
    shutil.copytree(ROOT / "releases", root / "releases")
    # v0.2.0: the editor refuses to submit a quantity without a bound (required from
    # taxonomy 3.0.0), so a re-opened v0.1.0 needs one added per quantity before submitting
    pushed = run_cli(root, "labelstudio", "push", "--from-release", "v0.2.0", "--path", str(v020))
    assert pushed.returncode == 0, pushed.stderr
    client = LabelStudio(base_url=ls_server.url, api_key=ls_server.api_key)
    title = next(
        line.split('"')[1]
        for line in (root / "pyproject.toml").read_text().splitlines()
        if line.startswith("label_studio_project_title")
    )
    project_id, tasks, predictions = project_state(client, title)
    article = "000_68e681b97d6ec23c"
    task = next(t for t in tasks if t.data["article_id"] == article)
    (prediction,) = [p for p in predictions if p.task == task.id]
    spans = [r for r in prediction.result if r["type"] == "labels"]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{ls_server.url}/user/login/")
            page.fill("input[name=email]", ls_server.admin_email)
            page.fill("input[name=password]", ls_server.admin_password)
            page.click("button[type=submit], input[type=submit]")
            page.wait_for_load_state("networkidle")
            page.goto(f"{ls_server.url}/projects/{project_id}/data?task={task.id}")
            page.wait_for_selector(".lsf-htx-richtext .htx-highlight", timeout=90_000)
            page.wait_for_timeout(1500)
            # the release's regions are on the page before anyone touched it
            # (every region is at least one highlight element; overlaps split them further)
            shown = page.evaluate(
                "() => document.querySelectorAll('.lsf-htx-richtext .htx-highlight').length"
            )
            assert shown >= len(spans)
            page.get_by_test_id("bottombar-submit-button").click()
            page.wait_for_timeout(2500)
        finally:
            browser.close()

    (submitted,) = list(client.annotations.list(id=task.id))
    # the editor copied the regions, not the provenance (that stays the prediction's)
    assert not any(PROVENANCE_KEY in r for r in submitted.result)
    assert sorted(
        (r["from_name"], r["value"]["start"], r["value"]["end"], r["value"]["text"])
        for r in submitted.result
        if r["type"] == "labels"
    ) == sorted(
        (r["from_name"], r["value"]["start"], r["value"]["end"], r["value"]["text"]) for r in spans
    )
    # pulled and built, the submitted copy is the release's gold for that article, and the
    # annotation records the release prediction it started from
    # The yardstick: today's build of the committed gold (v0.2.0's annotations).
    committed = copy_project(tmp_path / "committed")
    reference = run_cli(committed, "build", "--out", str(tmp_path / "reference"))
    assert reference.returncode == 0, reference.stderr
    assert run_cli(root, "labelstudio", "pull", "--quiet").returncode == 0
    export = json.loads((root / f"annotations/exports/{article}.json").read_text())
    assert export["annotations"][0]["prediction"] == {"model_version": "sahelwire-v0.2.0-gold"}
    assert export["annotations"][0]["completed_by"] == {"email": ls_server.admin_email}
    built = run_cli(root, "build", "--out", str(tmp_path / "dist"))
    assert built.returncode == 0, built.stderr
    (mine,) = [
        d for d in release_rows(tmp_path / "dist", "documents") if d["article_id"] == article
    ]
    (theirs,) = [
        d for d in release_rows(tmp_path / "reference", "documents") if d["article_id"] == article
    ]
    gold = ("zones", "entities", "events", "quantities", "stance_us_presence", "primary_frame",
            "quality_flags", "notes", "title", "clean_text")  # fmt: skip
    assert {k: mine[k] for k in gold} == {k: theirs[k] for k in gold}


def test_prediction_rows_of_annotations_raw_are_nobodys_work() -> None:
    # annotations_raw publishes predictions too (source = prediction, no annotation id)
    from sahelwire.versions.reopen import counted_rows

    row = {"article_id": "a", "annotator": "x@y", "cancelled": False, "updated_at": "t"}
    raw = [
        {**row, "source": "annotation", "annotation_id": 1},
        {**row, "source": "prediction", "annotation_id": None, "annotator": None},
    ]
    assert counted_rows(raw) == raw[:1]
