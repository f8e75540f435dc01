"""Facts about the data that the card and Croissant state, computed from the data only.

Every sentence of the card or of ``croissant.json`` about annotators, predictions,
disagreeing figures, outlets, splits and leakage takes its figures from here, so the two
documents cannot disagree with each other or with the files they describe. A test reads
the built files independently and checks each fact.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from sahelwire.annotations.blind_manifest import BLIND_DIR, blind_manifest_entries
from sahelwire.annotations.layers import AnnotationLayers
from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.card.columns import column_batches
from sahelwire.release.card.kept import ORGANISATIONS, Form, kept
from sahelwire.schema.table_specs import ARTICLE_ID
from sahelwire.schema.taxonomy import BODY_ZONE, Taxonomy

# The project's account naming rule (annotations/GUIDELINES.md, "Annotator accounts"): an
# AI assistant annotates under an account whose name starts with this; people never do.
AI_ACCOUNT_PREFIX = "ai-annotator"
# Zones whose text is the article (what clean_text keeps): the body and the headline.
CONTENT_ZONES = (BODY_ZONE, "HEADLINE")


def is_ai_account(account: str) -> bool:
    return account.startswith(AI_ACCOUNT_PREFIX)


# Where a blind workspace holds each article's pre-annotations (scripts/blind_workspace.py).
PREANNOTATIONS = "project/annotations/predictions/"


@dataclass(frozen=True)
class BlindWorkspace:
    """What one annotator's blind workspace held (scripts/blind_workspace.py's manifest)."""

    manifest: str  # path in the repository
    files: int
    own_worksheets: bool  # the annotator's own worksheet folder is listed
    others: tuple[str, ...]  # files that are another annotator's work or the gold: must be ()
    # article id -> sha256 of the pre-annotations file the workspace held for it
    preannotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path, account: str, rel: str) -> BlindWorkspace:
        handle = account.split("@", 1)[0]
        entries = blind_manifest_entries(path)
        given = [listed for _, listed in entries]
        held = {
            listed.removeprefix(PREANNOTATIONS).removesuffix(".yaml"): sha
            for sha, listed in entries
            if listed.startswith(PREANNOTATIONS) and listed.endswith(".yaml")
        }
        own = f"project/annotations/worksheets/{handle}/"
        others = tuple(
            g
            for g in given
            if ("/worksheets/" in g and not g.startswith(own))
            or any(f"/{part}/" in f"/{g}" for part in ("exports", "decisions", "dist", "releases"))
            or g.endswith(("DATASET_CARD.md", "CHANGELOG.md"))
        )
        own_sheets = any(g.startswith(own) and g.endswith(".yaml") for g in given)
        return cls(rel, len(given), own_sheets, others, held)


@dataclass(frozen=True)
class AnnotationFacts:
    """Who annotated, from what, and what Label Studio recorded about it."""

    annotations: int = 0  # annotations in the exports, cancelled ones included
    cancelled: int = 0
    accounts: tuple[str, ...] = ()  # accounts with at least one non-cancelled annotation
    articles_per_account: dict[str, int] = field(default_factory=dict)
    from_prediction: int = 0  # annotations whose parent_prediction is set
    lead_time_recorded: int = 0
    tasks: int = 0  # articles with a task in the exports
    predictions: int = 0
    tasks_with_predictions: int = 0
    predictions_per_model: dict[str, int] = field(default_factory=dict)
    predictions_scored: int = 0
    # reviewer e-mail -> decisions made (annotations/decisions/, for the articles annotated)
    reviewers: dict[str, int] = field(default_factory=dict)
    # account -> what its blind workspace held (annotations/blind/<handle>.txt)
    blind: dict[str, BlindWorkspace] = field(default_factory=dict)
    # account -> its non-cancelled annotations, and of them those that record a
    # parent_prediction and a lead_time (what Label Studio's editor records)
    annotations_per_account: dict[str, int] = field(default_factory=dict)
    from_prediction_per_account: dict[str, int] = field(default_factory=dict)
    lead_time_per_account: dict[str, int] = field(default_factory=dict)
    # The Label Studio project settings push applies from [tool.sahelwire]
    # (labelstudio.push.project_settings): the queue a person is to work from. None: not known
    queue: Mapping[str, Any] | None = None

    @property
    def ai_accounts(self) -> tuple[str, ...]:
        return tuple(a for a in self.accounts if is_ai_account(a))

    @property
    def human_accounts(self) -> tuple[str, ...]:
        return tuple(a for a in self.accounts if not is_ai_account(a))

    @property
    def human_reviewers(self) -> dict[str, int]:
        """The people (account naming rule) who signed adjudication decisions -> decisions."""
        return {r: n for r, n in self.reviewers.items() if not is_ai_account(r)}

    @classmethod
    def from_layers(
        cls,
        layers: AnnotationLayers,
        decisions_dir: Path | None = None,
        settings: Settings | None = None,
    ) -> AnnotationFacts:
        """``decisions_dir``: annotations/decisions/, whose sibling blind/ holds the blind
        workspaces' manifests; ``settings``: the configuration whose queue settings a human
        annotator's independence rests on."""
        ann = layers.annotations
        reviewers: Counter[str] = Counter()
        if decisions_dir is not None and ann.height:
            from sahelwire.annotations.adjudication import read_decisions

            # validate refuses a stale or unused decision, so every one read here counts
            for article in sorted(set(ann["article_id"].to_list())):
                for d in read_decisions(decisions_dir, article).values():
                    reviewers[str(d["decided_by"])] += 1
        kept = ann.filter(~pl.col("cancelled")) if ann.height else ann
        per_account = (
            dict(Counter(kept.unique(["annotator", "article_id"])["annotator"].to_list()))
            if kept.height
            else {}
        )
        per_annotation: dict[str, Counter[str]] = {
            "all": Counter(),
            "from_prediction": Counter(),
            "lead_time": Counter(),
        }
        if kept.height:
            for annotator, parent, lead in kept.select(
                "annotator", "parent_prediction", "lead_time"
            ).iter_rows():
                per_annotation["all"][annotator] += 1
                per_annotation["from_prediction"][annotator] += parent is not None
                per_annotation["lead_time"][annotator] += lead is not None
        queue = None
        if settings is not None:
            # Imported here: the card needs only this table of push's, not its client.
            from sahelwire.labelstudio.push import project_settings

            queue = project_settings(settings)
        predictions = layers.predictions
        if predictions is None or not predictions.height:
            per_model: dict[str, int] = {}
            n_pred = scored = tasks_pred = 0
        else:
            per_model = dict(Counter(str(v) for v in predictions["model_version"].to_list()))
            n_pred = predictions.height
            scored = predictions.height - predictions["score"].null_count()
            tasks_pred = predictions["article_id"].n_unique()
        return cls(
            annotations=ann.height,
            cancelled=ann.height - kept.height,
            accounts=tuple(sorted(per_account)),
            articles_per_account=dict(sorted(per_account.items())),
            from_prediction=ann.height - ann["parent_prediction"].null_count() if ann.height else 0,
            lead_time_recorded=ann.height - ann["lead_time"].null_count() if ann.height else 0,
            tasks=ann["article_id"].n_unique() if ann.height else 0,
            predictions=n_pred,
            tasks_with_predictions=tasks_pred,
            predictions_per_model=dict(sorted(per_model.items())),
            predictions_scored=scored,
            reviewers=dict(sorted(reviewers.items())),
            blind=_blind(decisions_dir.parent / BLIND_DIR, per_account)
            if decisions_dir is not None
            else {},
            annotations_per_account=dict(sorted(per_annotation["all"].items())),
            from_prediction_per_account=dict(sorted(per_annotation["from_prediction"].items())),
            lead_time_per_account=dict(sorted(per_annotation["lead_time"].items())),
            queue=queue,
        )

    def starting_points(self, layers: AnnotationLayers) -> dict[str, list[str | None]]:
        """Article id -> what each of its (not cancelled) annotations started from, as far as
        the data records it: the model version of its ``parent_prediction``, else the
        pre-annotations file its annotator's blind workspace held (by sha256), else None."""
        ann = layers.annotations
        points: dict[str, list[str | None]] = {}
        if not ann.height:
            return points
        kept = ann.filter(~pl.col("cancelled"))
        columns = ["article_id", "annotator", "parent_prediction", "prediction_model_version"]
        for article, annotator, parent, model in kept.select(columns).iter_rows():
            held = self.blind.get(annotator)
            if parent is not None:
                point: str | None = f"prediction {model}"
            elif held is not None and article in held.preannotations:
                point = f"file {held.preannotations[article]}"
            else:
                point = None
            points.setdefault(article, []).append(point)
        return points

    def independence_sentences(self) -> list[str]:
        """How each account with a blind workspace was kept independent, from its manifest."""
        out = []
        for account, w in self.blind.items():
            # The manifest lists the workspace as it was at the end, so the annotator's own
            # folder holds what it wrote (for a revision: what it started from, rewritten).
            own = " and its own worksheet folder" if w.own_worksheets else ""
            if w.others:
                out.append(
                    f"{account} did NOT work blind: its workspace (`{w.manifest}`) held "
                    f"{_count(len(w.others), 'file')} of other annotators' work or the gold "
                    f"({', '.join(w.others[:3])})."
                )
                continue
            out.append(
                f"{account} worked blind: its workspace held only the article texts, the "
                "guidelines, the taxonomy and registries, the pre-annotations, the checking "
                f"code{own} ({_count(w.files, 'file')}, each listed with its sha256 in "
                f"`{w.manifest}` of the source repository); no other annotator's worksheets "
                "or exports, no adjudication decisions, no built data and no git history."
            )
        return out

    def human_work_sentence(self) -> str | None:
        """What Label Studio recorded of each human account's annotations (None: no human)."""
        people = self.human_accounts
        if not people:
            return None
        each = "; ".join(
            f"{a}: {_count(self.annotations_per_account.get(a, 0), 'annotation')}, "
            f"{self.lead_time_per_account.get(a, 0)} with a lead time, "
            f"{self.from_prediction_per_account.get(a, 0)} with the prediction they started "
            "from (`parent_prediction`)"
            for a in people
        )
        return (
            "They annotated in Label Studio, where the labeling editor records the time spent "
            f"in it (`lead_time`) and the prediction an annotation started from. Recorded: {each}."
        )

    def human_independence_sentence(self) -> str | None:
        """How a person was kept independent: the queue rule and the project settings that
        make the queue blind (None: no human account)."""
        people = self.human_accounts
        if not people:
            return None
        rule = (
            f"The rule for people ({', '.join(people)}) is to annotate only from Label "
            "Studio's queue (*Label All Tasks*)"
        )
        if self.queue is None:
            configured = ""
        else:
            n = int(self.queue["maximum_annotations"])
            served = [
                f"hands each task to {_count(n, 'annotator')} (`annotators_per_task` in "
                "`[tool.sahelwire]` of this version)",
                "serves each annotator only their own annotation of it",
            ]
            if self.queue.get("show_collab_predictions"):
                served.append("starts every annotation as a copy of the task's pre-annotations")
            if not self.queue.get("show_annotation_history"):
                served.append("shows no annotation history")
            configured = (
                ", which every `sahelwire labelstudio push` configures so that it "
                + ", ".join(served[:-1])
                + f" and {served[-1]}"
            )
        return (
            f"{rule}{configured}. Label Studio Community has no roles, so any account can "
            "still open the other annotators' annotations outside the queue (the Data "
            "Manager): for people, blind annotation is a rule they follow, not a technical "
            "guarantee, and the data does not record whether it was kept."
        )

    def annotators_sentence(self) -> str:
        """One sentence on who annotated: AI accounts and human accounts, each named as such."""
        if not self.accounts:
            return "No annotations have been made yet."
        ai, people = self.ai_accounts, self.human_accounts
        parts = []
        if ai:
            parts.append(
                f"{_count(len(ai), 'AI assistant account')} ({', '.join(ai)}), "
                + ("which is not a person" if len(ai) == 1 else "which are not people")
            )
        parts.append(
            f"{_count(len(people), 'human annotator account')} ({', '.join(people)})"
            if people
            else "no human annotator"
        )
        sentence = "Annotated in Label Studio by " + ", and by ".join(parts) + "."
        if self.reviewers:
            who = ", ".join(
                f"{r} ({'AI assistant' if is_ai_account(r) else 'person'}, {_count(n, 'decision')})"
                for r, n in self.reviewers.items()
            )
            sentence += (
                f" Conflicts were adjudicated by {_count(len(self.reviewers), 'reviewer')}: {who}."
            )
        return sentence


def _blind(folder: Path, accounts: Mapping[str, int]) -> dict[str, BlindWorkspace]:
    found = {}
    for account in sorted(accounts):
        path = folder / f"{account.split('@', 1)[0]}.txt"
        if path.is_file():
            rel = f"annotations/{BLIND_DIR}/{path.name}"
            found[account] = BlindWorkspace.read(path, account, rel)
    return found


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def data_date(layers: AnnotationLayers) -> str | None:
    """The data's date (YYYY-MM-DD): the newest annotation or prediction update.

    Used as the citation year and Croissant's datePublished. It comes from the inputs, not
    the clock, so two builds of the same inputs are byte-identical.
    """
    stamps = (
        [str(v) for v in layers.annotations["updated_at"].to_list() if v]
        if layers.annotations.height
        else []
    )
    if layers.predictions is not None and layers.predictions.height:
        stamps += [str(v) for v in layers.predictions["updated_at"].to_list() if v]
    dates = [s[:10] for s in stamps if len(s) >= 10 and s[4] == "-" and s[7] == "-"]
    return max(dates) if dates else None


def _decode(names: tuple[str, ...], index: int) -> str | None:
    return names[index] if 0 <= index < len(names) else None


def disagreeing_figures(
    quantities: Mapping[str, pa.Table], taxonomy: Taxonomy, clusters: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Figures that disagree: within one story cluster, article-content quantity claims of
    the same type and unit, from different articles, with different values.

    One entry per (cluster, type, unit) with every claim in it, sorted; claims outside the
    article content (captions, comments, promotions) are left out because they need not
    be about the story.
    """
    types = taxonomy.class_names("span_layers.quantities")
    units = taxonomy.class_names("span_layers.quantities.attributes.unit")
    zones = taxonomy.class_names("zone:span_layers.zones")
    bounds = taxonomy.class_names("span_layers.quantities.attributes.bound")
    groups: dict[tuple[str, str, str | None], list[dict[str, Any]]] = defaultdict(list)
    kept = (ARTICLE_ID, "mention_id", "text", "value", "approximate", "bound")
    for table in quantities.values():
        # Batch by batch, keeping only the claim's fields: a large build's quantities are
        # never all Python dicts at once (issue 17 item 3).
        for batch in table.to_batches():
            for q in batch.to_pylist():
                if _decode(zones, q["zone"]) not in CONTENT_ZONES:
                    continue
                unit = None if q["unit"] is None or q["unit"] < 0 else units[q["unit"]]
                key = (clusters[q[ARTICLE_ID]], types[q["quantity_type"]], unit)
                groups[key].append({k: q[k] for k in kept})
    out = []
    for (cluster, qtype, unit), claims in sorted(groups.items(), key=lambda kv: str(kv[0])):
        if len({c["value"] for c in claims}) > 1 and len({c[ARTICLE_ID] for c in claims}) > 1:
            out.append(
                {
                    "story_cluster": cluster,
                    "quantity_type": qtype,
                    "unit": unit,
                    "claims": sorted(
                        (
                            {
                                **{
                                    k: c[k]
                                    for k in (
                                        ARTICLE_ID,
                                        "mention_id",
                                        "text",
                                        "value",
                                        "approximate",
                                    )
                                },
                                # None: not annotated (before taxonomy 3.0.0)
                                "bound": None
                                if c["bound"] is None or c["bound"] < 0
                                else bounds[c["bound"]],
                            }
                            for c in claims
                        ),
                        key=lambda c: (c[ARTICLE_ID], c["mention_id"]),
                    ),
                }
            )
    return out


def _frame(batch: pa.RecordBatch) -> pl.DataFrame:
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)  # a record batch is a frame, never a series
    return frame


def value_counts(tables: Iterable[pa.Table], column: str) -> Counter[Any]:
    """How often each value of ``column`` occurs across ``tables`` (nulls as ``None``), read a
    batch at a time (``column_batches``)."""
    counts: Counter[Any] = Counter()
    for table in tables:
        for batch in column_batches(table, [column]):
            for item in pc.value_counts(batch.column(0)).to_pylist():
                counts[item["values"]] += item["counts"]
    return counts


def organisations_outside_the_body(
    documents: Mapping[str, pa.Table], registry: pa.Table | None, taxonomy: Taxonomy
) -> list[dict[str, Any]]:
    """ORG mentions inside non-content zones (paywall, navigation, captions), per article:
    the page naming its publisher or photo agency, which metadata left null.

    Counted by polars a row group at a time (a Python dict per mention was ≈0.6 s of a 10k
    build's card); the mention's registry name where its entity is in the registry, else
    its text, as the per-mention loop did (tests/release/test_card_streaming.py). ``linked``
    says which: a mention with no ``entity_id`` is named by its text (`Telegram`), which the
    card must not present as a registry name."""
    labels = taxonomy.class_names("span_layers.entities")
    zones = taxonomy.class_names("zone:span_layers.zones")
    outside = pl.DataFrame(
        {
            "zone": [i for i, z in enumerate(zones) if z not in CONTENT_ZONES],
            "zone_name": [z for z in zones if z not in CONTENT_ZONES],
        },
        schema={"zone": pl.Int64, "zone_name": pl.String},
    )
    orgs = [i for i, label in enumerate(labels) if label == "ORG"]
    registered = [
        _frame(b)
        for b in (column_batches(registry, ["entity_id", "name"]) if registry is not None else [])
    ]
    names = (
        pl.concat(registered).select(pl.col("entity_id", "name").cast(pl.String))
        if registered
        else pl.DataFrame(schema={"entity_id": pl.String, "name": pl.String})
    ).unique("entity_id", keep="last", maintain_order=True)
    counted: list[pl.DataFrame] = []
    for table in documents.values():
        for batch in column_batches(table, [ARTICLE_ID, "entities"]):
            mentions = (
                _frame(batch)
                .explode("entities")
                .drop_nulls("entities")
                .select(
                    pl.col(ARTICLE_ID),
                    *(
                        pl.col("entities").struct.field(f)
                        for f in ("zone", "label", "entity_id", "text")
                    ),
                )
                .filter(pl.col("label").is_in(orgs))
                .with_columns(pl.col("zone").cast(pl.Int64))
                .join(outside, on="zone", how="inner")
                .join(names.with_columns(known=pl.lit(True)), on="entity_id", how="left")
                .select(
                    pl.col(ARTICLE_ID),
                    pl.col("zone_name").alias("zone"),
                    pl.when(pl.col("known"))
                    .then(pl.col("name"))
                    .otherwise(pl.col("text"))
                    .alias("organisation"),
                    pl.col("known").fill_null(False).alias("linked"),
                )
            )
            counted.append(
                mentions.group_by(ARTICLE_ID, "zone", "organisation", "linked").len("mentions")
            )
    if not counted:
        return []
    rows = (
        pl.concat(counted)
        .group_by(ARTICLE_ID, "zone", "organisation", "linked")
        .agg(pl.col("mentions").sum())
        .sort(ARTICLE_ID, "zone", "organisation", "linked")
    )
    return [
        {"article_id": a, "zone": z, "organisation": o, "linked": bool(k), "mentions": int(n)}
        for a, z, o, k, n in rows.iter_rows()
    ]


def _organisation_rows(value: Any) -> list[dict[str, Any]] | None:
    # A value of another shape (not written by this code) is computed again.
    if isinstance(value, list) and all(
        isinstance(row, dict) and isinstance(row.get("linked"), bool) for row in value
    ):
        return value
    return None


def kept_organisations(
    paths: ProjectPaths,
    documents: Mapping[str, pa.Table],
    registry: pa.Table | None,
    taxonomy: Taxonomy,
    digests: Sequence[str],
) -> list[dict[str, Any]]:
    """:func:`organisations_outside_the_body`, kept (:mod:`.kept`, ``card/organisations/``)
    under ``digests`` (the sha256 of the documents and registry files it reads, as written
    or placed) and the entity and zone labels: every entity list of ``documents`` is read
    for it (≈2 s of a 1M rebuild's card, py-spy)."""
    labels = [
        list(taxonomy.class_names("span_layers.entities")),
        list(taxonomy.class_names("zone:span_layers.zones")),
    ]
    return kept(
        paths,
        ORGANISATIONS,
        __name__,
        [*digests, json.dumps(labels)],
        lambda: organisations_outside_the_body(documents, registry, taxonomy),
        Form(lambda rows: rows, _organisation_rows),
    )


def metadata_nulls(documents: Mapping[str, pa.Table], columns: tuple[str, ...]) -> dict[str, int]:
    """Column -> number of articles where it is null."""
    return {
        c: sum(b.column(0).null_count for t in documents.values() for b in column_batches(t, [c]))
        for c in columns
    }


def cross_split_ids(
    tables: Mapping[str, Mapping[str, pa.Table]], config: str, column: str
) -> tuple[int, dict[str, dict[str, int]]]:
    """(ids linked at all, id -> split -> mentions) for the ids linked in more than one split."""
    per_id: dict[str, Counter[str]] = defaultdict(Counter)
    for split, table in tables[config].items():
        for batch in column_batches(table, [column]):
            for value in batch.column(0).to_pylist():
                if value is not None:
                    per_id[value][split] += 1
    leaking = {k: dict(v) for k, v in sorted(per_id.items()) if len(v) > 1}
    return len(per_id), leaking


def fold_leakage(
    folds: pa.Table, mentions: Mapping[str, pa.Table], column: str, scheme: str
) -> tuple[int, int]:
    """(folds, folds whose held-out articles share an id in ``column`` with their training
    articles) for one scheme of the folds config; ``mentions``: the config carrying ``column``
    (:func:`fold_leakages` of one scheme)."""
    return fold_leakages(folds, mentions, column, (scheme,))[scheme]


def fold_leakages(
    folds: pa.Table, mentions: Mapping[str, pa.Table], column: str, schemes: Sequence[str]
) -> dict[str, tuple[int, int]]:
    """:func:`fold_leakage` of each of ``schemes``, reading ``mentions`` once for them all.

    Each article is held out in exactly one fold, so a fold leaks exactly when one of its
    ids is linked in another fold too: linear in the rows, whatever the number of folds.
    """
    rows = [_frame(b) for b in column_batches(folds, ["scheme", ARTICLE_ID, "fold"])]
    every = (
        pl.concat(rows).select(
            "scheme", pl.col(ARTICLE_ID).cast(pl.String).alias("article"), pl.col("fold")
        )
        if rows
        else pl.DataFrame(schema={"scheme": pl.String, "article": pl.String, "fold": pl.Int64})
    )
    held_out = {
        scheme: every.filter(pl.col("scheme") == scheme)
        .select("article", pl.col("fold").cast(pl.Int64))
        .unique("article", keep="last", maintain_order=True)
        for scheme in schemes
    }
    # Each batch's distinct (article, id) pairs, kept as frames (a Python set of (id, fold)
    # pairs was ≈0.2 s per call at 10k); the mentions are read once for every scheme (once
    # per scheme was ≈0.1 s a read at 10k). The articles in no fold are left out by the join
    # with each scheme's folds below, not per batch: a semi join with every article in the
    # folds built that hash table again for each batch (54 s of a 1M rebuild, py-spy).
    pairs: list[pl.DataFrame] = []
    for table in mentions.values():
        for batch in column_batches(table, [ARTICLE_ID, column]):
            frame = pl.DataFrame(
                {
                    "article": pl.Series(batch.column(0)).cast(pl.String),
                    "value": pl.Series(batch.column(1)).cast(pl.String),
                }
            )
            pairs.append(frame.drop_nulls("value").unique())
    linked = (
        pl.concat(pairs)
        if pairs
        else pl.DataFrame(schema={"article": pl.String, "value": pl.String})
    )
    out: dict[str, tuple[int, int]] = {}
    for scheme, held in held_out.items():
        distinct = linked.join(held, on="article", how="inner").select("value", "fold").unique()
        shared = distinct.group_by("value").len().filter(pl.col("len") > 1)
        leaking = distinct.join(shared, on="value", how="semi")["fold"].n_unique()
        out[scheme] = (held["fold"].n_unique(), leaking)
    return out
