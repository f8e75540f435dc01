"""The published configs as Arrow tables, one per (config, split), from articles + gold.

Row order is stable (article id, then span start/end/label), so a rebuild of the same
inputs gives the same tables, and hence byte-identical Parquet files.
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa

from sahelwire.annotations.gold_layer import GoldLayer
from sahelwire.io.bulk import paused_gc
from sahelwire.io.config import SPLITS
from sahelwire.raw.manifest import Article
from sahelwire.schema.table_specs import ShapeBuilder
from sahelwire.schema.taxonomy import Taxonomy

# Articles whose rows are held as Python objects at once: the tables are built chunk by
# chunk in Arrow, so memory for rows does not grow with the corpus.
CHUNK_ARTICLES = 2000
BODY_ZONES = {"HEADLINE"}  # zones that are article content; every other zone is not
_TOKEN = re.compile(r"\w+(?:[-'’.]\w+)*|[^\w\s]", re.UNICODE)


@dataclass(frozen=True)
class ReleaseInputs:
    articles: list[Article]
    splits: dict[str, str]  # article id -> split
    clusters: dict[str, str]  # article id -> story cluster
    gold: GoldLayer
    raw: pl.DataFrame  # the annotations_raw rows in order (annotations.layers.raw_frame)


def _index(taxonomy: Taxonomy, path: str) -> dict[str, int]:
    return {name: i for i, name in enumerate(taxonomy.class_names(path))}


def _rows_by_article(df: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in df.sort(["article_id", "start", "end", "label"]).iter_rows(named=True):
        grouped[row["article_id"]].append(row)
    return grouped


def non_body_ranges(zones: Iterable[dict[str, Any]]) -> list[tuple[int, int]]:
    """Sorted (start, end) of zones that are not article content."""
    return sorted((z["start"], z["end"]) for z in zones if z["label"] not in BODY_ZONES)


def clean_text(text: str, zones: Iterable[dict[str, Any]]) -> str:
    """``text`` minus non-body zones; blank-line runs left behind collapse to one."""
    kept, cursor = [], 0
    for start, end in non_body_ranges(zones):
        kept.append(text[cursor:start])
        cursor = max(cursor, end)
    kept.append(text[cursor:])
    joined = re.sub(r"\n[ \t]*(\n[ \t]*)+", "\n\n", "".join(kept))
    return joined.strip()


def bio_tokens(
    text: str, zones: list[dict[str, Any]], mentions: list[dict[str, Any]]
) -> dict[str, Any]:
    """Tokens of the article content (outside non-body zones) with outermost-mention BIO tags."""
    skip = non_body_ranges(zones)
    outer: list[dict[str, Any]] = []
    for m in sorted(mentions, key=lambda m: (m["start"], -m["end"])):
        if outer and m["start"] < outer[-1]["end"]:
            continue  # nested (or overlapping) inner mention: BIO cannot carry it
        outer.append(m)
    # Token starts only grow, so one pointer over the merged skip ranges replaces testing
    # every range for every token.
    merged: list[list[int]] = []
    for a, b in skip:
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        elif a < b:
            merged.append([a, b])
    tokens: list[str] = []
    starts: list[int] = []
    tags: list[str] = []
    mi = si = 0
    for match in _TOKEN.finditer(text):
        s, e = match.span()
        while si < len(merged) and merged[si][1] <= s:
            si += 1
        if si < len(merged) and merged[si][0] <= s:
            continue
        while mi < len(outer) and outer[mi]["end"] <= s:
            mi += 1
        tag = "O"
        if mi < len(outer) and outer[mi]["start"] <= s and e <= outer[mi]["end"]:
            prefix = "B" if s == outer[mi]["start"] or not tags or tags[-1] == "O" else "I"
            tag = f"{prefix}-{outer[mi]['label']}"
        tokens.append(match.group())
        starts.append(s)
        tags.append(tag)
    return {"tokens": tokens, "token_starts": starts, "ner_tags": tags}


class ReleaseTableBuilder:
    """Builds every published config's rows and Arrow tables."""

    def __init__(self, shapes: ShapeBuilder) -> None:
        self.shapes = shapes
        self.taxonomy = shapes.taxonomy

    def rows(self, inputs: ReleaseInputs) -> dict[str, list[dict[str, Any]]]:
        tx = self.taxonomy
        idx = {layer: _index(tx, f"span_layers.{layer}") for layer in tx.layer_names}
        realis = _index(tx, "span_layers.events.attributes.realis")
        roles = _index(tx, "span_layers.events.relations")
        bio = _index(tx, "bio:span_layers.entities")
        regions = _rows_by_article(inputs.gold.regions)
        by_key = {(r["article_id"], r["region_key"]): r for rs in regions.values() for r in rs}
        args: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for rel in inputs.gold.relations.sort(
            ["article_id", "from_key", "to_key", "label"]
        ).iter_rows(named=True):
            target = by_key[(rel["article_id"], rel["to_key"])]
            args[(rel["article_id"], rel["from_key"])].append(
                {
                    "role": roles[rel["label"]],
                    "start": target["start"],
                    "end": target["end"],
                    "text": target["text"],
                }
            )
        choices: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for ch in inputs.gold.choices.sort(["article_id", "field", "value"]).iter_rows(named=True):
            choices[ch["article_id"]][ch["field"]].append(ch["value"])
        n_annotators = dict(inputs.gold.status.iter_rows())

        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for art in sorted(inputs.articles, key=lambda a: a.id):
            mine = regions.get(art.id, [])
            layer = {name: [r for r in mine if r["layer"] == name] for name in tx.layer_names}
            headline = next((r["text"] for r in layer["zones"] if r["label"] == "HEADLINE"), None)

            def span(r: dict[str, Any], name: str) -> dict[str, Any]:
                return {
                    "start": r["start"],
                    "end": r["end"],
                    "text": r["text"],
                    "label": idx[name][r["label"]],
                }

            events = [
                {
                    **span(r, "events"),
                    "realis": realis[r["realis"]],
                    "event_id": r["event_id"],
                    "arguments": args.get((art.id, r["region_key"]), []),
                }
                for r in layer["events"]
            ]
            quantities = [
                {
                    **span(r, "quantities"),
                    "value": r["value"],
                    "unit": r["unit"],
                    "approximate": r["approximate"],
                }
                for r in layer["quantities"]
            ]
            entities = [
                {**span(r, "entities"), "entity_id": r["entity_id"]} for r in layer["entities"]
            ]
            doc_choice = choices.get(art.id, {})

            def single(field: str, doc_choice: dict[str, list[str]] = doc_choice) -> int:
                values = doc_choice.get(field, [])
                return _index(tx, f"document_labels.{field}")[values[0]] if values else -1

            meta = art.meta
            out["documents"].append(
                {
                    "id": art.id,
                    "title": headline if headline is not None else meta.get("title"),
                    "text": art.text,
                    "clean_text": clean_text(art.text, layer["zones"]),
                    "source_file": meta["source_file"],
                    "sha256": art.sha256,
                    **{
                        k: meta.get(k)
                        for k in ("url", "outlet", "published_date", "license", "language")
                    },
                    "story_cluster": inputs.clusters[art.id],
                    "n_annotators": int(n_annotators.get(art.id, 0)),
                    "zones": [span(r, "zones") for r in layer["zones"]],
                    "entities": entities,
                    "events": events,
                    "quantities": quantities,
                    "stance_us_presence": single("stance_us_presence"),
                    "primary_frame": single("primary_frame"),
                    "quality_flags": [
                        _index(tx, "document_labels.quality_flags")[v]
                        for v in doc_choice.get("quality_flags", [])
                    ],
                    "notes": "\n".join(doc_choice.get("notes", [])) or None,
                }
            )
            out["mentions"] += [
                {
                    "article_id": art.id,
                    **{k: e[k] for k in ("start", "end", "text", "label", "entity_id")},
                }
                for e in entities
            ]
            out["events"] += [
                {
                    "article_id": art.id,
                    "start": e["start"],
                    "end": e["end"],
                    "text": e["text"],
                    "event_type": e["label"],
                    "realis": e["realis"],
                    "event_id": e["event_id"],
                    "arguments": e["arguments"],
                }
                for e in events
            ]
            out["quantities"] += [
                {
                    "article_id": art.id,
                    **{k: q[k] for k in ("start", "end", "text", "value", "unit", "approximate")},
                    "quantity_type": q["label"],
                }
                for q in quantities
            ]
            tagged = bio_tokens(art.text, layer["zones"], layer["entities"])
            out["ner_bio"].append(
                {"id": art.id, **tagged, "ner_tags": [bio[t] for t in tagged["ner_tags"]]}
            )
        return out

    def tables(
        self, inputs: ReleaseInputs, raw_tables: dict[str, pa.Table] | None = None
    ) -> dict[str, dict[str, pa.Table]]:
        """config -> split -> Arrow table with the explicit published schema.

        ``raw_tables``: annotations_raw already split (:meth:`raw_tables`), so a caller can
        free the raw frame before the other configs are built; else made from ``inputs.raw``.
        """
        configs = self.shapes.specs.configs
        schemas = {
            name: self.shapes.arrow_schema(spec, published=True) for name, spec in configs.items()
        }
        parts: dict[str, dict[str, list[pa.Table]]] = {
            name: {split: [] for split in SPLITS} for name in configs
        }
        ordered = sorted(inputs.articles, key=lambda a: a.id)
        for lo in range(0, len(ordered), CHUNK_ARTICLES):
            chunk = ordered[lo : lo + CHUNK_ARTICLES]
            gold = _gold_between(inputs.gold, chunk[0].id, chunk[-1].id)
            with paused_gc():
                rows = self.rows(dataclasses.replace(inputs, articles=chunk, gold=gold))
            for name, spec in configs.items():
                if name == "annotations_raw":
                    continue
                key = "id" if "id" in spec.column_names else "article_id"
                by_split: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
                for r in rows.pop(name, []):
                    by_split[inputs.splits[r[key]]].append(r)
                for split in SPLITS:
                    parts[name][split].append(
                        pa.Table.from_pylist(by_split.pop(split), schema=schemas[name])
                    )
            del rows
        out: dict[str, dict[str, pa.Table]] = {}
        for name in configs:
            if name == "annotations_raw":
                out[name] = (
                    raw_tables
                    if raw_tables is not None
                    else self.raw_tables(inputs.raw, inputs.splits, schemas[name])
                )
                continue
            out[name] = {}
            for split in SPLITS:
                # One Arrow chunk per column, as a single from_pylist gave: the Parquet
                # writer encodes each chunk on its own, so chunk boundaries would change
                # the file bytes. Parts are dropped as soon as they are combined.
                pieces = parts[name].pop(split)
                out[name][split] = (
                    pa.concat_tables(pieces).combine_chunks()
                    if pieces
                    else schemas[name].empty_table()
                )
                del pieces
        return out

    def raw_schema(self) -> pa.Schema:
        return self.shapes.arrow_schema(
            self.shapes.specs.configs["annotations_raw"], published=True
        )

    @staticmethod
    def raw_tables(
        raw: pl.DataFrame, splits: dict[str, str], schema: pa.Schema
    ) -> dict[str, pa.Table]:
        """The annotations_raw frame as one Arrow table per split (row order kept)."""
        split_of = pl.col("article_id").replace_strict(splits, default=None, return_dtype=pl.Utf8)
        keyed = raw.with_columns(split_of.alias("_split"))
        return {
            split: keyed.filter(pl.col("_split") == split)
            .select(schema.names)
            .to_arrow()
            .cast(schema)
            .combine_chunks()
            for split in SPLITS
        }


def _gold_between(gold: GoldLayer, first: str, last: str) -> GoldLayer:
    """The gold rows of articles with ids in [first, last] (a chunk of sorted articles)."""

    def between(df: pl.DataFrame) -> pl.DataFrame:
        return (
            df.filter(pl.col("article_id").is_between(pl.lit(first), pl.lit(last)))
            if df.height
            else df
        )

    return GoldLayer(
        between(gold.regions), between(gold.relations), between(gold.choices), between(gold.status)
    )
