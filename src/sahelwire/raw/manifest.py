"""The raw-article manifest (dataset/raw/manifest.jsonl) and the raw texts it describes.

One JSON object per line, sorted by id, keys in the order of schemas/tables.yaml: a
diff-friendly file a reviewer can read in git.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sahelwire.io.atomic import write_text_atomic
from sahelwire.io.paths import ProjectPaths
from sahelwire.schema.table_specs import load_table_specs

# Metadata an input may state; anything the input does not state stays null.
STATED_METADATA = ("url", "outlet", "published_date", "license")


class ManifestError(ValueError):
    """The manifest file is not valid JSONL of objects (named file and line)."""


def iter_manifest(path: Path) -> Iterator[dict[str, Any]]:
    """Manifest rows in file order, one line at a time; an absent manifest is an empty corpus.

    Lines end at "\n" only (file iteration), never at the other characters ``str.splitlines``
    treats as breaks: a title may hold a U+2028 that json.dumps(ensure_ascii=False) leaves as is.
    """
    if not path.exists():
        return
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ManifestError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ManifestError(f"{path}:{number}: not a JSON object")
            yield row


def read_manifest(path: Path) -> list[dict[str, Any]]:
    """Manifest rows in file order (all of them; :func:`iter_manifest` streams)."""
    return list(iter_manifest(path))


def manifest_fields(paths: ProjectPaths) -> tuple[str, ...]:
    """Column order of the manifest, from schemas/tables.yaml (its one source of truth)."""
    return load_table_specs(paths.tables_file).source["raw_manifest"].column_names


def write_manifest(paths: ProjectPaths, rows: Iterable[dict[str, Any]]) -> None:
    """Write rows sorted by id, atomically, keys in schema order."""
    fields = manifest_fields(paths)
    ordered = sorted(rows, key=lambda r: r["id"])
    lines = [json.dumps({k: r.get(k) for k in fields}, ensure_ascii=False) for r in ordered]
    write_text_atomic(paths.manifest_file, "".join(line + "\n" for line in lines))


@dataclass(frozen=True)
class Article:
    """A manifest row with its text, as the build and Label Studio push read it."""

    id: str
    text: str
    sha256: str
    meta: dict[str, Any]


def load_articles(paths: ProjectPaths) -> list[Article]:
    """Every manifest article with its stored text, sorted by id."""
    articles = []
    for row in sorted(read_manifest(paths.manifest_file), key=lambda r: r["id"]):
        text = paths.raw_text_path(row["id"]).read_bytes().decode("utf-8")
        articles.append(Article(id=row["id"], text=text, sha256=row["sha256"], meta=row))
    return articles
