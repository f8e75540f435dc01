"""The card's generated prose sections: label tables, split table, statistics.

Each returns Markdown computed from the taxonomy, the table specs or the built tables,
so no figure in the card is typed by hand.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import polars as pl
import pyarrow as pa

from sahelwire.annotations.layers import AnnotationLayers
from sahelwire.io.config import SPLITS, Settings
from sahelwire.io.markdown import markdown_table
from sahelwire.release.card.facts import value_counts
from sahelwire.schema.table_specs import TableSpecs
from sahelwire.schema.taxonomy import Taxonomy

# Above this many story clusters the card lists only the largest (and totals per split).
LISTED_CLUSTERS = 50


def taxonomy_section(taxonomy: Taxonomy) -> str:
    parts = [f"Taxonomy version {taxonomy.version} (`schemas/taxonomy.yaml`).\n"]
    for layer in taxonomy.span_layers:
        parts.append(f"\n**{layer.title}** (`{layer.name}`): {layer.description}\n\n")
        parts.append(
            markdown_table(
                ["label", "hotkey", "description"],
                [[f"`{lab.name}`", lab.hotkey or "", lab.description] for lab in layer.labels],
            )
        )
        for attr in layer.attributes:
            values = ", ".join(attr.values) if attr.values else attr.type
            parts.append(f"\n- attribute `{attr.name}` ({values}): {attr.description}\n")
        if layer.relation_labels:
            roles = ", ".join(f"`{r.name}` ({r.description})" for r in layer.relation_labels)
            parts.append(f"- argument relations: {roles}\n")
    parts.append("\n**Article-level labels**\n\n")
    parts.append(
        markdown_table(
            ["field", "kind", "values"],
            [
                [f"`{f.name}`", f.kind, ", ".join(f.value_names) or "free text"]
                for f in taxonomy.document_fields
            ],
        )
    )
    return "".join(parts)


def fields_section(specs: TableSpecs) -> str:
    parts = []
    for name, spec in specs.configs.items():
        parts.append(
            f"\n**`{name}`**{' (default)' if spec.default else ''}: {spec.description}\n\n"
        )
        parts.append(
            markdown_table(
                ["field", "description"], [[f"`{c.name}`", c.description] for c in spec.columns]
            )
        )
    return "".join(parts)


def splits_section(
    settings: Settings,
    clusters: Mapping[str, str],
    splits: Mapping[str, str],
    pinned_from: str | None = None,
    pinned: Mapping[str, str] | None = None,
) -> str:
    ratios = ", ".join(f"{s} {settings.split_ratios[s]:.2f}" for s in SPLITS)
    members_of: dict[str, list[str]] = defaultdict(list)
    for article, cluster in clusters.items():
        members_of[cluster].append(article)
    rows: list[list[object]] = []
    listed = len(members_of) <= LISTED_CLUSTERS
    for cluster in sorted(members_of):
        members = members_of[cluster]
        # Every member named only when every cluster is listed: the table of all of them was
        # made and dropped at 1M articles (seconds of the card's phase).
        first = min(members)
        row: list[object] = [f"`{cluster}`", splits[first], len(members)]
        rows.append([*row, ", ".join(sorted(members))] if listed else row)
    if listed:
        table = markdown_table(["story cluster", "split", "articles", "article ids"], rows)
    else:
        # A row per cluster would make the card as long as the corpus: list the largest.
        largest = sorted(rows, key=lambda r: (-int(str(r[2])), str(r[0])))[:LISTED_CLUSTERS]
        per_split = Counter(splits[a] for a in clusters)
        clusters_per_split = Counter(str(r[1]) for r in rows)
        table = (
            markdown_table(
                ["split", "story clusters", "articles"],
                [[s, clusters_per_split[s], per_split[s]] for s in SPLITS],
            )
            + f"\nThe {LISTED_CLUSTERS} largest of {len(rows)} story clusters:\n\n"
            + markdown_table(["story cluster", "split", "articles"], [r[:3] for r in largest])
        )
    return (
        f"Split seed `{settings.split_seed}`, target ratios {ratios} (`[tool.sahelwire]` in pyproject.toml). "
        + _kept_splits(pinned_from, pinned or {}, splits)
        + "Whole story clusters (`dataset/story_clusters.yaml`) are assigned, largest first: "
        "while a split is empty it takes the next cluster (largest ratio first), then each cluster goes to "
        "the split furthest below its target share; equal sizes are ordered by a seeded hash of the cluster id.\n\n"
        + table
    )


def _kept_splits(
    pinned_from: str | None, pinned: Mapping[str, str], splits: Mapping[str, str]
) -> str:
    """What the card says of released articles' splits (release.splits: they keep them)."""
    if pinned_from is None or not pinned:
        return ""
    moved = sorted(a for a, s in pinned.items() if splits[a] != s)
    text = (
        f"Every article of release {pinned_from} keeps the split it had there "
        f"({len(pinned)} article(s), `releases/{pinned_from}.json`): a story cluster holding one "
        "is placed there first, so no article released in test or validation comes back in train. "
    )
    if moved:
        text += (
            f"{len(moved)} released article(s) moved, because their story cluster now joins "
            f"articles released in different splits (it went where most of them were): "
            f"{', '.join(f'`{a}` {pinned[a]} → {splits[a]}' for a in moved)}. "
        )
    return text + "The clusters no release had are assigned as follows. "


def statistics_section(
    tables: Mapping[str, Mapping[str, pa.Table]],
    taxonomy: Taxonomy,
    unsplit: str,
    label_counts: Mapping[str, Mapping[str, Mapping[str, int]]],
) -> str:
    """``label_counts``: :func:`~sahelwire.release.card.plots.label_counts` of the documents
    (the plots' own counts, passed in: each count reads every split's span columns)."""
    columns = [*SPLITS, unsplit]
    rows = [
        [f"`{c}`", *(tables[c][s].num_rows if s in tables[c] else "—" for s in columns)]
        for c in tables
    ]
    parts = [
        f"Rows per config and split (`{unsplit}`: the one split of a config that is not "
        "split by article; '—': the config has no such split):\n\n",
        markdown_table(["config", *columns], rows),
    ]
    empty = [c for c in tables if all(t.num_rows == 0 for t in tables[c].values())]
    if empty:
        parts.append(
            "\nNot published in this version because they have no rows yet: "
            + ", ".join(f"`{c}`" for c in empty)
            + ". Empty splits are left out of the files.\n"
        )
    empty_splits = [
        f"`{c}` {s}"
        for c in tables
        if c not in empty
        for s, t in tables[c].items()
        if t.num_rows == 0
    ]
    if empty_splits:
        # A 0 above is a split `load_dataset` will not have (it cannot load one of no rows).
        parts.append(
            "\nSplits with no rows have no file, so `load_dataset` does not return them: "
            + ", ".join(empty_splits)
            + ".\n"
        )
    docs = tables["documents"]
    label_rows = []
    for layer in taxonomy.span_layers:
        counts = label_counts[layer.name]
        for label in layer.label_names:
            label_rows.append(
                [layer.name, f"`{label}`", *(counts[s].get(label, 0) for s in SPLITS)]
            )
    parts += [
        "\nGold spans per label and split:\n\n",
        markdown_table(["layer", "label", *SPLITS], label_rows),
    ]
    annotated = {
        s: sum(n for k, n in value_counts([docs[s]], "n_annotators").items() if k and k > 0)
        for s in SPLITS
    }
    parts.append(
        "\nArticles with a gold layer: "
        + ", ".join(f"{s} {annotated[s]}/{docs[s].num_rows}" for s in SPLITS)
        + ".\n"
    )
    return "".join(parts)


def agreement_tables(report: dict[str, Any]) -> str:
    """The measured agreement as Markdown tables, led by the caution when it applies."""
    from sahelwire.annotations.agreement import ERROR_CLASSES
    from sahelwire.io.markdown import markdown_table

    def num(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    n = report["articles_with_2plus_annotators"]
    parts = [
        f"\n**Agreement** (`sahelwire agreement`), over {n} article(s) annotated by two or "
        "more annotators, every annotator pair of an article counted once.\n"
    ]
    if report["caution"]:
        parts.append(f"\n> **Caution:** {report['caution']}.\n")
    if report["spans"]:
        rows = []
        for layer, r in report["spans"].items():
            e = report["span_errors"].get(layer, {})
            rows.append(
                [
                    layer,
                    num(r["f1_exact"]),
                    num(r["f1_overlap"]),
                    num(e.get("f1_partial")),
                    *(e.get(c, 0) for c in ERROR_CLASSES),
                    r["pairs"],
                ]
            )
        parts.append(
            "\nSpans: pairwise F1 (exact offsets and label; overlapping offsets and label; "
            "SemEval partial) and the SemEval-2013 error classes of one annotator against the "
            "other in `nervaluate`'s `ent_type` scheme (correct: the same label and "
            "overlapping offsets, so a span whose boundaries differ counts as correct here "
            "but not in F1 exact):\n\n"
            + markdown_table(
                ["layer", "F1 exact", "F1 overlap", "F1 partial", *ERROR_CLASSES, "pairs"], rows
            )
        )
        label_rows = [
            [layer, tag, num(r["f1_strict"]), *(r[c] for c in ERROR_CLASSES)]
            for layer, e in report["span_errors"].items()
            for tag, r in e["labels"].items()
        ]
        if label_rows:
            parts.append(
                "\nPer label, in the `strict` scheme (correct: the same label and exactly "
                "the same offsets; a span whose boundaries differ is incorrect here):\n\n"
                + markdown_table(["layer", "label", "F1", *ERROR_CLASSES], label_rows)
            )
    if report["arguments"]:
        a = report["arguments"]
        rows = [["all roles", num(a["f1"])], *([k, num(v)] for k, v in a["roles"].items())]
        parts.append(
            "\nEvent arguments: pairwise F1 of (event span, argument span, role):\n\n"
            + markdown_table(["role", "F1"], rows)
        )
    if report["links"]:
        rows = [
            [k, v["same"], v["mentions"], num(v["agreement"])] for k, v in report["links"].items()
        ]
        parts.append(
            "\nLinks and attributes, over the mentions both annotators marked identically:\n\n"
            + markdown_table(["field", "same", "mentions", "agreement"], rows)
        )
    if report["article_labels"]:
        rows = [
            [
                k,
                "undefined" if v["alpha"] is None else f"{v['alpha']:.3f}",
                v["articles"],
                v.get("note", ""),
            ]
            for k, v in report["article_labels"].items()
        ]
        parts.append(
            "\nArticle labels: Krippendorff's alpha (nominal):\n\n"
            + markdown_table(["field", "alpha", "articles", "note"], rows)
        )
    return "".join(parts)


def annotation_section(
    layers: AnnotationLayers,
    agreement: dict[str, Any] | None = None,
    starting_points: Mapping[str, list[str | None]] | None = None,
) -> str:
    """Who annotated what, how gold was made, and agreement only where it was measured."""
    status = layers.gold.status
    if not status.height or not layers.annotations.height:
        return "No annotations have been pulled yet: every span list is empty.\n"
    counts = Counter(status["n_annotators"].to_list())
    lines = [
        f"{status.height} article(s) have a gold layer. Annotators per article: "
        + ", ".join(f"{n} annotator(s): {c} article(s)" for n, c in sorted(counts.items()))
        + ". Who they are: [Provenance](#provenance-who-annotated-and-from-what).\n\n",
    ]
    single = counts.get(1, 0)
    if single == status.height:
        lines.append(
            "Every article is **single-annotated**: its gold layer is that one annotator's "
            "annotation taken as is (adjudication rule for one annotator). No inter-annotator "
            "agreement was measured, so none is reported.\n"
        )
    else:
        lines.append(
            f"{single} article(s) are single-annotated (taken as is); the others were "
            "adjudicated by the rules in `sahelwire.annotations.adjudication` with every conflict settled "
            "in `annotations/decisions/`.\n"
        )
        if agreement is not None and agreement["articles_with_2plus_annotators"]:
            lines.append(agreement_tables(agreement))
            lines.append(_agreement_caveat(layers, starting_points or {}))
    return "".join(lines)


def _agreement_caveat(
    layers: AnnotationLayers, starting_points: Mapping[str, list[str | None]]
) -> str:
    """What the figures can and cannot mean, from who annotated and what they started from
    (``starting_points``: AnnotationFacts.starting_points)."""
    from sahelwire.release.card.facts import is_ai_account

    accounts = sorted(set(layers.annotations.filter(~pl.col("cancelled"))["annotator"].to_list()))
    said = []
    if accounts and all(is_ai_account(a) for a in accounts):
        said.append(
            "Every annotator of these figures is an AI assistant account: they measure how "
            "consistently the guidelines are applied by such annotators, not how reliably "
            "people apply them, and two assistants may share blind spots that agreement "
            "cannot show."
        )
    # Only articles whose annotators are compared; "the same" only where the data says so:
    # a team walkthrough's third annotator started from a newer baseline than the first two.
    compared = {a: p for a, p in starting_points.items() if len(p) > 1}
    shared = sum(1 for p in compared.values() if None not in p and len(set(p)) == 1)
    what = "pre-annotations (entity mentions the gazetteer found from the registries' aliases)"
    raises = (
        "raises agreement on the entity mentions and their ids above what annotators starting "
        "from an empty task would reach"
    )
    if compared and shared == len(compared):
        said.append(f"Every annotator started from the same {what}, which {raises}.")
    elif shared:
        said.append(
            f"On {shared} of the {len(compared)} articles compared every annotator started from "
            f"the same {what}, which there {raises}; on the other {len(compared) - shared} "
            "they started from different pre-annotations (another model version or file), or "
            "one of them records none."
        )
    elif compared and any(p is not None for points in compared.values() for p in points):
        said.append(
            f"On none of the {len(compared)} articles compared did every annotator record "
            f"starting from the same {what}: how much shared pre-annotations raise agreement "
            "here is not known."
        )
    return ("\n" + " ".join(said) + "\n") if said else ""
