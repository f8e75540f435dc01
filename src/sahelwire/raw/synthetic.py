"""A synthetic corpus of any size, deterministic from a seed, for benchmarks and scale tests.

Each synthetic article is one of the committed seed articles (real shape: 2-6 KB, curly
quotes, non-ASCII names, an emoji) followed by a generated paragraph that makes it unique
(again with non-ASCII and emoji). The seed's reviewed annotations are kept as they are: the
paragraph is appended after the seed text, so every exported offset still selects the same
words, and the annotation densities (zones, mentions, events with relations, quantities,
document labels) are those of the real gold layer. A share of tasks gets a second annotator
whose result equals the first (no adjudication conflict, but the multi-annotator code paths
and agreement run at scale).

``annotated`` (a fraction, 1.0 by default) makes only that share of the articles tasks: the
rest are raw only (ingested text, no export), as in a real corpus where a sample is
annotated. The annotated ones are spread evenly (article ``i`` is annotated when
``floor((i + 1) * annotated)`` passes ``floor(i * annotated)``: exactly ``floor(n *
annotated)`` of them), and the choice draws nothing from the random stream, so the texts,
ids and tasks are the same whatever the fraction (1.0 gives the corpus as before, byte for byte).

Output, under one folder:
- ``articles.jsonl``: the raw articles as ``sahelwire ingest`` accepts them;
- ``exports/<article_id>.json``: per-task files exactly as ``labelstudio pull`` writes them;
- ``export.json``: the same tasks as one compact Label Studio JSON export list (what the
  API's export returns, and what the streaming parser reads);
- ``annotators.json``: the annotators' e-mails (the repository's shape).

Speed and memory: a seed task is ~150 KB of JSON whose only per-article parts are a handful
of ids and the text. Each seed is therefore serialized once into a :class:`_TaskTemplate`
(literal JSON fragments around named slots) and every article is rendered by joining the
fragments with its own values, instead of deep-copying and re-encoding the whole task
(``indent=2`` forces json's pure-Python encoder: that was ~35 ms per article). The output is
byte for byte what ``json.dumps`` of the task gives (tests/raw/test_synthetic.py checks it), and
articles are written as they are generated, so memory does not grow with N.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sahelwire.io.paths import ProjectPaths

# Words for the unique paragraph; a few carry accents so every article has non-ASCII text.
_WORDS = [
    "Niamey",
    "Agadez",
    "Zinder",
    "Tillabéri",
    "Maradi",
    "Diffa",
    "Dosso",
    "Tahoua",
    "Sahel",
    "drone",
    "base",
    "troops",
    "convoy",
    "patrol",
    "junta",
    "ministry",
    "embassy",
    "talks",
    "withdrawal",
    "security",
    "cooperation",
    "aid",
    "officials",
    "said",
    "reported",
    "statement",
    "agreement",
    "counter-terrorism",
    "mission",
    "airfield",
    "régime",
    "président",
    "Bazoum",
    "Tiani",
    "Washington",
    "Pentagon",
    "AFRICOM",
    "Ouagadougou",
    "Bamako",
]
_EMOJI = ("🤔", "🇳🇪", "✈️", "📰", "🙏")
SECOND_ANNOTATOR = "synthetic-annotator-2@sahelwire.local"
# Every synthetic annotation gets its own UUID (pull and restore identify annotations by it).
_UUID_NAMESPACE = uuid.UUID("5a4e1d2c-0f3b-4c6e-9a7d-8b1f2e3c4d5a")


def synthetic_unique_id(annotation_id: int) -> str:
    return str(uuid.uuid5(_UUID_NAMESPACE, f"synthetic annotation {annotation_id}"))


# Slot markers put into a seed task before it is serialized once. Control characters
# cannot occur in a real export's keys or values unescaped, so their JSON form ("\u0001...")
# is unambiguous in the serialized template.
# Predictions get ids of their own per article, as on a Label Studio server (ids are unique
# there, and the parser refuses a repeated one); a seed task keeps at most this many.
_MAX_PREDICTIONS = 4
_SLOTS = (
    "task_id",
    "article_id",
    "text",
    "text_sha256",
    "first_id",
    "first_uid",
    "second_id",
    "second_uid",
    *(f"prediction_{k}" for k in range(_MAX_PREDICTIONS)),
)
_MARK = {name: f"\x01{name}\x01" for name in _SLOTS}
_MARK_PATTERN = re.compile("|".join(re.escape(json.dumps(m)) for m in _MARK.values()))
_SLOT_OF = {json.dumps(m): name for name, m in _MARK.items()}


def task_json(task: dict[str, Any]) -> str:
    """One task file, serialized exactly as ``labelstudio pull`` writes it (the data contract)."""
    return json.dumps(task, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def export_item_json(task: dict[str, Any]) -> str:
    """One task as an element of the compact export list the Label Studio API returns."""
    return json.dumps(task, ensure_ascii=False)


class _TaskTemplate:
    """A seed task serialized once, with slots for the per-article values."""

    def __init__(self, serialized: str) -> None:
        self.parts: list[str] = []  # literal, slot, literal, slot, ..., literal
        at = 0
        for match in _MARK_PATTERN.finditer(serialized):
            self.parts += [serialized[at : match.start()], _SLOT_OF[match.group()]]
            at = match.end()
        self.parts.append(serialized[at:])

    def render(self, values: dict[str, str]) -> str:
        """``values`` are already JSON-encoded (a number, or a quoted string)."""
        parts = self.parts[:]
        for i in range(1, len(parts), 2):
            parts[i] = values[parts[i]]
        return "".join(parts)


def _marked_task(base_task: dict[str, Any], annotators: int) -> dict[str, Any]:
    """The seed task with slot markers where each synthetic article has its own values."""
    task = copy.deepcopy(base_task)
    task["id"] = _MARK["task_id"]
    task["data"] = {
        "article_id": _MARK["article_id"],
        "text": _MARK["text"],
        "text_sha256": _MARK["text_sha256"],
    }
    # Repository-form exports (what pull writes) keep no predictions: add none where the
    # seed has none, so the rendered task is the seed's shape.
    if task.get("predictions"):
        task["predictions"] = task["predictions"][:_MAX_PREDICTIONS]
    for k, prediction in enumerate(task.get("predictions") or []):
        prediction["id"] = _MARK[f"prediction_{k}"]
        prediction["task"] = _MARK["task_id"]
    annotation = task["annotations"][0]
    annotation["id"] = _MARK["first_id"]
    annotation["unique_id"] = _MARK["first_uid"]
    task["annotations"] = [annotation]
    if annotators == 2:
        second = copy.deepcopy(annotation)
        second["id"] = _MARK["second_id"]
        second["unique_id"] = _MARK["second_uid"]
        second["completed_by"] = {"email": SECOND_ANNOTATOR}
        task["annotations"].append(second)
    return task


@dataclass(frozen=True)
class _Seed:
    text: str
    # (pull-format template, compact export template) for one and for two annotators
    templates: dict[int, tuple[_TaskTemplate, _TaskTemplate]]


@dataclass(frozen=True)
class SyntheticArticle:
    id: str
    text: str
    sha256: str
    task_id: int
    annotation_ids: tuple[int, ...]
    _seed: _Seed
    # False: a raw-only article (text, no task); its task_json() is still what it would be.
    annotated: bool = True

    def _values(self) -> dict[str, str]:
        values = {
            "task_id": str(self.task_id),
            "article_id": json.dumps(self.id, ensure_ascii=False),
            "text": json.dumps(self.text, ensure_ascii=False),
            "text_sha256": f'"{self.sha256}"',
            "first_id": str(self.annotation_ids[0]),
            "first_uid": f'"{synthetic_unique_id(self.annotation_ids[0])}"',
        }
        if len(self.annotation_ids) == 2:
            values["second_id"] = str(self.annotation_ids[1])
            values["second_uid"] = f'"{synthetic_unique_id(self.annotation_ids[1])}"'
        for k in range(_MAX_PREDICTIONS):
            values[f"prediction_{k}"] = str(self.task_id * _MAX_PREDICTIONS + k)
        return values

    def task_json(self) -> str:
        """The per-task file, byte for byte as ``labelstudio pull`` would write it."""
        return self._seed.templates[len(self.annotation_ids)][0].render(self._values())

    def export_item_json(self) -> str:
        """This task as one element of a compact Label Studio export list."""
        return self._seed.templates[len(self.annotation_ids)][1].render(self._values())

    @property
    def task(self) -> dict[str, Any]:
        """The task as a dict (parsed back from its JSON: for tests and small N only)."""
        task: dict[str, Any] = json.loads(self.export_item_json())
        return task


def _seeds(paths: ProjectPaths) -> list[_Seed]:
    """Every committed seed article with an export, its templates built once."""
    seeds = []
    for export in sorted(paths.exports_dir.glob("*.json")):
        task = json.loads(export.read_text(encoding="utf-8"))
        text = paths.raw_text_path(task["data"]["article_id"]).read_bytes().decode("utf-8")
        templates = {}
        for annotators in (1, 2):
            marked = _marked_task(task, annotators)
            templates[annotators] = (
                _TaskTemplate(task_json(marked)),
                _TaskTemplate(export_item_json(marked)),
            )
        seeds.append(_Seed(text.removeprefix("\ufeff"), templates))
    if not seeds:
        raise ValueError(f"no seed exports in {paths.exports_dir}")
    return seeds


def _paragraph(rng: random.Random, index: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(25, 60))]
    words.insert(rng.randrange(len(words)), rng.choice(_EMOJI))
    return f"\n\nReader comment #{index}: “{' '.join(words)}.”\n"


def is_annotated(i: int, annotated: float) -> bool:
    """Whether article ``i`` (from 0) has a task when a share ``annotated`` of them has one."""
    return math.floor((i + 1) * annotated) > math.floor(i * annotated)


def annotated_count(n: int, annotated: float) -> int:
    """How many of ``n`` articles are annotated (is_annotated true): floor(n * annotated)."""
    return math.floor(n * annotated)


def check_annotated(annotated: float) -> float:
    if not 0.0 <= annotated <= 1.0:
        raise ValueError(f"annotated fraction {annotated!r} is not between 0 and 1")
    return annotated


def generate(
    paths: ProjectPaths,
    n: int,
    *,
    seed: int = 0,
    multi_share: float = 0.2,
    annotated: float = 1.0,
) -> Iterator[SyntheticArticle]:
    """Yield ``n`` synthetic articles with their Label Studio tasks (same seed, same output);
    a share ``annotated`` of them is marked annotated (see the module docstring)."""
    check_annotated(annotated)
    seeds = _seeds(paths)
    rng = random.Random(seed)
    for i in range(n):
        base = seeds[rng.randrange(len(seeds))]
        text = base.text + _paragraph(rng, i)
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        article_id = f"syn{i:07d}_{sha[:12]}"
        ids = (2 * i + 1, 2 * i + 2) if rng.random() < multi_share else (2 * i + 1,)
        yield SyntheticArticle(article_id, text, sha, i + 1, ids, base, is_annotated(i, annotated))


def write_corpus(
    paths: ProjectPaths,
    out: Path,
    n: int,
    *,
    seed: int = 0,
    task_files: bool = True,
    export_list: bool = True,
    annotated: float = 1.0,
) -> dict[str, int]:
    """Write the synthetic corpus under ``out`` (see module docstring); return sizes in bytes.

    Streaming: each article is written as it is generated. The two big files are written
    under temporary names and renamed at the end, so an interrupted run never leaves a
    truncated ``articles.jsonl`` or ``export.json`` that looks complete. ``task_files`` and
    ``export_list`` False leave out ``exports/`` and ``export.json`` (~150 KB and ~90 KB per
    article: at a million articles more disk than a benchmark of ingest alone should need);
    the articles and the tasks are the same either way. ``annotated`` < 1 writes tasks (files
    and list items) for that share of the articles only; every article is in articles.jsonl.
    """
    exports = out / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    articles_path, export_path = out / "articles.jsonl", out / "export.json"
    articles_tmp = articles_path.with_name(f".{articles_path.name}.tmp")
    export_tmp = export_path.with_name(f".{export_path.name}.tmp")
    with (
        articles_tmp.open("w", encoding="utf-8") as articles,
        export_tmp.open("w", encoding="utf-8") as listing,
    ):
        listing.write("[")
        listed = 0
        for art in generate(paths, n, seed=seed, annotated=annotated):
            record = {"id": art.id, "text": art.text}
            articles.write(json.dumps(record, ensure_ascii=False) + "\n")
            if not art.annotated:
                continue
            if task_files:
                (exports / f"{art.id}.json").write_bytes(art.task_json().encode("utf-8"))
            if export_list:
                listing.write(("," if listed else "") + art.export_item_json())
                listed += 1
        listing.write("]\n")
    os.replace(articles_tmp, articles_path)
    if export_list:
        os.replace(export_tmp, export_path)
    else:
        export_tmp.unlink()
    annotators = json.loads((paths.annotations_dir / "annotators.json").read_text("utf-8"))
    annotators[SECOND_ANNOTATOR] = {}
    text = json.dumps(annotators, indent=2, sort_keys=True) + "\n"
    (out / "annotators.json").write_text(text, "utf-8")
    files = (articles_path, export_path) if export_list else (articles_path,)
    return {f.name: f.stat().st_size for f in files}
