"""The card's sections that state facts about the data: provenance, figures that disagree,
outlets, leakage across splits and folds, the ner_bio view, example instances, licensing.

Each renders Markdown from :mod:`sahelwire.release.card.facts` or the built tables, so no
figure or example is typed by hand; tests/release/test_card_facts.py checks them against
the built files.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import datasets
import pyarrow as pa

from sahelwire.io.config import SPLITS
from sahelwire.io.markdown import escape_cell, markdown_table
from sahelwire.release.card.facts import (
    CONTENT_ZONES,
    AnnotationFacts,
    cross_split_ids,
    fold_leakage,
    metadata_nulls,
)
from sahelwire.release.ner_bio import BioStats
from sahelwire.schema.table_specs import ARTICLE_ID
from sahelwire.schema.taxonomy import Taxonomy

# Above this many ids a leakage list shows only the most widely shared ones.
LISTED_IDS = 20
METADATA = ("outlet", "url", "published_date", "license")


def provenance_section(facts: AnnotationFacts) -> str:
    if not facts.annotations:
        return "No annotations have been pulled yet: every span list is empty.\n"
    lines = [facts.annotators_sentence(), "\n\n"]
    lines.append(
        markdown_table(
            ["account", "kind (account naming rule)", "articles annotated"],
            [
                [f"`{a}`", "AI assistant" if a in facts.ai_accounts else "person", n]
                for a, n in facts.articles_per_account.items()
            ],
        )
    )
    if facts.ai_accounts and not facts.human_accounts:
        lines.append(
            "\nNo person has annotated or reviewed this version: treat its gold layer as a "
            "carefully checked silver standard until a human annotator has labeled the same "
            "tasks.\n"
        )
    models = ", ".join(f"`{m}` ({n})" for m, n in facts.predictions_per_model.items())
    lines.append("\n**Predictions (pre-annotations).** ")
    if facts.predictions:
        lines.append(
            f"{facts.predictions} prediction(s) are stored on {facts.tasks_with_predictions} of "
            f"{facts.tasks} task(s), by model version: {models}. They are published in "
            "`annotations_raw` as rows with `source` = `prediction` (never gold). "
            f"{facts.predictions_scored} of {facts.predictions} carry a score; "
            "`prediction_score` is null where the model gave none.\n"
        )
    else:
        lines.append("No task carries a prediction in this version.\n")
    lines.append(
        f"\n**Did annotations start from them?** {facts.from_prediction} of "
        f"{facts.annotations} annotation(s) record the prediction they started from "
        "(`parent_prediction`)"
        + (
            "; for the others Label Studio exported none, so `parent_prediction` and "
            "`prediction_model_version` are null on their rows.\n"
            if facts.from_prediction < facts.annotations
            else ".\n"
        )
    )
    lines.append(
        f"\n**Time spent.** Label Studio recorded a `lead_time` for {facts.lead_time_recorded} "
        f"of {facts.annotations} annotation(s)"
        + (
            "; it measures time in its labeling editor, and the annotations without one "
            "carry null, never an estimate.\n"
            if facts.lead_time_recorded < facts.annotations
            else ".\n"
        )
    )
    if facts.ai_accounts:
        why = (
            ": this is why no annotation has a lead time or a parent prediction"
            if not facts.lead_time_recorded and not facts.from_prediction
            else ""
        )
        lines.append(
            "\n**How the AI assistant account(s) worked.** They read every article in full, "
            "wrote reviewable worksheets (`annotations/worksheets/` in the source repository) "
            "and submitted them through the Label Studio API (`sahelwire labelstudio "
            f"submit-worksheets`), not in the labeling editor{why}.\n"
        )
    lines.append(
        f"\nCancelled (skipped) annotations: {facts.cancelled}; they are kept in "
        "`annotations_raw` (flagged `cancelled`) and never enter gold.\n"
    )
    return "".join(lines)


def figures_section(disagreements: list[dict[str, Any]]) -> str:
    rule = (
        "Rule: within one story cluster, quantity claims in the article content (body or "
        "headline) of the same type and unit, from different articles, with different values."
    )
    if not disagreements:
        return rule + " No figures disagree by this rule in this version.\n"
    rows = [
        [
            f"`{d['story_cluster']}`",
            d["quantity_type"],
            d["unit"] or "—",
            c[ARTICLE_ID],
            f'"{c["text"]}"',
            f"{c['value']:g}",
            "yes" if c["approximate"] else "no",
        ]
        for d in disagreements
        for c in d["claims"]
    ]
    return (
        rule
        + f" {len(disagreements)} group(s):\n\n"
        + markdown_table(
            ["story cluster", "type", "unit", "article", "claim", "value", "approximate"], rows
        )
        + "\nThey are annotated as what each text claims; which figure is right is not known.\n"
    )


def outlets_section(documents: Mapping[str, pa.Table], organisations: list[dict[str, Any]]) -> str:
    n = sum(t.num_rows for t in documents.values())
    nulls = metadata_nulls(documents, METADATA)
    text = (
        "Source metadata missing (null) in `documents`: "
        + ", ".join(f"`{c}` {nulls[c]} of {n}" for c in METADATA)
        + " article(s). It is null where it was not recorded when the text was ingested, "
        "and never guessed.\n"
    )
    if organisations:
        text += (
            "\nThe page text itself names organisations outside the article content "
            "(paywall and promotion text, navigation, photo credits): a hint at the "
            "publisher or a photo agency, not recorded as metadata because a page can carry "
            "syndicated text.\n\n"
            + markdown_table(
                ["article", "zone", "organisation (entity registry name)", "mentions"],
                [
                    [o[ARTICLE_ID], o["zone"], o["organisation"], o["mentions"]]
                    for o in organisations
                ],
            )
        )
    return text


def _id_list(leaking: dict[str, dict[str, int]], splits: tuple[str, ...]) -> str:
    ordered = sorted(leaking.items(), key=lambda kv: (-len(kv[1]), -sum(kv[1].values()), kv[0]))
    rows = [[f"`{k}`", *(v.get(s, 0) for s in splits)] for k, v in ordered[:LISTED_IDS]]
    more = len(ordered) - LISTED_IDS
    return markdown_table(["id", *(f"{s} mentions" for s in splits)], rows) + (
        f"\n… and {more} more.\n" if more > 0 else ""
    )


def leakage_section(tables: Mapping[str, Mapping[str, pa.Table]], repo: str, unsplit: str) -> str:
    splits = tuple(s for s in SPLITS if s in tables["events"])
    parts = [
        "Story clusters keep each story in one split, but the registries are shared: the "
        "same registry event or entity can be mentioned by articles of different clusters, "
        "so a model can meet it in training and again at test time. Counted from the gold "
        "mentions of this version:\n\n"
    ]
    for config, column, what in (
        ("events", "event_id", "events"),
        ("mentions", "entity_id", "entities"),
    ):
        linked, leaking = cross_split_ids(tables, config, column)
        parts.append(
            f"- registry {what}: {len(leaking)} of {linked} linked in this version are "
            f"mentioned in more than one split.\n"
        )
    for config, column, what in (
        ("events", "event_id", "Events"),
        ("mentions", "entity_id", "Entities"),
    ):
        _, leaking = cross_split_ids(tables, config, column)
        if leaking:
            parts.append(
                f"\n{what} mentioned in more than one split:\n\n" + _id_list(leaking, splits)
            )
    docs = {s: tables["documents"][s].num_rows for s in splits}
    parts.append("\nArticles per split: " + ", ".join(f"{s} {docs[s]}" for s in splits) + ". ")
    if "folds" in tables:
        folds = next(iter(tables["folds"].values()))
        parts.append(
            "With so few articles one test split is a thin evaluation, so the `folds` config "
            "also gives cross-validation folds over all articles (fold k holds out the "
            "articles with `fold == k` and trains on the others):\n\n"
        )
        rows = []
        for scheme in ("leave_one_article_out", "leave_one_cluster_out"):
            n, ev = fold_leakage(folds, tables["events"], "event_id", scheme)
            _, en = fold_leakage(folds, tables["mentions"], "entity_id", scheme)
            rows.append([f"`{scheme}`", n, ev, en])
        parts.append(
            markdown_table(
                [
                    "scheme",
                    "folds",
                    "folds sharing a registry event with training",
                    "folds sharing a registry entity with training",
                ],
                rows,
            )
        )
        parts.append(
            "\n`leave_one_article_out` puts articles of one story cluster on both sides of "
            "a fold (their stories leak); `leave_one_cluster_out` never does, but registry "
            "events and entities can still be shared across clusters, as counted above.\n\n"
            "```python\n"
            f'folds = load_dataset("{repo}", "folds", revision=REVISION, split="{unsplit}")'
            ".filter(\n"
            '    lambda r: r["scheme"] == "leave_one_article_out")\n'
            'for k in sorted(set(folds["fold"])):\n'
            '    test_ids = {r["article_id"] for r in folds if r["fold"] == k}\n'
            "    ...  # train on every other article, evaluate on test_ids\n"
            "```\n"
        )
    return "".join(parts)


def ner_bio_section(stats: BioStats, ner: Mapping[str, pa.Table], taxonomy: Taxonomy) -> str:
    zones = taxonomy.class_names("zone:span_layers.zones")
    per_split = []
    for split, table in ner.items():
        lengths = [len(t) for t in table.column("tokens").to_pylist()]
        zone_ids = table.column("zone").to_pylist()
        content = sum(
            n for n, z in zip(lengths, zone_ids, strict=True) if zones[z] in CONTENT_ZONES
        )
        per_split.append([split, table.num_rows, sum(lengths), content, max(lengths, default=0)])
    carried = stats.mentions_outer + stats.mentions_nested
    return (
        "`ner_bio` covers the **whole page text**, every zone included: each row is one "
        "sentence (cut at line breaks and sentence ends, never inside a gold span) with its "
        "`zone` (`BODY` for text no zone covers). For an article-only NER set keep rows whose "
        "zone is "
        + " or ".join(f"`{z}`" for z in CONTENT_ZONES)
        + "; the other zones (navigation, promotions, captions, reader comments, repeated "
        "lines) are kept so that no gold mention is silently missing.\n\n"
        f"Gold entity mentions carried: {carried} of "
        f"{carried + stats.mentions_too_deep} ({stats.mentions_outer} outermost in "
        f"`ner_tags`, {stats.mentions_nested} nested one level in `nested_ner_tags`); "
        f"not carried (nested two or more levels deep): {stats.mentions_too_deep}. "
        f"Tokens cut at a mention boundary the tokenizer did not see: {stats.forced_cuts}.\n\n"
        "Token counts (whitespace/punctuation tokens as in `tokens`; subword counts depend on "
        "your tokenizer):\n\n"
        + markdown_table(
            ["split", "sentences", "tokens", "tokens in article content", "longest sentence"],
            per_split,
        )
        + "\nSentences per zone: "
        + ", ".join(f"`{z}` {n}" for z, n in sorted(stats.rows.items()))
        + ".\n"
    )


def _plain(value: Any, limit: int = 3) -> Any:
    """A value shortened for display: long strings cut, long lists cut (with a count)."""
    if isinstance(value, str) and len(value) > 90:
        return value[:90] + f"… ({len(value)} characters)"
    if isinstance(value, list):
        head = [_plain(v) for v in value[:limit]]
        return head + ([f"… ({len(value) - limit} more)"] if len(value) > limit else [])
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _class_names(feature: Any) -> list[str] | None:
    inner = getattr(feature, "feature", feature)
    return list(inner.names) if isinstance(inner, datasets.ClassLabel) else None


def _render(value: Any, feature: Any, indent: str) -> list[str]:
    """YAML-like lines; ClassLabel integers get their names as a comment."""
    if isinstance(value, dict):
        lines = []
        for k, v in value.items():
            sub = feature[k] if isinstance(feature, dict) and k in feature else None
            lines += _field(k, v, sub, indent)
        return lines
    return [f"{indent}{_scalar(value)}"]


def _field(key: str, value: Any, feature: Any, indent: str) -> list[str]:
    names = _class_names(feature)
    if isinstance(value, list) and value and isinstance(value[0], dict):
        inner = getattr(feature, "feature", None)
        lines = [f"{indent}{key}:"]
        for item in value:
            body = _render(item, inner, indent + "    ") if isinstance(item, dict) else []
            if not body:
                lines.append(f"{indent}  - {_scalar(item)}")
                continue
            lines.append(f"{indent}  - " + body[0].lstrip())
            lines += body[1:]
        return lines
    comment = ""
    if names is not None:
        ids = value if isinstance(value, list) else [value]
        shown = [names[i] if isinstance(i, int) and 0 <= i < len(names) else "-" for i in ids]
        comment = "  # " + (", ".join(shown) if isinstance(value, list) else shown[0])
    return [f"{indent}{key}: {_scalar(value)}{comment}"]


def _scalar(value: Any) -> str:
    # JSON is valid YAML; angle brackets escaped so quoted text is never markup in the card.
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def examples_section(
    tables: Mapping[str, Mapping[str, pa.Table]], features: Mapping[str, datasets.Features]
) -> str:
    parts = []
    for config, by_split in tables.items():
        split, table = next(((s, t) for s, t in by_split.items() if t.num_rows), (None, None))
        if table is None:
            continue
        row = _plain(table.slice(0, 1).to_pylist()[0])
        lines = []
        for key, value in row.items():
            lines += _field(key, value, features[config][key], "")
        parts.append(
            f"\n**`{config}`** (first row of `{split}`; long values shortened here, "
            "ClassLabel names as comments):\n\n```yaml\n" + "\n".join(lines) + "\n```\n"
        )
    return "".join(parts).lstrip("\n")


def licensing_text(documents: Mapping[str, pa.Table], repo: str) -> str:
    """The licensing statement (the card's Licensing section and LICENSE.md)."""
    n = sum(t.num_rows for t in documents.values())
    stated = sorted(
        {v for t in documents.values() for v in t.column("license").to_pylist() if v is not None}
    )
    unknown = metadata_nulls(documents, ("license",))["license"]
    texts = (
        f"- **Article texts** (`text`, `clean_text`, and the text quoted in spans): "
        f"{unknown} of {n} article(s) have no licence recorded (`license` is null): they are "
        "copyrighted news articles, redistributed unchanged for non-commercial research on "
        "news text (text and data mining); no licence from their publishers is claimed."
    )
    if stated:
        texts += (
            " The others carry the licence in their `license` field: "
            + ", ".join(f"`{escape_cell(s)}`" for s in stated)
            + "."
        )
    return (
        texts + "\n"
        "- **Annotations, metadata and derived views** (spans, labels, ids, registries, "
        "splits, folds, the card and croissant.json) are released under **CC BY 4.0** "
        "(https://creativecommons.org/licenses/by/4.0/) by the SahelWire maintainers. This "
        "licence does not extend to the article texts they annotate.\n"
        "- **Code** (the `sahelwire` package) is MIT-licensed in the source repository.\n"
        "- **Takedown:** a rights holder who wants a text removed opens a discussion titled "
        f'"takedown" on the dataset\'s Hugging Face Hub page (`{repo}`), naming the '
        "article id; no personal data is needed. The text is removed in the next release "
        "(a MINOR version).\n"
    )


def license_file(documents: Mapping[str, pa.Table], repo: str, version: str) -> str:
    """LICENSE.md of the release folder (the card's ``license_link``)."""
    return (
        f"# SahelWire data version {version}: licensing\n\n"
        "This dataset mixes material under different terms (the card's YAML says "
        "`license: other`).\n\n" + licensing_text(documents, repo)
    )
