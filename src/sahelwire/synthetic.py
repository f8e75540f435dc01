"""A synthetic corpus of any size, deterministic from a seed, for benchmarks and scale tests.

Each synthetic article is one of the committed seed articles (real shape: 2-6 KB, curly
quotes, non-ASCII names, an emoji) followed by a generated paragraph that makes it unique
(again with non-ASCII and emoji). The seed's reviewed annotations are kept as they are: the
paragraph is appended after the seed text, so every exported offset still selects the same
words, and the annotation densities (zones, mentions, events with relations, quantities,
document labels) are those of the real gold layer. A share of tasks gets a second annotator
whose result equals the first (no adjudication conflict, but the multi-annotator code paths
and agreement run at scale).

Output, under one folder:
- ``articles.jsonl``: the raw articles as ``sahelwire ingest`` accepts them;
- ``exports/<article_id>.json``: per-task files exactly as ``labelstudio pull`` writes them;
- ``export.json``: the same tasks as one Label Studio JSON export list (what the streaming
  parser reads);
- ``annotators.json``: the annotators' emails by user id.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sahelwire.paths import ProjectPaths

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
SECOND_ANNOTATOR = 3


@dataclass(frozen=True)
class SyntheticArticle:
    id: str
    text: str
    task: dict[str, Any]


def _seed_tasks(paths: ProjectPaths) -> list[tuple[str, dict[str, Any]]]:
    """(text, task) for every committed seed article with an export."""
    seeds = []
    for export in sorted(paths.exports_dir.glob("*.json")):
        task = json.loads(export.read_text(encoding="utf-8"))
        text = paths.raw_text_path(task["data"]["article_id"]).read_bytes().decode("utf-8")
        seeds.append((text.removeprefix("\ufeff"), task))
    if not seeds:
        raise ValueError(f"no seed exports in {paths.exports_dir}")
    return seeds


def _paragraph(rng: random.Random, index: int) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(25, 60))]
    words.insert(rng.randrange(len(words)), rng.choice(_EMOJI))
    return f"\n\nReader comment #{index}: “{' '.join(words)}.”\n"


def generate(
    paths: ProjectPaths, n: int, *, seed: int = 0, multi_share: float = 0.2
) -> Iterator[SyntheticArticle]:
    """Yield ``n`` synthetic articles with their Label Studio tasks (same seed, same output)."""
    seeds = _seed_tasks(paths)
    rng = random.Random(seed)
    for i in range(n):
        base_text, base_task = seeds[rng.randrange(len(seeds))]
        text = base_text + _paragraph(rng, i)
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
        article_id = f"syn{i:07d}_{sha[:12]}"
        task = copy.deepcopy(base_task)
        task["id"] = i + 1
        task["data"] = {"article_id": article_id, "text": text, "text_sha256": sha}
        annotation = task["annotations"][0]
        annotation["id"] = 2 * i + 1
        annotation["task"] = i + 1
        if rng.random() < multi_share:
            second = copy.deepcopy(annotation)
            second["id"] = 2 * i + 2
            second["completed_by"] = SECOND_ANNOTATOR
            task["annotations"] = [annotation, second]
        else:
            task["annotations"] = [annotation]
        yield SyntheticArticle(article_id, text, task)


def task_json(task: dict[str, Any]) -> str:
    """One task file, serialized exactly as ``labelstudio pull`` writes it (the data contract)."""
    return json.dumps(task, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def write_corpus(paths: ProjectPaths, out: Path, n: int, *, seed: int = 0) -> dict[str, int]:
    """Write the synthetic corpus under ``out`` (see module docstring); return sizes in bytes."""
    exports = out / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    with (
        (out / "articles.jsonl").open("w", encoding="utf-8") as articles,
        (out / "export.json").open("w", encoding="utf-8") as export_list,
    ):
        export_list.write("[")
        for k, art in enumerate(generate(paths, n, seed=seed)):
            articles.write(json.dumps({"id": art.id, "text": art.text}, ensure_ascii=False) + "\n")
            (exports / f"{art.id}.json").write_text(task_json(art.task), encoding="utf-8")
            export_list.write(("," if k else "") + json.dumps(art.task, ensure_ascii=False))
        export_list.write("]\n")
    annotators = json.loads((paths.annotations_dir / "annotators.json").read_text("utf-8"))
    annotators[str(SECOND_ANNOTATOR)] = {"email": "synthetic-annotator-2@sahelwire.local"}
    (out / "annotators.json").write_text(json.dumps(annotators, indent=2) + "\n", "utf-8")
    return {
        "articles.jsonl": (out / "articles.jsonl").stat().st_size,
        "export.json": (out / "export.json").stat().st_size,
    }
