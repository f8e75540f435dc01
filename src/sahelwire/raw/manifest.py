"""The raw-article manifest (dataset/raw/manifest.jsonl) and the raw texts it describes.

One JSON object per line, sorted by id, keys in the order of schemas/tables.yaml: a
diff-friendly file a reviewer can read in git.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path
from typing import Any

from sahelwire.io.atomic import write_text_atomic
from sahelwire.io.paths import ProjectPaths
from sahelwire.io.text_files import DuplicateJSONKey, unique_pairs
from sahelwire.schema.table_specs import load_table_specs

# Metadata an input may state; anything the input does not state stays null.
STATED_METADATA = ("url", "outlet", "published_date", "license")
# Manifest fields whose values repeat across many rows (iter_manifest keeps one copy of each).
SHARED_VALUES = frozenset({"source_file", "language", "outlet", "published_date", "license"})


class _Row:
    """Nothing but its instances' dicts, which are the manifest rows: CPython (3.11-3.13)
    lets the dicts of one class's instances share one table of keys while the keys come in
    the same order (PEP 412 "split" dicts). The 1M-row manifest took 0.85 GB read into
    dicts of their own, 0.59 GB into these (docs/benchmarks.md, seventeenth session).
    Ordinary dicts in every other way: a row with other keys or another order gets a table
    of its own."""


class ManifestError(ValueError):
    """The manifest file is not valid JSONL of objects (named file and line)."""


def closest_id(wanted: str, known: Collection[str]) -> str | None:
    """The manifest id nearest to ``wanted`` (a typo'd id), or None when none is near: the
    "did you mean" of every reader that names an article by id (story clusters, decisions
    files).

    Ids that share ``wanted``'s prefix up to its first ``_`` (the corpus's ``NNN_<hash>``)
    are tried first: at a million ids a full fuzzy scan would take seconds per typo."""
    prefix = wanted.partition("_")[0] + "_"
    near = [k for k in known if k.startswith(prefix)] if "_" in wanted else []
    if not near and len(known) <= 100_000:
        near = list(known)
    found = difflib.get_close_matches(wanted, near, n=1, cutoff=0.6)
    return found[0] if found else None


def iter_manifest(path: Path) -> Iterator[dict[str, Any]]:
    """Manifest rows in file order, one line at a time; an absent manifest is an empty corpus.

    Lines end at "\n" only (file iteration), never at the other characters ``str.splitlines``
    treats as breaks: a title may hold a U+2028 that json.dumps(ensure_ascii=False) leaves as is.
    """
    if not path.exists():
        return
    # One string object per distinct key and per distinct value of the fields most rows
    # share: json.loads makes new ones on every line, and at 1M rows the copies of the 13
    # keys alone were most of the 2.2 GB the manifest took in the build (issue 17 item 3).
    shared: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        try:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line, object_pairs_hook=unique_pairs)
                except json.JSONDecodeError as exc:
                    raise ManifestError(f"{path}:{number}: not JSON ({exc.msg})") from None
                except DuplicateJSONKey as exc:  # a hand edit: which title/licence was meant?
                    raise ManifestError(f"{path}:{number}: {exc}") from None
                if not isinstance(row, dict):
                    raise ManifestError(f"{path}:{number}: not a JSON object")
                out: dict[str, Any] = _Row().__dict__
                for k, v in row.items():
                    out[shared.setdefault(k, k)] = (
                        shared.setdefault(v, v) if k in SHARED_VALUES and isinstance(v, str) else v
                    )
                yield out
        except UnicodeDecodeError:
            raise ManifestError(f"{path}:{_undecodable_line(path)}: not UTF-8") from None


def _undecodable_line(path: Path) -> int:
    """The number of the first line that is not UTF-8 (the text reader decodes a buffer at
    a time, so its error does not say which line): read again, on this error path only."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1
    return 0


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


class Article:
    """A manifest row with its text, as the build and Label Studio push read it.

    The text is either held (``text``) or read each time it is used (``load``: article id ->
    text). A loader must return exactly the text whose UTF-8 bytes hash to ``sha256`` (the
    build's re-reads every file and checks that): a build then holds no corpus of texts
    (issue 17 item 3), and :meth:`text_digest` needs no read.
    """

    __slots__ = ("_load", "_text", "id", "meta", "sha256")

    def __init__(
        self,
        id: str,
        text: str | None = None,
        sha256: str = "",
        meta: dict[str, Any] | None = None,
        *,
        load: Callable[[str], str] | None = None,
    ) -> None:
        if text is None and load is None:
            raise TypeError("Article needs its text or a loader for it")
        self.id = id
        self.sha256 = sha256
        self.meta: dict[str, Any] = {} if meta is None else meta
        self._text = text
        self._load = load

    @property
    def text(self) -> str:
        if self._text is not None:
            return self._text
        assert self._load is not None
        return self._load(self.id)

    @property
    def n_chars(self) -> int:
        """The text's length in code points; a loaded article's from its manifest row (which
        validation checked against the text), so nothing is read."""
        if self._text is None:
            stated = self.meta.get("n_chars")
            if isinstance(stated, int) and not isinstance(stated, bool):
                return stated
        return len(self.text)

    def text_digest(self) -> bytes:
        """sha256 of the text's UTF-8 (surrogatepass) bytes.

        A loaded text is the one whose bytes hash to ``sha256`` (the loader's contract; strict
        UTF-8 decoding round-trips exactly), so its digest is the manifest's, unread.
        """
        if self._text is None:
            return bytes.fromhex(self.sha256)
        return hashlib.sha256(self._text.encode("utf-8", "surrogatepass")).digest()

    def __repr__(self) -> str:
        shown = "<loaded when used>" if self._text is None else repr(self._text[:40])
        return f"Article(id={self.id!r}, sha256={self.sha256!r}, text={shown})"


def load_articles(paths: ProjectPaths) -> list[Article]:
    """Every manifest article with its stored text, sorted by id."""
    articles = []
    for row in sorted(read_manifest(paths.manifest_file), key=lambda r: r["id"]):
        text = paths.raw_text_path(row["id"]).read_bytes().decode("utf-8")
        articles.append(Article(id=row["id"], text=text, sha256=row["sha256"], meta=row))
    return articles
