"""The card's sections read the build's written files a row group at a time.

The build hands the card its Parquet files (``build.ParquetTable``); a section that read a
column whole held it all: at 1M articles ``ner_bio``'s tokens were 5.3 GB and the texts 2.6 GB
(the metadata phase peaked at 7.1 GB, docs/benchmarks.md). Here every file is rewritten with
row groups of 2 rows (``ParquetTable`` has no whole-column read), and each section must give
what it gives on the tables in memory.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import ROOT, copy_project, run_cli
from sahelwire.io.config import SPLITS, Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.build import ParquetTable, build
from sahelwire.release.card.data_sections import (
    LISTED_ORGANISATIONS,
    METADATA,
    count_tokens,
    licensing_text,
    ner_bio_section,
    outlets_section,
)
from sahelwire.release.card.facts import (
    cross_split_ids,
    fold_leakage,
    fold_leakages,
    metadata_nulls,
    organisations_outside_the_body,
    value_counts,
)
from sahelwire.release.card.plots import article_lengths, label_counts
from sahelwire.release.ner_bio import BioStats
from sahelwire.schema.table_specs import ARTICLE_ID
from sahelwire.schema.taxonomy import load_taxonomy


def test_card_sections_read_the_written_files_a_row_group_at_a_time(
    tmp_path: Path,
) -> None:
    root = copy_project(tmp_path / "p")
    out = tmp_path / "dist"
    assert run_cli(root, "build", "--out", str(out)).returncode == 0
    taxonomy = load_taxonomy(ProjectPaths(root).taxonomy_file)
    whole: dict[str, dict[str, pa.Table]] = {}
    files: dict[str, dict[str, Any]] = {}
    parts = {c: SPLITS for c in ("documents", "ner_bio", "mentions", "events")}
    for config, splits in {**parts, "folds": ("full",)}.items():
        whole[config], files[config] = {}, {}
        for split in splits:
            table = pq.read_table(out / "data" / config / f"{split}-00000-of-00001.parquet")
            small = tmp_path / "groups" / config / f"{split}.parquet"
            small.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, small, row_group_size=2)
            whole[config][split] = table
            files[config][split] = ParquetTable(small)
            assert pq.ParquetFile(small).num_row_groups > 1 or table.num_rows <= 2

    columns = tuple(
        f.name for f in whole["documents"]["train"].schema if not pa.types.is_nested(f.type)
    )
    expected: dict[str, Any] = {
        "ner_bio": ner_bio_section(
            BioStats(), whole["ner_bio"], count_tokens(whole["ner_bio"], taxonomy)
        ),
        "licence": licensing_text(whole["documents"], "r"),
        "annotators": Counter(
            v for t in whole["documents"].values() for v in t.column("n_annotators").to_pylist()
        ),
        "lengths": article_lengths(whole["documents"]),
        "labels": label_counts(whole["documents"], taxonomy),
        "nulls": metadata_nulls(whole["documents"], columns),
        "orgs": organisations_outside_the_body(whole["documents"], None, taxonomy),
        "cross": cross_split_ids(whole, "mentions", "entity_id"),
        "folds": [
            fold_leakage(whole["folds"]["full"], whole[config], column, scheme)
            for config, column in (("mentions", "entity_id"), ("events", "event_id"))
            for scheme in ("leave_one_article_out", "leave_one_cluster_out")
        ],
    }
    # No whole-column read to fall back on: a section that asks for one fails here.
    assert not any(hasattr(ParquetTable, m) for m in ("column", "select", "to_pylist"))
    assert licensing_text(files["documents"], "r") == expected["licence"]
    assert value_counts(files["documents"].values(), "n_annotators") == expected["annotators"]
    from_files = count_tokens(files["ner_bio"], taxonomy)
    assert ner_bio_section(BioStats(), files["ner_bio"], from_files) == expected["ner_bio"]
    # The build counted the rows as it wrote them: its card's token table is the one counted
    # from the written files.
    table = [line for line in expected["ner_bio"].splitlines() if line.startswith("| ")]
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert len(table) == 1 + len(SPLITS) and all(line in readme for line in table)
    assert all(from_files[s].tokens >= from_files[s].content > 0 for s in SPLITS)
    assert article_lengths(files["documents"]) == expected["lengths"]
    assert label_counts(files["documents"], taxonomy) == expected["labels"]
    assert metadata_nulls(files["documents"], columns) == expected["nulls"]
    assert organisations_outside_the_body(files["documents"], None, taxonomy) == expected["orgs"]
    assert cross_split_ids(files, "mentions", "entity_id") == expected["cross"]
    assert [
        fold_leakage(files["folds"]["full"], files[config], column, scheme)
        for config, column in (("mentions", "entity_id"), ("events", "event_id"))
        for scheme in ("leave_one_article_out", "leave_one_cluster_out")
    ] == expected["folds"]
    # Not vacuous: every article has its lengths, and the sections counted something.
    assert len(expected["lengths"]) == sum(t.num_rows for t in whole["documents"].values()) > 0
    assert sum(sum(c.values()) for c in expected["labels"]["entities"].values()) > 0
    assert expected["cross"][0] > 0 and all(n > 0 for n, _ in expected["folds"])
    assert sum(expected["annotators"].values()) == len(expected["lengths"])
    assert any(n > 0 for n in expected["annotators"] if n is not None)


def test_the_build_counts_ner_bio_tokens_as_written_not_by_reading_them_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading the written tokens back decoded every token string only to count them (20-25 s
    # of a 1M rebuild); the card's table comes from the counts taken as the rows were written.
    read: list[tuple[str, tuple[str, ...]]] = []
    real = ParquetTable.to_batches

    def recorded(self: ParquetTable, columns: list[str] | None = None) -> Any:
        read.append((self.path.parent.name, tuple(columns or ("*",))))
        return real(self, columns)

    monkeypatch.setattr(ParquetTable, "to_batches", recorded)
    root = copy_project(tmp_path / "p")
    built = build(ProjectPaths(root), Settings.load(ProjectPaths(root)), tmp_path / "dist")
    assert built.root == tmp_path / "dist" and read  # the card did read other columns
    assert not [r for r in read if r[0] == "ner_bio" and ("tokens" in r[1] or "*" in r[1])]
    # And counts that do not cover the written rows are refused, not printed.
    files = {
        s: ParquetTable(tmp_path / "dist" / "data" / "ner_bio" / f"{s}-00000-of-00001.parquet")
        for s in SPLITS
    }
    counts = count_tokens(files, TAXONOMY)
    counts["test"].rows -= 1
    with pytest.raises(RuntimeError, match=r"ner_bio test: \d+ rows counted"):
        ner_bio_section(BioStats(), files, counts)


TAXONOMY = load_taxonomy(ProjectPaths(ROOT).taxonomy_file)


def test_the_outlets_table_of_a_large_corpus_lists_the_most_named_organisations() -> None:
    """A row per (article, zone, organisation) made the card's outlets section 6.8 MB at 1M
    articles: past LISTED_ORGANISATIONS rows it lists the organisations named in the most
    articles, with the totals, counted from the rows given."""
    schema = pa.schema([(c, pa.string()) for c in METADATA])
    documents = {s: schema.empty_table() for s in SPLITS}
    rows = [
        {
            ARTICLE_ID: f"a{i:03d}",
            "zone": "PROMOTION",
            "organisation": f"Org{i % 7}",
            "linked": True,
            "mentions": 2,
        }
        for i in range(LISTED_ORGANISATIONS + 30)
    ] + [
        {
            ARTICLE_ID: "a000",
            "zone": "CAPTION",
            "organisation": "AFP",
            "linked": False,
            "mentions": 1,
        }
    ]
    text = outlets_section(documents, rows)
    assert "81 (article, zone, organisation) pairs in 80 articles" in text
    assert "the 8 of 8 (organisation, zone) pairs named in the most articles" in text
    unlinked = "AFP (mention text, not linked to the registry)"
    assert "| Org0 | PROMOTION | 12 | 24 |" in text and f"| {unlinked} | CAPTION | 1 | 1 |" in text
    assert text.index("| Org0 |") < text.index("| Org6 |") < text.index("| AFP ")
    assert "160 of these 161 ORG mention(s) are linked" in text
    few = outlets_section(documents, rows[:3])
    assert "| a000 | PROMOTION | Org0 | 2 |" in few and "pairs in" not in few


def _leakage_by_rows(
    folds: pa.Table, mentions: dict[str, pa.Table], column: str, scheme: str
) -> tuple[int, int]:
    """fold_leakage as first written: a set insertion per mention (the reference)."""
    fold_of = {r["article_id"]: r["fold"] for r in folds.to_pylist() if r["scheme"] == scheme}
    folds_of_id: dict[str, set[int]] = {}
    for table in mentions.values():
        for r in table.to_pylist():
            if r[column] is not None and r["article_id"] in fold_of:
                folds_of_id.setdefault(r[column], set()).add(fold_of[r["article_id"]])
    leaking = {f for shared in folds_of_id.values() if len(shared) > 1 for f in shared}
    return len(set(fold_of.values())), len(leaking)


@pytest.mark.parametrize("seed", range(12))
def test_fold_leakage_by_joins_counts_what_a_scan_of_every_mention_counts(seed: int) -> None:
    # Articles outside the scheme, null ids, ids shared within and across folds, splits that
    # split a fold's mentions, batches of a few rows: the counts of the plain scan.
    rng = random.Random(seed)
    articles = [f"a{i:03d}" for i in range(rng.randint(0, 40))]
    rows = []
    for scheme in ("s1", "s2"):
        for a in articles:
            if rng.random() < 0.9:
                rows.append({"scheme": scheme, "article_id": a, "fold": rng.randint(0, 5)})
    folds = pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [("scheme", pa.string()), ("article_id", pa.string()), ("fold", pa.int64())]
        ),
    )
    schema = pa.schema([("article_id", pa.string()), ("entity_id", pa.string())])
    mentions = {}

    def entity(article: str) -> str | None:
        # Mostly the article's own ids (no leak), some shared by chance, one shared widely.
        draw = rng.random()
        if draw < 0.1:
            return None
        if draw < 0.12:
            return "E1"
        if draw < 0.25:
            return f"E{rng.randint(2, 150)}"
        return f"own-{article}-{rng.randint(0, 3)}"

    for split in ("train", "validation", "test"):
        picked = [
            {"article_id": a, "entity_id": entity(a)}
            for a in (
                rng.choice([*articles, "elsewhere"])
                for _ in range(rng.randint(0, 200) if articles else 0)
            )
        ]
        table = pa.Table.from_pylist(picked, schema=schema)
        mentions[split] = pa.Table.from_batches(table.to_batches(max_chunksize=7), schema)
    expected = {
        s: _leakage_by_rows(folds, mentions, "entity_id", s) for s in ("s1", "s2", "absent")
    }
    for scheme, counts in expected.items():
        assert fold_leakage(folds, mentions, "entity_id", scheme) == counts
    # Every scheme from one read of the mentions: each as counted alone.
    assert fold_leakages(folds, mentions, "entity_id", tuple(expected)) == expected


def _organisations_by_rows(
    documents: dict[str, pa.Table],
    registry: pa.Table | None,
    zones: tuple[str, ...],
    labels: tuple[str, ...],
) -> list[dict[str, Any]]:
    """organisations_outside_the_body as first written: a dict per mention (the reference),
    with whether the name is the registry's (``linked``) or the mention's text."""
    names = {r["entity_id"]: r["name"] for r in registry.to_pylist()} if registry else {}
    seen: dict[tuple[str, str, str, bool], dict[str, Any]] = {}
    for table in documents.values():
        for doc in table.to_pylist():
            for m in doc["entities"]:
                zone = zones[m["zone"]]
                if labels[m["label"]] != "ORG" or zone in ("BODY", "HEADLINE"):
                    continue
                linked = m["entity_id"] in names
                key = (doc[ARTICLE_ID], zone, names.get(m["entity_id"], m["text"]), linked)
                seen.setdefault(
                    key,
                    {"article_id": key[0], "zone": zone, "organisation": key[2], "linked": linked},
                )
                seen[key]["mentions"] = seen[key].get("mentions", 0) + 1
    return [seen[k] for k in sorted(seen)]


@pytest.mark.parametrize("seed", range(12))
def test_organisations_by_frames_count_what_a_loop_over_every_mention_counts(seed: int) -> None:
    # ORG and other labels in body, headline and the other zones; registered entities whose
    # name differs from the text, unregistered ones, null ids; articles with no mention;
    # non-ASCII names (the sort is by code point); batches of a few rows; no registry at all.
    rng = random.Random(seed)
    taxonomy = load_taxonomy(ProjectPaths(Path(__file__).parents[2]).taxonomy_file)
    zones = taxonomy.class_names("zone:span_layers.zones")
    labels = taxonomy.class_names("span_layers.entities")
    assert "ORG" in labels and {"BODY", "HEADLINE"} < set(zones) and len(zones) > 3
    mention = pa.struct(
        [("zone", pa.int64()), ("label", pa.int64()), ("entity_id", pa.string()),
         ("text", pa.string())]
    )  # fmt: skip
    schema = pa.schema([(ARTICLE_ID, pa.string()), ("entities", pa.list_(mention))])
    texts = ["AFP", "Reuters", "Agence Niamey", "Élysée", "ORTN", "Getty"]

    def entities() -> list[dict[str, Any]]:
        return [
            {
                "zone": rng.randrange(len(zones)),
                "label": labels.index("ORG") if rng.random() < 0.6 else rng.randrange(len(labels)),
                "entity_id": rng.choice([None, "ent-1", "ent-2", "ent-9", "ent-é"]),
                "text": rng.choice(texts),
            }
            for _ in range(rng.randint(0, 6))
        ]

    documents = {}
    for split in SPLITS:
        rows = [{ARTICLE_ID: f"a{rng.randint(0, 30):03d}", "entities": entities()}
                for _ in range(rng.randint(0, 25))]  # fmt: skip
        table = pa.Table.from_pylist(rows, schema=schema)
        documents[split] = pa.Table.from_batches(table.to_batches(max_chunksize=3), schema)
    registry = pa.Table.from_pylist(
        [{"entity_id": "ent-1", "name": "Agence France-Presse"}, {"entity_id": "ent-é", "name": "Élan"}]
    )  # fmt: skip
    for reg in (registry, None):
        expected = _organisations_by_rows(documents, reg, zones, labels)
        assert organisations_outside_the_body(documents, reg, taxonomy) == expected
    assert expected  # not vacuous: every seed has ORG mentions outside the body
