"""No sentence of the card or of croissant.json contradicts the data it describes.

Each fact is recomputed here independently: from the raw Label Studio exports (JSON, read
directly) and the built Parquet files (pyarrow), never through the code that wrote the card.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import ROOT, copy_project, run_cli, split_rows
from sahelwire.io.config import Settings
from sahelwire.schema.taxonomy import load_taxonomy

TAX = load_taxonomy(ROOT / "schemas/taxonomy.yaml")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("facts"))
    result = run_cli(root, "build")
    assert result.returncode == 0, result.stderr
    return root


# A person who takes ai-annotator-2's place in every export (the committed data has none).
PERSON = "amina.person@example.org"


@pytest.fixture(scope="module")
def with_a_person(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed project with ai-annotator-2's annotations made by a person, in the
    editor: a lead time on each, a parent prediction on all but one (as Label Studio
    exports them)."""
    root = copy_project(tmp_path_factory.mktemp("person"))
    for n, export in enumerate(sorted((root / "annotations/exports").glob("*.json"))):
        task = json.loads(export.read_text(encoding="utf-8"))
        for a in task["annotations"]:
            if a["completed_by"]["email"] == "ai-annotator-2@sahelwire.local":
                a["completed_by"] = {"email": PERSON}
                a["lead_time"] = 300.5 + n
                a["parent_prediction"] = task["predictions"][-1]["id"] if n else None
        export.write_text(json.dumps(task, ensure_ascii=False, indent=1), encoding="utf-8")
    people = root / "annotations/annotators.json"
    known = json.loads(people.read_text(encoding="utf-8"))
    people.write_text(json.dumps({**known, PERSON: {}}, indent=2), encoding="utf-8")
    result = run_cli(root, "build")
    assert result.returncode == 0, result.stderr
    return root


def tasks(root: Path) -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text()) for p in sorted((root / "annotations/exports").glob("*.json"))
    ]


def rows(root: Path, config: str) -> dict[str, list[dict[str, Any]]]:
    return split_rows(root / "dist", config)


def section(card: str, name: str) -> str:
    return card.split(f"<!-- sahelwire:begin {name} -->")[1].split(
        f"<!-- sahelwire:end {name} -->"
    )[0]


def card_of(root: Path) -> str:
    return (root / "dist/README.md").read_text(encoding="utf-8")


def croissant_of(root: Path) -> dict[str, Any]:
    return json.loads((root / "dist/croissant.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("project", ["built", "with_a_person"])
def test_annotators_are_named_for_what_they_are(
    project: str, request: pytest.FixtureRequest
) -> None:
    built: Path = request.getfixturevalue(project)
    directory = json.loads((built / "annotations/annotators.json").read_text())
    accounts = {
        a["completed_by"]["email"]
        for t in tasks(built)
        for a in t["annotations"]
        if not a["was_cancelled"]
    }
    assert accounts <= set(directory)  # annotators.json is keyed by e-mail
    assert accounts
    ai = {a for a in accounts if a.startswith("ai-annotator")}
    people = accounts - ai
    card, croissant = card_of(built), croissant_of(built)
    provenance = section(card, "provenance")
    for account in accounts:
        kind = "AI assistant" if account in ai else "person"
        assert f"| `{account}` | {kind} |" in provenance
    everything = card + json.dumps(croissant, ensure_ascii=False)
    if not people:
        assert "annotated by people" not in everything.lower()
        assert "by no human annotator" in croissant["description"]
        assert "No person has annotated or reviewed this version" in provenance
        front = yaml.safe_load(card.split("---\n", 2)[1])
        assert front["annotations_creators"] == ["machine-generated"]
    else:
        # People are named as the AI accounts and the reviewers are (seen in a team
        # walkthrough: the sentence said only "1 human annotator account").
        n = len(people)
        named = f"{n} human annotator account{'s' if n > 1 else ''} ({', '.join(sorted(people))})"
        assert named in provenance
        assert named in croissant["description"]
        assert "No person has annotated or reviewed this version" not in provenance
    for account in ai:
        assert account in croissant["description"]
        assert any(account in line for line in croissant["rai:machineAnnotationTools"])
    # The layers are the articles', before who annotated them: after the reviewers' sentence
    # they read as the reviewers' work (a team walkthrough).
    described = croissant["description"]
    layers_end = described.index("quality flags.")
    assert layers_end < described.index("Annotated in Label Studio by")
    assert layers_end < described.index("Conflicts were adjudicated by")


def test_predictions_lead_time_and_parents_are_stated_as_exported(built: Path) -> None:
    exported = tasks(built)
    predictions = [p for t in exported for p in t.get("predictions") or []]
    annotations = [a for t in exported for a in t["annotations"]]
    started = sum(1 for a in annotations if a.get("parent_prediction") is not None)
    timed = sum(1 for a in annotations if a.get("lead_time") is not None)
    scored = sum(1 for p in predictions if p.get("score") is not None)
    provenance = section(card_of(built), "provenance")
    with_predictions = sum(1 for t in exported if t.get("predictions"))
    if predictions:
        assert (
            f"{len(predictions)} prediction(s) are stored on {with_predictions} of "
            f"{len(exported)} task(s)" in provenance
        )
    else:
        assert "No prediction is stored with this version's exports" in provenance
    for model in {p["model_version"] for p in predictions}:
        n = sum(1 for p in predictions if p["model_version"] == model)
        assert f"`{model}` ({n})" in provenance
    if predictions:
        assert f"{scored} of {len(predictions)} carry a score" in provenance
    assert f"{started} of {len(annotations)} annotation(s) record the prediction" in provenance
    assert f"`lead_time` for {timed} of {len(annotations)} annotation(s)" in provenance
    raw = [r for split in rows(built, "annotations_raw").values() for r in split]
    predicted = [r for r in raw if r["source"] == "prediction"]
    assert {r["prediction_id"] for r in predicted} == {p["id"] for p in predictions if p["result"]}
    assert all(r["annotator"] is None and r["lead_time"] is None for r in predicted)
    machine = " ".join(croissant_of(built)["rai:machineAnnotationTools"])
    if predictions:
        assert f"{len(predictions)} prediction(s)" in machine
        assert f"{started} of {len(annotations)} annotation(s) record starting from one" in machine
    else:
        assert "Pre-annotation baseline" not in machine  # nothing claimed that is not there


def test_disagreeing_figures_are_the_data_s_own(built: Path) -> None:
    clusters = {
        d["article_id"]: d["story_cluster"]
        for split in rows(built, "documents").values()
        for d in split
    }
    zones = TAX.class_names("zone:span_layers.zones")
    types = TAX.class_names("span_layers.quantities")
    units = TAX.class_names("span_layers.quantities.attributes.unit")
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for split in rows(built, "quantities").values():
        for q in split:
            if zones[q["zone"]] in ("BODY", "HEADLINE"):
                groups[
                    (clusters[q["article_id"]], types[q["quantity_type"]], units[q["unit"]])
                ].append(q)
    disagreeing = {
        k: v
        for k, v in groups.items()
        if len({q["value"] for q in v}) > 1 and len({q["article_id"] for q in v}) > 1
    }
    assert disagreeing  # the committed corpus has figures that disagree
    figures = section(card_of(built), "figures")
    for (cluster, qtype, unit), claims in disagreeing.items():
        for q in claims:
            assert (
                f'| `{cluster}` | {qtype} | {unit} | {q["article_id"]} | "{q["text"]}" |' in figures
            )
    everything = card_of(built) + (built / "dist/croissant.json").read_text()
    everything += (built / "schemas/taxonomy.yaml").read_text()
    # The old example was not a disagreement (troops vs personnel of different stories).
    assert "650 troops vs about 1,000 personnel" not in everything


def test_outlets_named_in_the_page_and_missing_metadata(built: Path) -> None:
    documents = [d for split in rows(built, "documents").values() for d in split]
    registry = {r["entity_id"]: r["name"] for r in rows(built, "entity_registry")["full"]}
    zones = TAX.class_names("zone:span_layers.zones")
    labels = TAX.class_names("span_layers.entities")
    outlets = section(card_of(built), "outlets")
    for column in ("outlet", "url", "published_date", "license"):
        nulls = sum(1 for d in documents if d[column] is None)
        assert f"`{column}` {nulls} of {len(documents)}" in outlets
    # Every row of the table, from `mentions` and `entity_registry`: a linked ORG mention
    # by its registry name, one without an entity_id by its text, said to be that (the
    # header said "entity registry name" over Telegram and WHATSAPP, which have no entry).
    counted: dict[tuple[str, str, str], int] = defaultdict(int)
    linked = unlinked = 0
    for m in (m for split in rows(built, "mentions").values() for m in split):
        if labels[m["label"]] != "ORG" or zones[m["zone"]] in ("BODY", "HEADLINE"):
            continue
        if m["entity_id"] is None:
            name = f"{m['text']} (mention text, not linked to the registry)"
            unlinked += 1
        else:
            name = registry[m["entity_id"]]
            linked += 1
        counted[(m["article_id"], zones[m["zone"]], name)] += 1
    table = [line for line in outlets.splitlines() if line.startswith("| ")]
    header = "| article | zone | organisation (entity registry name, else the mention's text) |"
    assert table[0] == header + " mentions |"
    assert table[1:] == [
        f"| {a} | {z} | {name} | {n} |" for (a, z, name), n in sorted(counted.items())
    ]
    assert "| 002_4eb8b75709aad65d | PROMOTION | Telegram (mention text, not linked" in outlets
    assert any(name == "Al-Monitor" for _, _, name in counted)  # article 003's paywall
    assert unlinked and (
        f"{linked} of these {linked + unlinked} ORG mention(s) are linked to the "
        f"`entity_registry` (`entity_id`) and named by its `name`; {unlinked} have no "
        "`entity_id` and are named by their text as written" in outlets
    )
    assert "not recoverable" not in card_of(built) + json.dumps(croissant_of(built))


def test_splits_leakage_and_folds_are_counted_from_the_files(built: Path) -> None:
    leakage = section(card_of(built), "leakage")
    for config, column, what in (
        ("events", "event_id", "events"),
        ("mentions", "entity_id", "entities"),
    ):
        per_id: dict[str, set[str]] = defaultdict(set)
        for split, in_split in rows(built, config).items():
            for r in in_split:
                if r[column]:
                    per_id[r[column]].add(split)
        leaking = sorted(k for k, v in per_id.items() if len(v) > 1)
        assert (
            f"registry {what}: {len(leaking)} of {len(per_id)} linked in this version are "
            "mentioned in more than one split" in leakage
        )
        for k in leaking[:20]:
            assert f"| `{k}` |" in leakage
    folds = rows(built, "folds")["full"]
    every = [d for split in rows(built, "documents").values() for d in split]
    documents = [d for d in every if d["n_annotators"] > 0]  # folds: annotated articles only
    for scheme, n in (
        ("leave_one_article_out", len(documents)),
        ("leave_one_cluster_out", len({d["story_cluster"] for d in documents})),
    ):
        mine = [f for f in folds if f["scheme"] == scheme]
        assert sorted(f["article_id"] for f in mine) == sorted(d["article_id"] for d in documents)
        assert len({f["fold"] for f in mine}) == n
        assert re.search(rf"\| `{scheme}` \| {n} \|", leakage)
    if len(documents) == len(every):
        assert f"folds over the annotated articles (all {len(every)} in this version;" in leakage


def test_token_counts_and_an_example_per_config(built: Path) -> None:
    card = card_of(built)
    ner = section(card, "ner_bio")
    for split, in_split in rows(built, "ner_bio").items():
        tokens = sum(len(r["tokens"]) for r in in_split)
        longest = max(len(r["tokens"]) for r in in_split)
        assert re.search(rf"\| {split} \| {len(in_split)} \| {tokens} \| \d+ \| {longest} \|", ner)
    examples = section(card, "examples")
    for config in sorted(p.name for p in (built / "dist/data").iterdir()):
        shown = re.search(rf"\*\*`{config}`\*\* \(first row of `(\w+)`", examples)
        assert shown, config
        first = rows(built, config)[shown.group(1)][0]
        key = next(iter(first))
        assert f"{key}: {json.dumps(first[key], ensure_ascii=False)}" in examples


def test_licence_citation_and_takedown(built: Path) -> None:
    card = card_of(built)
    front = yaml.safe_load(card.split("---\n", 2)[1])
    assert front["license"] == "other" and front["license_name"]
    assert (built / "dist" / front["license_link"]).is_file()
    assert "Licensing section" in front["license_details"]
    assert "\n## Licensing\n" in card
    licensing = section(card, "licensing")
    assert "CC BY 4.0" in licensing and "takedown" in licensing.lower()
    assert licensing.strip() in (built / "dist" / front["license_link"]).read_text()
    documents = [d for split in rows(built, "documents").values() for d in split]
    unknown = sum(1 for d in documents if d["license"] is None)
    assert f"{unknown} of {len(documents)} article(s) have no licence recorded" in licensing
    settings = Settings.from_pyproject(built / "pyproject.toml")
    year = max(
        a["updated_at"][:4]
        for t in tasks(built)
        for a in [*t["annotations"], *(t.get("predictions") or [])]
    )
    citation = section(card, "citation")
    assert f"version      = {{{settings.data_version}}}" in citation
    assert f"year         = {{{year}}}" in citation
    assert croissant_of(built)["citeAs"] in citation


def test_every_link_inside_the_card_has_its_heading(built: Path) -> None:
    card = card_of(built)
    headings = {
        re.sub(r"[^\w\- ]", "", h.lower()).strip().replace(" ", "-")
        for h in re.findall(r"^#+ (.+)$", card, re.MULTILINE)
    }
    anchors = set(re.findall(r"\]\(#([^)]+)\)", card))
    assert anchors and anchors <= headings


def test_independence_is_stated_from_the_blind_workspace_manifest(tmp_path: Path) -> None:
    from sahelwire.release.card.facts import AnnotationFacts, BlindWorkspace

    AA, BB, CC = ("aa" * 32, "bb" * 32, "cc" * 32)  # sha256 digests, as the manifest lists

    clean = tmp_path / "ai-annotator-2.txt"
    clean.write_text(
        f"{AA}  project/dataset/raw/texts/001.txt\n{BB}  project/annotations/GUIDELINES.md\n"
        f"{CC}  project/annotations/worksheets/ai-annotator-2/001.yaml\n"
    )
    w = BlindWorkspace.read(clean, "ai-annotator-2@x", "annotations/blind/ai-annotator-2.txt")
    assert (w.files, w.own_worksheets, w.others) == (3, True, ())
    leaky = tmp_path / "ai-annotator-3.txt"
    leaky.write_text(
        f"{AA}  project/annotations/exports/001.json\n"
        f"{BB}  project/annotations/worksheets/ai-annotator-1/001.yaml\n{CC}  project/DATASET_CARD.md\n"
    )
    bad = BlindWorkspace.read(leaky, "ai-annotator-3@x", "annotations/blind/ai-annotator-3.txt")
    assert len(bad.others) == 3 and not bad.own_worksheets
    facts = AnnotationFacts(blind={"ai-annotator-2@x": w, "ai-annotator-3@x": bad})
    said = facts.independence_sentences()
    assert said[0].startswith("ai-annotator-2@x worked blind") and "3 files" in said[0]
    assert "and its own worksheet folder" in said[0]
    assert said[1].startswith("ai-annotator-3@x did NOT work blind")


def test_shared_pre_annotations_are_claimed_only_where_the_data_records_them(
    built: Path, tmp_path: Path
) -> None:
    """Seen in a team walkthrough: the card said every annotator started from the same
    pre-annotations whenever any prediction existed, while a third annotator had started
    from a newer baseline. The committed annotators' blind workspaces held the same
    pre-annotation files (by sha256): there it is true."""
    same = "Every annotator started from the same pre-annotations"
    assert same in card_of(built)
    root = copy_project(tmp_path / "p")
    manifest = root / "annotations/blind/ai-annotator-2.txt"
    lines = manifest.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if "annotations/predictions/001_" in line)
    lines[at] = "0" * 64 + lines[at][64:]  # another file than ai-annotator-1 held for 001
    manifest.write_text("".join(lines), encoding="utf-8")
    done = run_cli(root, "build")
    assert done.returncode == 0, done.stderr
    card = card_of(root)
    assert same not in card
    compared = len(tasks(root))
    assert (
        f"On {compared - 1} of the {compared} articles compared every annotator started from "
        "the same pre-annotations" in card
    )
    assert "on the other 1 they started from different pre-annotations" in card


def test_how_a_person_worked_and_was_kept_independent_is_stated_from_the_data(
    with_a_person: Path,
) -> None:
    """The card said how the AI accounts were kept independent and nothing of the people
    (a team walkthrough): a person's paragraph states what Label Studio recorded of their
    annotations and the queue rule with the settings push gives the queue."""
    annotations = [
        a
        for t in tasks(with_a_person)
        for a in t["annotations"]
        if a["completed_by"]["email"] == PERSON and not a["was_cancelled"]
    ]
    timed = sum(a["lead_time"] is not None for a in annotations)
    started = sum(a.get("parent_prediction") is not None for a in annotations)
    provenance = section(card_of(with_a_person), "provenance")
    assert (
        f"{PERSON}: {len(annotations)} annotations, {timed} with a lead time, {started} with "
        "the prediction they started from (`parent_prediction`)." in provenance
    )
    n = Settings.from_pyproject(with_a_person / "pyproject.toml").annotators_per_task
    independence = provenance.split("**How independence was kept.** ")[1].split("\n")[0]
    rule = (
        f"The rule for people ({PERSON}) is to annotate only from Label Studio's queue "
        f"(*Label All Tasks*), which every `sahelwire labelstudio push` configures so that it "
        f"hands each task to {n} annotators (`annotators_per_task`"
    )
    assert rule in independence
    assert "not a technical guarantee" in independence
    # The AI account that is left is still said to have worked blind; the person's blind
    # workspace manifest (ai-annotator-2's) is not claimed for anyone.
    assert "ai-annotator-1@sahelwire.local worked blind" in independence
    assert "ai-annotator-2" not in provenance
    protocol = " ".join(croissant_of(with_a_person)["rai:dataAnnotationProtocol"])
    assert rule in protocol


def test_a_person_who_settles_a_decision_is_not_said_to_have_reviewed_nothing(
    tmp_path: Path,
) -> None:
    """A maintainer's walkthrough: with one decision signed by a person (docs/review.md lets
    decided_by be anyone's e-mail), Provenance said "adjudicated by ... (person, 1 decision)"
    and, two lines on, "No person has annotated or reviewed this version"."""
    root = copy_project(tmp_path / "p")
    decisions = root / "annotations/decisions/004_d8470e8c95419e20.yaml"
    text = decisions.read_text(encoding="utf-8")
    ai = "decided_by: ai-annotator-reviewer@sahelwire.local"
    decisions.write_text(text.replace(ai, "decided_by: maintainer@example.org", 1), "utf-8")
    done = run_cli(root, "build", "--out", str(tmp_path / "d"), timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    provenance = section((tmp_path / "d/README.md").read_text(encoding="utf-8"), "provenance")
    total = sum(
        len(yaml.safe_load(p.read_text(encoding="utf-8"))["decisions"])
        for p in (root / "annotations/decisions").glob("*.yaml")
    )
    assert "maintainer@example.org (person, 1 decision)" in provenance
    assert "No person has annotated or reviewed this version" not in provenance
    assert (
        "No person has annotated this version; a person (maintainer@example.org) settled "
        f"1 of its {total} adjudication decision(s), and no person reviewed the rest of its "
        "gold layer" in provenance
    )
