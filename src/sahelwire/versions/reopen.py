"""``sahelwire labelstudio push --from-release vX.Y.Z``: re-open a published version, losslessly.

A team corrects or extends a published version starting from its gold, in Label Studio. The
gold goes there as **predictions** (pre-annotations), never as annotations: an annotation is a
person's work, and one created through the API is credited to the account that makes the call
(Argilla's ``from_hub`` likewise hands records of unknown annotators to the importing user). A
prediction belongs to no account; who made each gold item is written into the item itself.

**Source.** The release's own files, never today's exports: its ``documents`` Parquet files
(the gold) and its ``annotations_raw`` files (every annotator's regions, relations and choices:
who made what). Either rebuilt from the release's source commit by that commit's own code
(:func:`sahelwire.versions.rebuild.rebuild_release`, into a temporary folder, byte-identical to
``releases/vX.Y.Z.json`` or refused), or read from a folder the user gives (a download, an
earlier ``build --release``), checked file by file against the manifest before anything is read.
Class-label integers are decoded with the release's own feature names (in each Parquet file's
metadata), never today's taxonomy, whose label order may differ.

**What is pushed, per article.** A task exactly as push makes it (``text``, ``article_id``,
``text_sha256``; an existing task with the same text is reused, one with another text refuses
the whole push before anything is written) with one prediction, model version
``sahelwire-vX.Y.Z-gold``, holding every gold item of the article: spans (``labels``), their
attributes, event arguments (``relation``), article-level choices and notes, in the data
contract's form (docs/label_studio_format.md), so that an annotator who submits it unchanged
produces exactly the release's gold again. Each result item carries a ``sahelwire`` key:

    {"release": "v0.1.0", "items": [{"item": "region:entities:GPE:0:2",
      "annotators": ["ai-annotator-1@sahelwire.local"], "of": 1, "adjudicated": false}]}

``item`` is the adjudication's own key for it (``region:``, ``attr:<region>:<name>``,
``relation:<from>-><to>:<role>``, ``choice:<field>:<value>``); ``annotators`` are the e-mails
of those whose counted annotation (the latest non-cancelled one per annotator) made exactly that
item; ``of`` is the article's number of counted annotators (``n_annotators``).

**Adjudicated items.** A gold item that a strict majority did not make was kept by a decision
(``annotations/decisions/<article>.yaml``), as was an attribute whose values were tied. It is
pushed like any other (it is gold), with ``adjudicated: true`` and ``decided_by`` read from the
decision file at the release's source commit (None when that record cannot be read, which is
reported); its ``annotators`` still name only those who made it, never the decider.

**Offsets.** The release stores code points; the prediction's offsets are converted with
:func:`sahelwire.labelstudio.offsets.to_label_studio` (the identity today, measured in a real
browser), and every span's text is checked against the article before anything is pushed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from rich.progress import Progress

from sahelwire.annotations.gold_layer import region_key
from sahelwire.io.locks import exclusive_lock
from sahelwire.io.paths import ProjectPaths
from sahelwire.io.release_manifests import ManifestDamaged
from sahelwire.io.text_files import loads_yaml
from sahelwire.labelstudio.client import Connection, ConnectionProblem, call
from sahelwire.labelstudio.export_format import PROVENANCE_KEY
from sahelwire.labelstudio.label_config import LabelConfig
from sahelwire.labelstudio.offsets import OffsetError, to_label_studio
from sahelwire.labelstudio.project import find_project, task_rows
from sahelwire.labelstudio.push import (
    PUSH_LOCK,
    PushSummary,
    check_restored,
    ensure_project,
    import_tasks,
)
from sahelwire.raw.manifest import read_manifest
from sahelwire.release.tables import NOTES_JOIN
from sahelwire.schema.problems import Problem
from sahelwire.schema.taxonomy import Attribute, Taxonomy, load_taxonomy
from sahelwire.versions.history import HistoryError, release_commit
from sahelwire.versions.rebuild import RebuildMismatch, RebuildRefused, rebuild_release
from sahelwire.versions.release_checks import file_problems
from sahelwire.versions.releases import load_manifest

# Columns of the documents config that are about the article, not gold annotations.
ARTICLE_COLUMNS = frozenset(
    {
        "id",
        "article_id",
        "title",
        "text",
        "clean_text",
        "source_file",
        "sha256",
        "url",
        "outlet",
        "published_date",
        "license",
        "language",
        "story_cluster",
        "n_annotators",
    }
)


class ReopenRefused(Exception):
    """The release's files or the target project rule the push out (exit 1); nothing pushed."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class ReopenUnavailable(Exception):
    """The release cannot be read here (unknown version, no history, other pins): exit 2."""


def model_version(tag: str) -> str:
    """The predictions' model version: names the release, the same for every task (the
    project shows one model version's predictions to annotators)."""
    return f"sahelwire-{tag}-gold"


@dataclass(frozen=True)
class GoldArticle:
    article_id: str
    text: str
    sha256: str
    n_annotators: int
    results: list[dict[str, Any]]  # Label Studio result items, each with its provenance

    @property
    def items(self) -> int:
        return sum(len(r[PROVENANCE_KEY]["items"]) for r in self.results)


@dataclass
class ReleaseGold:
    tag: str
    source: str  # how the files were obtained, for the summary
    articles: list[GoldArticle]
    annotators: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)

    @property
    def model_version(self) -> str:
        return model_version(self.tag)


# -- the release's files --------------------------------------------------------------


@contextlib.contextmanager
def release_folder(
    paths: ProjectPaths, version: str, folder: Path | None
) -> Iterator[tuple[dict[str, Any], Path, str]]:
    """(manifest, verified folder, description): a given folder checked against the manifest,
    or the release rebuilt from its source commit into a temporary folder."""
    version = version.removeprefix("v")
    try:
        manifest = load_manifest(paths, version)
    except (FileNotFoundError, ManifestDamaged) as exc:
        raise ReopenUnavailable(str(exc)) from None
    if folder is not None:
        if not folder.is_dir():
            raise ReopenUnavailable(f"--path {folder}: no such folder")
        problems = file_problems(folder, manifest)
        if problems:
            raise ReopenRefused(
                f"{folder} is not release v{version}: its files differ from "
                f"releases/v{version}.json; nothing pushed",
                [str(p) for p in problems],
            )
        yield manifest, folder, f"{folder}, verified against releases/v{version}.json"
        return
    with tempfile.TemporaryDirectory(prefix=f"sahelwire-reopen-v{version}-") as tmp:
        try:
            result = rebuild_release(paths, version, Path(tmp) / f"dist-v{version}")
        except RebuildRefused as exc:
            raise ReopenUnavailable(
                f"cannot rebuild v{version} here: {exc} (or pass the release's files with "
                "--path FOLDER)"
            ) from None
        except RebuildMismatch as exc:
            raise ReopenRefused(f"{exc}; nothing pushed", exc.problems) from None
        yield (
            manifest,
            result.out,
            f"rebuilt from commit {result.commit[:12]}, identical to releases/v{version}.json",
        )


def _decode(value: Any, feature: Any) -> Any:
    """A Parquet value with its Hugging Face feature: class-label ids become names."""
    if value is None:
        return None
    if isinstance(feature, list):  # the old list form: [feature]
        return [_decode(v, feature[0]) for v in value]
    if not isinstance(feature, dict):
        return value
    kind = feature.get("_type")
    if kind == "ClassLabel":
        names = feature["names"]
        if not isinstance(value, int) or value >= len(names):
            raise ValueError(f"class id {value!r} outside {len(names)} names")
        return None if value < 0 else names[value]
    if kind in ("List", "Sequence", "LargeList"):
        inner = feature["feature"]
        if not isinstance(value, list):  # e.g. a Sequence of a struct stored as lists
            raise ValueError(f"a {kind} stored as {type(value).__name__} is not read here")
        return [_decode(v, inner) for v in value]
    if kind is None:  # a struct: one feature per field
        return {k: _decode(value.get(k), f) for k, f in feature.items()}
    return value


def read_config(folder: Path, manifest: Mapping[str, Any], config: str) -> list[dict[str, Any]]:
    """Every row of one config (all splits), class labels decoded with the release's names."""
    rows: list[dict[str, Any]] = []
    for name in sorted(manifest["files"]):
        if not (name.startswith(f"data/{config}/") and name.endswith(".parquet")):
            continue
        table = pq.read_table(folder / name)
        meta = (table.schema.metadata or {}).get(b"huggingface")
        features = json.loads(meta)["info"]["features"] if meta else {}
        try:
            rows += [
                {k: _decode(v, features.get(k)) for k, v in r.items()} for r in table.to_pylist()
            ]
        except ValueError as exc:
            raise ReopenRefused(f"{folder / name}: {exc}; nothing pushed") from None
    return rows


# -- who made each gold item ----------------------------------------------------------


def counted_rows(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of the annotations that made gold: per article and annotator the latest
    non-cancelled annotation (adjudication rule 1: by updated_at, then annotation id)."""
    # Prediction rows (source = prediction, since v0.2.0) are no annotator's work: skipped.
    raw = [r for r in raw if r.get("source", "annotation") == "annotation"]
    latest: dict[tuple[str, str], tuple[str, int]] = {}
    for r in raw:
        if r["cancelled"]:
            continue
        key = (r["article_id"], r["annotator"])
        stamp = (str(r["updated_at"]), int(r["annotation_id"]))
        if key not in latest or stamp > latest[key]:
            latest[key] = stamp
    ids = {v[1] for v in latest.values()}
    return [r for r in raw if not r["cancelled"] and int(r["annotation_id"]) in ids]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and float(a) == float(b)
    return bool(a == b)


def region_id(key: str) -> str:
    """Deterministic region id of a gold region (so a re-push yields the same prediction)."""
    return "g" + hashlib.sha1(key.encode("utf-8")).hexdigest()[:10]


@dataclass
class _Article:
    """Builds one article's prediction result and the provenance of each of its items."""

    tag: str
    doc: dict[str, Any]
    rows: list[dict[str, Any]]  # counted annotations_raw rows of this article
    taxonomy: Taxonomy
    decisions: Callable[[str], Mapping[str, Mapping[str, Any]]]
    file: str
    # The labeling config the items are written for (registry ids into its lists); without
    # one, registry ids are written in the typed form, which every config also reads.
    config: LabelConfig | None = None
    problems: list[Problem] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.doc["n_annotators"])

    def problem(self, item: str, rule: str, value: Any = None, message: str = "") -> None:
        self.problems.append(
            Problem(self.file, f"{self.doc['id']} {item}", None, rule, value, message)
        )

    def provenance(
        self, item: str, annotators: set[str], *, adjudicated: bool | None = None
    ) -> dict[str, Any]:
        """Who made ``item``; whether a decision kept it (rule 3: without one, only a strict
        majority of the article's annotators, or its single annotator, makes gold)."""
        if adjudicated is None:
            adjudicated = self.n > 1 and 2 * len(annotators) <= self.n
        out: dict[str, Any] = {
            "item": item,
            "annotators": sorted(annotators),
            "of": self.n,
            "adjudicated": adjudicated,
        }
        if adjudicated:
            decision = self.decisions(str(self.doc["id"])).get(item)
            out["decided_by"] = None if decision is None else decision.get("decided_by")
            if decision is None:
                self.undecided.append(f"{self.doc['id']} {item}")
        # A decision settles a conflict between items annotators made; only a tied attribute
        # can be set to a value nobody gave.
        if not annotators and not (item.startswith("attr:") and adjudicated):
            self.problem(item, "every gold item was made by an annotator of annotations_raw")
        return out

    def span(self, start: int, end: int, text: str, item: str) -> dict[str, int] | None:
        article = str(self.doc["text"])
        if not (0 <= start < end <= len(article)) or article[start:end] != text:
            self.problem(
                item,
                "text[start:end] == span text (code points)",
                text,
                f"the article has {article[start:end]!r} at {start}..{end}",
            )
            return None
        try:
            s, e = to_label_studio(article, start, end)
        except OffsetError as exc:
            self.problem(item, "offsets convert to Label Studio's unit", [start, end], str(exc))
            return None
        return {"start": s, "end": e}

    def results(self) -> list[dict[str, Any]]:
        tag, out = self.tag, []
        # annotations_raw, indexed: region key per (annotation, region id); who made what.
        key_of: dict[tuple[int, str], str] = {}
        region_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in self.rows:
            if r["kind"] == "region":
                key = region_key(r["layer"], r["label"], r["start"], r["end"])
                key_of[(int(r["annotation_id"]), str(r["region_id"]))] = key
                region_rows[key].append(r)
        gold: dict[str, dict[str, Any]] = {}
        for layer in self.taxonomy.span_layers:
            for s in self.doc.get(layer.name) or []:
                key = region_key(layer.name, s["label"], s["start"], s["end"])
                gold[key] = s
                made = region_rows.get(key, [])
                item = f"region:{key}"
                where = self.span(s["start"], s["end"], s["text"], item)
                if where is None:
                    continue
                rid = region_id(key)
                prov = self.provenance(item, {r["annotator"] for r in made})
                out.append(
                    {
                        "id": rid,
                        "from_name": layer.name,
                        "to_name": "text",
                        "type": "labels",
                        "value": {**where, "text": s["text"], "labels": [s["label"]]},
                        PROVENANCE_KEY: {"release": tag, "items": [prov]},
                    }
                )
                for attr in layer.attributes:
                    value = s.get(attr.name)
                    if value is None:
                        continue
                    # The region's makers vote on its attributes; only a tie needs a decision.
                    votes = Counter(r.get(attr.name) for r in made).most_common()
                    tied = len(votes) > 1 and votes[0][1] == votes[1][1]
                    by = {r["annotator"] for r in made if _same(r.get(attr.name), value)}
                    prov = self.provenance(f"attr:{key}:{attr.name}", by, adjudicated=tied)
                    out.append(
                        self.attribute_item(rid, layer.name, s["label"], attr, value, where, prov)
                    )
        out += self.relations(gold, key_of)
        out += self.choices()
        return out

    def attribute_item(
        self,
        rid: str,
        layer: str,
        label: str,
        attr: Attribute,
        value: Any,
        where: dict[str, int],
        prov: dict[str, Any],
    ) -> dict[str, Any]:
        config = self.config or LabelConfig(self.taxonomy, {})
        item = config.attribute_item(rid, layer, label, attr.name, value, where)
        return {**item, PROVENANCE_KEY: {"release": self.tag, "items": [prov]}}

    def relations(
        self, gold: dict[str, dict[str, Any]], key_of: dict[tuple[int, str], str]
    ) -> list[dict[str, Any]]:
        """Event arguments: the documents config names an argument's span, not its region;
        annotations_raw says which gold region each annotator's relation pointed at."""
        made: dict[tuple[str, str, str], set[str]] = defaultdict(set)
        for r in self.rows:
            if r["kind"] != "relation":
                continue
            aid = int(r["annotation_id"])
            src = key_of.get((aid, str(r["region_id"])))
            dst = key_of.get((aid, str(r["to_region_id"])))
            if src in gold and dst in gold:
                made[(src, dst, r["label"])].add(r["annotator"])
        out = []
        for src, s in sorted(gold.items()):
            wanted = Counter(
                (a["role"], a["start"], a["end"], a["text"]) for a in s.get("arguments") or []
            )
            for (role, start, end, text), count in sorted(wanted.items()):
                found = [
                    (dst, by)
                    for (f, dst, lab), by in sorted(made.items())
                    if f == src and lab == role and gold[dst]["start"] == start
                    and gold[dst]["end"] == end
                ]  # fmt: skip
                if len(found) > count:  # several regions share the span: keep what gold kept
                    found = [
                        (dst, by)
                        for dst, by in found
                        if self.n == 1
                        or 2 * len(by) > self.n
                        or self.decisions(str(self.doc["id"]))
                        .get(f"relation:{src}->{dst}:{role}", {})
                        .get("action")
                        == "accept"
                    ]
                item = f"relation:{src}->?:{role}"
                if len(found) != count:
                    self.problem(
                        item,
                        "each gold argument is one relation an annotator made",
                        f"{role} {start}..{end} {text!r}",
                        f"{len(found)} matching relation(s) in annotations_raw, {count} in gold",
                    )
                    continue
                for dst, by in found:
                    prov = self.provenance(f"relation:{src}->{dst}:{role}", by)
                    out.append(
                        {
                            "type": "relation",
                            "from_id": region_id(src),
                            "to_id": region_id(dst),
                            "direction": "right",
                            "labels": [role],
                            PROVENANCE_KEY: {"release": self.tag, "items": [prov]},
                        }
                    )
        return out

    def choices(self) -> list[dict[str, Any]]:
        made: dict[tuple[str, str], set[str]] = defaultdict(set)
        for r in self.rows:
            if r["kind"] == "choice":
                made[(r["layer"], r["label"])].add(r["annotator"])
        out = []
        for f in self.taxonomy.document_fields:
            gold = self.doc.get(f.name)
            if f.kind == "text":
                # Gold notes are every counted annotator's note, distinct, sorted, joined by
                # newlines: push the notes themselves (one value each), not the joined text.
                values = sorted(v for (name, v) in made if name == f.name)
                if "\n".join(values) != (gold or ""):
                    self.problem(
                        f"choice:{f.name}",
                        "gold notes are the annotators' notes joined",
                        gold,
                        "annotations_raw holds other notes",
                    )
                    continue
            else:
                values = [] if gold is None else gold if isinstance(gold, list) else [gold]
            if not values:
                continue
            items = []
            for v in values:
                item = f"choice:{f.name}:{v}"
                by = made.get((f.name, v), set())
                # Notes are always kept, never voted on (adjudication).
                adjudicated = False if f.kind == "text" else None
                items.append(self.provenance(item, by, adjudicated=adjudicated))
            kind = "textarea" if f.kind == "text" else "choices"
            # A text field holds one value in Label Studio: several annotators' notes (all
            # gold) become one text, each paragraph credited in the provenance items.
            # Joined as documents.notes joins them, so the submitted copy builds the same.
            shown = [NOTES_JOIN.join(str(v) for v in values)] if kind == "textarea" else values
            out.append(
                {
                    "id": f"g-{f.name}",
                    "from_name": f.name,
                    "to_name": "text",
                    "type": kind,
                    "value": {"text" if kind == "textarea" else "choices": shown},
                    PROVENANCE_KEY: {"release": self.tag, "items": items},
                }
            )
        return out


def article_results(
    tag: str,
    doc: dict[str, Any],
    rows: list[dict[str, Any]],
    taxonomy: Taxonomy,
    decisions: Callable[[str], Mapping[str, Mapping[str, Any]]],
    *,
    file: str = "documents",
    config: LabelConfig | None = None,
) -> tuple[list[dict[str, Any]], list[Problem], list[str]]:
    """One article's prediction result from its (decoded) documents row and its counted
    annotations_raw rows: (result items with provenance, problems, undecided items)."""
    article = _Article(tag, doc, rows, taxonomy, decisions, file, config)
    results = article.results()
    return results, article.problems, article.undecided


def _compatibility(doc_rows: list[dict[str, Any]], taxonomy: Taxonomy, file: str) -> list[Problem]:
    """Every gold label of the release must exist in the project's labeling config (today's
    taxonomy): a prediction with a label the config lacks would be dropped by Label Studio."""
    problems = []
    layers = {la.name: la for la in taxonomy.span_layers}
    fields = {f.name: f for f in taxonomy.document_fields}
    columns = set(doc_rows[0]) if doc_rows else set()
    for col in sorted(columns - ARTICLE_COLUMNS - set(layers) - set(fields)):
        problems.append(
            Problem(file, None, col, "every gold column has a control in the labeling config", col,
                    "schemas/taxonomy.yaml has no such layer or field")
        )  # fmt: skip
    seen: set[tuple[str, str]] = set()

    def need(where: str, value: Any, allowed: tuple[str, ...]) -> None:
        if value is not None and value not in allowed and (where, str(value)) not in seen:
            seen.add((where, str(value)))
            problems.append(
                Problem(file, None, where, "the label exists in schemas/taxonomy.yaml", value,
                        f"the project's labeling config offers {list(allowed)}")
            )  # fmt: skip

    for doc in doc_rows:
        for name, layer in layers.items():
            for s in doc.get(name) or []:
                need(f"{name}.label", s["label"], layer.label_names)
                for attr in layer.attributes:
                    if attr.values is not None:
                        need(f"{name}.{attr.name}", s.get(attr.name), attr.values)
                for a in s.get("arguments") or []:
                    need(
                        f"{name}.arguments.role",
                        a["role"],
                        tuple(r.name for r in layer.relation_labels),
                    )
        for name, f in fields.items():
            if f.kind == "text":
                continue
            gold = doc.get(name)
            for v in gold if isinstance(gold, list) else [gold]:
                need(name, v, f.value_names)
    return problems


class _DecisionsAt:
    """Decision files at the release's source commit (read only when an item needs one)."""

    def __init__(self, paths: ProjectPaths, version: str) -> None:
        self.paths, self.version = paths, version
        self.commit: str | None = None
        self.error: str | None = None
        self.cache: dict[str, dict[str, dict[str, Any]]] = {}

    def __call__(self, article_id: str) -> Mapping[str, Mapping[str, Any]]:
        if article_id in self.cache:
            return self.cache[article_id]
        found: dict[str, dict[str, Any]] = {}
        if self.commit is None and self.error is None:
            try:
                self.commit = release_commit(self.paths, self.version)
            except HistoryError as exc:
                self.error = str(exc)
        if self.commit is not None:
            shown = subprocess.run(
                ["git", "show", f"{self.commit}:annotations/decisions/{article_id}.yaml"],
                cwd=self.paths.root,
                capture_output=True,
                check=False,
            )
            if shown.returncode == 0:
                data = loads_yaml(shown.stdout.decode("utf-8")) or {}
                found = {str(d["item"]): d for d in data.get("decisions", []) if "item" in d}
        self.cache[article_id] = found
        return found


def gold_from_files(
    folder: Path,
    manifest: Mapping[str, Any],
    taxonomy: Taxonomy,
    decisions: Callable[[str], Mapping[str, Mapping[str, Any]]],
    config: LabelConfig | None = None,
) -> tuple[list[GoldArticle], list[Problem], list[str]]:
    """Every article of the release with its gold as prediction results; problems; items
    kept by a decision whose record was not found."""
    tag = str(manifest["tag"])
    # The article key was `id` up to v0.1.0 and `article_id` since (data_diff says the same).
    docs = [
        {**d, "id": d["article_id"]} if "id" not in d and "article_id" in d else d
        for d in read_config(folder, manifest, "documents")
    ]
    raw = counted_rows(read_config(folder, manifest, "annotations_raw"))
    file = f"{folder}/data/documents"
    problems = _compatibility(docs, taxonomy, file)
    if problems:
        return [], problems, []
    by_article: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in raw:
        by_article[str(r["article_id"])].append(r)
    articles, undecided = [], []
    for doc in sorted(docs, key=lambda d: str(d["id"])):
        text = str(doc["text"])
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != doc["sha256"]:
            problems.append(
                Problem(file, str(doc["id"]), "sha256", "sha256 of text", doc["sha256"])
            )
            continue
        results, found, pending = article_results(
            tag,
            doc,
            by_article.get(str(doc["id"]), []),
            taxonomy,
            decisions,
            file=file,
            config=config,
        )
        problems += found
        undecided += pending
        n = int(doc["n_annotators"])
        articles.append(GoldArticle(str(doc["id"]), text, str(doc["sha256"]), n, results))
    return articles, problems, undecided


def load_release_gold(paths: ProjectPaths, version: str, folder: Path | None) -> ReleaseGold:
    """The release's articles and gold, verified; refused when the files, the labeling config
    or today's raw articles rule it out (nothing is pushed then)."""
    taxonomy = load_taxonomy(paths.taxonomy_file)
    config = LabelConfig.load(paths)  # the config push sets: registry ids into its lists
    version = version.removeprefix("v")
    decisions = _DecisionsAt(paths, version)
    with release_folder(paths, version, folder) as (manifest, where, source):
        articles, problems, undecided = gold_from_files(
            where, manifest, taxonomy, decisions, config
        )
    tag = f"v{version}"
    # A task whose text is not today's raw article could never be pulled (pull refuses a task
    # whose text differs from dataset/raw): work done on it would be lost.
    raw = {str(r["id"]): str(r["sha256"]) for r in read_manifest(paths.manifest_file)}
    for art in articles:
        if raw.get(art.article_id) != art.sha256:
            problems.append(
                Problem(
                    "dataset/raw/manifest.jsonl",
                    art.article_id,
                    "sha256",
                    f"the article of {tag} is in dataset/raw with the same text",
                    raw.get(art.article_id),
                    f"{tag} has sha256 {art.sha256}; annotations on {tag}'s text could not be "
                    "pulled (pull needs the raw text)"
                    if art.article_id in raw
                    else "not in dataset/raw; annotations on it could not be pulled",
                )
            )
    if problems:
        raise ReopenRefused(
            f"cannot re-open {tag}: {len(problems)} problem(s); nothing pushed",
            [str(p) for p in problems],
        )
    gold = ReleaseGold(tag, source, articles)
    gold.annotators = {
        a for art in articles for r in art.results for i in r[PROVENANCE_KEY]["items"]
        for a in i["annotators"]
    }  # fmt: skip
    if undecided:
        why = decisions.error or "no such decision at the release commit"
        gold.notes.append(
            f"{len(undecided)} adjudicated item(s) pushed with decided_by null ({why}): "
            + ", ".join(undecided[:5])
            + (" ..." if len(undecided) > 5 else "")
        )
    return gold


# -- into Label Studio ----------------------------------------------------------------


@dataclass
class ReopenSummary:
    tag: str
    source: str
    model_version: str
    push: PushSummary = field(default_factory=PushSummary)
    reused: int = 0
    predictions: int = 0
    present: int = 0
    items: int = 0
    annotators: int = 0
    shown_before: str | None = None  # the project's model version before, when changed
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        p = self.push
        shown = (
            f"; the project now shows {self.model_version} (was {self.shown_before or 'none'})"
            if self.shown_before is not None
            else ""
        )
        return (
            f"push --from-release {self.tag} ({self.source}): project {p.project_id}"
            f"{' (created)' if p.project_created else ''}"
            f"{', label config updated' if p.config_updated else ''}: tasks {p.created} created, "
            f"{self.reused} reused (same text); predictions {self.predictions} added, "
            f"{self.present} already there (model version {self.model_version}); "
            f"{self.items} gold item(s), each credited in its prediction item to the "
            f"annotator(s) who made it ({self.annotators} in all), none to the pushing "
            f"account{shown}"
        )


def _server_predictions(conn: Connection, project_id: int, version: str) -> dict[int, list[Any]]:
    """Task id -> the results of its predictions of this model version."""
    found: dict[int, list[Any]] = defaultdict(list)
    for p in call(conn, lambda: list(conn.client.predictions.list(project=project_id))):
        if getattr(p, "model_version", None) == version:
            found[int(p.task)].append(p.result)
    return found


def reopen(
    conn: Connection,
    paths: ProjectPaths,
    gold: ReleaseGold,
    *,
    require_restored: bool = True,
    show_progress: bool = True,
) -> ReopenSummary:
    """Tasks and predictions of ``gold`` into the project, idempotently; see the module doc."""
    version = gold.model_version
    summary = ReopenSummary(gold.tag, gold.source, version, notes=list(gold.notes))
    summary.items = sum(a.items for a in gold.articles)
    summary.annotators = len(gold.annotators)
    with exclusive_lock(paths.state_dir / "locks" / PUSH_LOCK, "labelstudio push"):
        if require_restored:
            check_restored(conn, paths)
        # Every check before the first write: the project's tasks must carry the release's text.
        project = find_project(conn, paths)
        known_id = None if project is None else int(project.id)
        existing: dict[str, dict[str, Any]] = {}
        for row in task_rows(conn, known_id) if known_id is not None else []:
            aid = row["data"].get("article_id")
            if aid in existing:
                raise ConnectionProblem(
                    f"project {known_id} has two tasks for article {aid!r} (tasks "
                    f"{existing[aid]['id']} and {row['id']}); delete the duplicate in Label Studio"
                )
            if aid is not None:
                existing[str(aid)] = row
        refused = []
        for art in gold.articles:
            task = existing.get(art.article_id)
            if task is not None and (
                task["data"].get("text") != art.text
                or task["data"].get("text_sha256") != art.sha256
            ):
                # The hash of the text the task really holds (its text_sha256 may be stale).
                held = hashlib.sha256(str(task["data"].get("text")).encode("utf-8")).hexdigest()
                refused.append(
                    f"task {task['id']} (article {art.article_id}) holds another text than "
                    f"{gold.tag} (sha256 {held}, {gold.tag} has {art.sha256}); {gold.tag}'s "
                    "offsets index its own text. Re-open into a project without that task "
                    "(another label_studio_project_title), or pull its annotations and delete it"
                )
        if refused:
            raise ReopenRefused(
                f"push --from-release {gold.tag} refused: the project holds tasks with other "
                "texts; nothing pushed",
                refused,
            )
        project_id = ensure_project(conn, paths, summary.push)
        on_server = _server_predictions(conn, project_id, version) if existing else {}
        new_payload: list[dict[str, Any]] = []
        with Progress(disable=not show_progress, transient=True) as progress:
            bar = progress.add_task("push --from-release", total=len(gold.articles))
            for art in gold.articles:
                prediction = {"model_version": version, "result": art.results}
                found = existing.get(art.article_id)
                if found is None:
                    data = {
                        "text": art.text,
                        "article_id": art.article_id,
                        "text_sha256": art.sha256,
                    }
                    new_payload.append({"data": data, "predictions": [prediction]})
                    summary.predictions += 1
                else:
                    row = found
                    summary.reused += 1
                    there = on_server.get(int(row["id"]), [])
                    if there:
                        summary.present += 1
                        if all(r != art.results for r in there):
                            summary.notes.append(
                                f"task {row['id']} (article {art.article_id}) has a {version} "
                                "prediction that differs from the release's (pushed by another "
                                "sahelwire version?); left as it is"
                            )
                    else:
                        tid = int(row["id"])
                        call(
                            conn,
                            lambda tid=tid, r=art.results: conn.client.predictions.create(
                                task=tid, result=r, model_version=version
                            ),
                        )
                        summary.predictions += 1
                progress.advance(bar)
        summary.push.created += import_tasks(conn, project_id, new_payload)
        # Label Studio shows annotators the predictions of the project's one model version:
        # select the release's, or its gold would be on the server but not on the screen.
        shown = call(conn, lambda: conn.client.projects.get(id=project_id)).model_version
        if shown != version:
            call(conn, lambda: conn.client.projects.update(id=project_id, model_version=version))
            summary.shown_before = shown or ""
    return summary
