"""The export cache (sahelwire.annotations.export_cache): each export parsed once, never trusted.

Every test compares the cached read with the parser run without the cache on the same files
(``read_annotation_tables(cache=False)``: every file parsed, as before the cache existed):
tables, Problems, rejected records and counts must be equal, whatever the cache held.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from annotations.test_strict_exports import CASES, mutated
from helpers import ROOT, copy_project, run_cli
from sahelwire.annotations import export_cache
from sahelwire.annotations import tables as annotation_tables
from sahelwire.annotations.export_cache import CACHE_ENV, cache_dir, fingerprint
from sahelwire.annotations.tables import (
    AnnotationTables,
    load_source_shapes,
    read_annotation_tables,
)
from sahelwire.io import file_hashes
from sahelwire.io.paths import ProjectPaths
from sahelwire.raw import manifest_texts
from sahelwire.schema.taxonomy import load_taxonomy

EXPORTS = "annotations/exports"
A000, A001, A002, A003 = (
    "000_68e681b97d6ec23c",
    "001_a9cbf47f8b5096a3",
    "002_4eb8b75709aad65d",
    "003_9f344fe3cdd782de",
)
TABLES = ("annotations", "regions", "relations", "choices", "predictions", "prediction_results")
# HEADLINE's colour and a code one step from it: an edit of the taxonomy that changes nothing
# the parser reads (read from the file: the palette is re-picked by scripts/span_colours.py).
HEADLINE_COLOUR = next(
    str(label.color)
    for layer in load_taxonomy(ROOT / "schemas/taxonomy.yaml").span_layers
    for label in layer.labels
    if label.name == "HEADLINE"
)
_BLUE = int(HEADLINE_COLOUR[5:], 16)
HEADLINE_NUDGED = f"{HEADLINE_COLOUR[:5]}{_BLUE + (1 if _BLUE < 255 else -1):02x}"


def source(article: str) -> str:
    return f"{EXPORTS}/{article}.json"


def export(root: Path, article: str) -> Path:
    return root / EXPORTS / f"{article}.json"


def edit(root: Path, article: str, fn: Callable[[dict[str, Any]], None]) -> None:
    """Edit one task file as JSON and write it back as pull does."""
    path = export(root, article)
    task = json.loads(path.read_text(encoding="utf-8"))
    fn(task)
    text = json.dumps(task, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    path.write_text(text, encoding="utf-8")


def same(expected: AnnotationTables, got: AnnotationTables) -> None:
    """Everything a caller sees of the parse, equal (the cache statistics aside)."""
    for name in TABLES:
        want, have = getattr(expected, name), getattr(got, name)
        assert have.schema == want.schema, name
        assert have.equals(want), name
    assert got.problems == expected.problems
    assert [str(p) for p in got.problems] == [str(p) for p in expected.problems]
    assert [r.to_json() for r in got.rejected] == [r.to_json() for r in expected.rejected]
    assert [r.problem for r in got.rejected] == [r.problem for r in expected.rejected]
    assert (got.tasks, got.drafts) == (expected.tasks, expected.drafts)
    assert got.proposals == expected.proposals


def read(root: Path, **kwargs: Any) -> AnnotationTables:
    tables = read_annotation_tables(ProjectPaths(root), cache=True, **kwargs)
    assert tables.cache is not None
    return tables


def uncached(root: Path, **kwargs: Any) -> AnnotationTables:
    tables = read_annotation_tables(ProjectPaths(root), cache=False, **kwargs)
    assert tables.cache is None
    return tables


def packs(root: Path) -> list[Path]:
    return sorted(cache_dir(ProjectPaths(root)).glob("*.pack"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "proj")


ALL = sorted(source(p.stem) for p in (ROOT / EXPORTS).glob("*.json"))


def entries(root: Path) -> list[int | None]:
    """Entries per pack file (None: unreadable)."""
    return [n for _, _, n in export_cache.describe(ProjectPaths(root))]


# -- hit, miss, and only what changed ------------------------------------------------------


def test_first_read_parses_every_file_and_the_next_none(project: Path) -> None:
    cold = read(project)
    assert cold.cache is not None
    assert cold.cache.parsed == ALL and cold.cache.hits == []
    assert cold.cache.stored == len(ALL) and len(packs(project)) == 1
    warm = read(project)
    assert warm.cache is not None
    assert warm.cache.hits == ALL and warm.cache.parsed == []
    assert warm.cache.stored == 0 and warm.cache.ignored == []
    expected = uncached(project)
    same(expected, cold)
    same(expected, warm)


def test_a_changed_file_is_the_only_one_parsed_again(project: Path) -> None:
    read(project)

    def lead_time(task: dict[str, Any]) -> None:
        task["annotations"][0]["lead_time"] = 123.5

    edit(project, A002, lead_time)
    again = read(project)
    assert again.cache is not None
    assert again.cache.parsed == [source(A002)]
    assert again.cache.hits == [s for s in ALL if s != source(A002)]
    same(uncached(project), again)
    row = again.annotations.filter(again.annotations["article_id"] == A002).row(0, named=True)
    assert row["lead_time"] == 123.5
    # The new parse went into a second pack; the next read uses both and parses nothing.
    assert len(packs(project)) == 2
    third = read(project)
    assert third.cache is not None and third.cache.parsed == [] and third.cache.hits == ALL
    same(uncached(project), third)


def test_packs_never_pile_up_and_compaction_keeps_the_current_files(project: Path) -> None:
    read(project)
    compactions = 0
    for i in range(3 * export_cache.MAX_PACKS):

        def lead_time(task: dict[str, Any], i: int = i) -> None:
            task["annotations"][0]["lead_time"] = float(i)

        edit(project, A001, lead_time)
        tables = read(project)
        assert tables.cache is not None and tables.cache.parsed == [source(A001)]
        compactions += tables.cache.compacted
        assert 1 <= len(packs(project)) <= export_cache.MAX_PACKS
    assert compactions >= 2
    warm = read(project)
    assert warm.cache is not None and warm.cache.hits == ALL
    same(uncached(project), warm)


def test_deleted_exports_leave_the_cache_and_it_shrinks(project: Path) -> None:
    read(project)
    for article in (A000, A001, A002):
        export(project, article).unlink()
    tables = read(project)
    assert tables.cache is not None and tables.cache.parsed == []
    assert tables.cache.compacted  # 2 of 5 files' rows still used: rewritten
    assert entries(project) == [len(ALL) - 3]
    same(uncached(project), tables)


# -- dependencies outside the file ---------------------------------------------------------


def test_a_raw_text_that_changed_reparses_only_its_file(project: Path) -> None:
    paths = ProjectPaths(project)
    from sahelwire.raw.manifest_texts import ManifestTexts

    texts = {aid: ManifestTexts(paths)[aid] for aid in ManifestTexts(paths)}
    read(project, texts=texts)
    text, sha = texts[A003]
    texts[A003] = (text.replace("Niger", "Nigeria", 1), sha)  # bytes differ from the manifest
    tables = read(project, texts=texts)
    assert tables.cache is not None and tables.cache.parsed == [source(A003)]
    same(uncached(project, texts=texts), tables)
    assert any(p.file == source(A003) for p in tables.problems)


def test_a_new_annotator_reparses_only_the_file_that_named_them(project: Path) -> None:
    def stranger(task: dict[str, Any]) -> None:
        task["annotations"][0]["completed_by"] = {"email": "new.annotator@example.org"}

    edit(project, A002, stranger)
    before = read(project)
    assert [p.rule for p in before.problems] == ["annotator is a known user"]
    known = project / "annotations" / "annotators.json"
    people = json.loads(known.read_text())
    known.write_text(json.dumps({**people, "new.annotator@example.org": {}}, indent=2))
    after = read(project)
    assert after.cache is not None and after.cache.parsed == [source(A002)]
    assert after.problems == []
    same(uncached(project), after)


# -- never trusted ------------------------------------------------------------------------


def _flip(offset_from: Callable[[int, Path], int]) -> Callable[[Path], None]:
    def damage(pack: Path) -> None:
        data = bytearray(pack.read_bytes())
        at = offset_from(len(data), pack)
        data[at] ^= 0xFF
        pack.write_bytes(bytes(data))

    return damage


def _metadata_start(size: int, pack: Path) -> int:
    with pack.open("rb") as handle:
        handle.seek(size - export_cache._FOOTER.size)
        length = export_cache._FOOTER.unpack(handle.read())[0]
    return size - export_cache._FOOTER.size - length + 20


DAMAGE: dict[str, Callable[[Path], object]] = {
    "truncated-half": lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),
    "last-byte-cut": lambda p: p.write_bytes(p.read_bytes()[:-1]),
    "empty": lambda p: p.write_bytes(b""),
    "not-a-pack": lambda p: p.write_text("hello, I am not a pack\n" * 20),
    "table-byte-flipped": _flip(lambda size, pack: 200),
    "metadata-byte-flipped": _flip(_metadata_start),
    "footer-byte-flipped": _flip(lambda size, pack: size - 3),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_pack_is_ignored_and_replaced(project: Path, damage: str) -> None:
    read(project)
    (pack,) = packs(project)
    DAMAGE[damage](pack)
    tables = read(project)
    assert tables.cache is not None
    assert tables.cache.hits == [] and tables.cache.parsed == ALL
    assert any(pack.name in why for why in tables.cache.ignored), tables.cache.ignored
    same(uncached(project), tables)
    # Replaced: one sound pack holds every file.
    assert entries(project) == [len(ALL)]
    warm = read(project)
    assert warm.cache is not None and warm.cache.hits == ALL and warm.cache.ignored == []
    same(uncached(project), warm)


def test_a_foreign_pack_is_ignored_and_removed(project: Path, tmp_path: Path) -> None:
    other = copy_project(tmp_path / "other")
    taxonomy = other / "schemas" / "taxonomy.yaml"
    text = taxonomy.read_text()
    assert HEADLINE_COLOUR in text  # the one edit that changes nothing else
    taxonomy.write_text(text.replace(HEADLINE_COLOUR, HEADLINE_NUDGED, 1))
    read(other)  # the same exports, another taxonomy: another fingerprint
    (foreign,) = packs(other)
    cache_dir(ProjectPaths(project)).mkdir(parents=True)
    shutil.copy2(foreign, cache_dir(ProjectPaths(project)) / foreign.name)
    tables = read(project)
    assert tables.cache is not None and tables.cache.parsed == ALL
    assert any("foreign or stale" in why for why in tables.cache.ignored)
    assert foreign.name not in [p.name for p in packs(project)]
    assert entries(project) == [len(ALL)]
    same(uncached(project), tables)


@pytest.mark.parametrize(
    "edit_schema",
    [
        pytest.param(("taxonomy.yaml", HEADLINE_COLOUR, HEADLINE_NUDGED), id="taxonomy-colour"),
        pytest.param(("tables.yaml", "\n", "\n# a comment\n"), id="tables-comment"),
        pytest.param(("entities.yaml", "\n", "\n# a comment\n"), id="registry-comment"),
    ],
)
def test_a_schema_change_invalidates_every_entry(
    project: Path, edit_schema: tuple[str, str, str]
) -> None:
    read(project)
    name, old, new = edit_schema
    path = project / "schemas" / name
    assert old in path.read_text()  # an edit, not a no-op
    path.write_text(path.read_text().replace(old, new, 1))
    tables = read(project)
    assert tables.cache is not None and tables.cache.parsed == ALL and tables.cache.hits == []
    same(uncached(project), tables)
    assert entries(project) == [len(ALL)]  # the old fingerprint's pack is removed


def test_the_fingerprint_covers_the_parser_code_and_the_taxonomy_object(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = ProjectPaths(project)
    taxonomy, shapes = load_taxonomy(paths.taxonomy_file), load_source_shapes(paths)
    sources = export_cache.parser_sources()
    for module in (
        "sahelwire.annotations.tables",
        "sahelwire.annotations.export_cache",
        "sahelwire.labelstudio.export_json",
        "sahelwire.labelstudio.export_format",
        "sahelwire.labelstudio.identity",
        "sahelwire.labelstudio.controls",
        "sahelwire.labelstudio.offsets",
        "sahelwire.schema.taxonomy",
        "sahelwire.raw.manifest_texts",
    ):
        assert module in sources, module
    base = fingerprint(paths, taxonomy, shapes)
    assert fingerprint(paths, taxonomy, shapes) == base  # stable (no set order in it)
    changed = dataclasses.replace(taxonomy, document_fields=taxonomy.document_fields[:-1])
    assert fingerprint(paths, changed, shapes) != base
    # A code change: the same modules with one source edited.
    copy = tmp_path / "tables.py"
    copy.write_bytes(sources["sahelwire.annotations.tables"].read_bytes())
    edited = {**sources, "sahelwire.annotations.tables": copy}
    monkeypatch.setattr(export_cache, "parser_sources", lambda: edited)
    assert fingerprint(paths, taxonomy, shapes) == base
    copy.write_bytes(copy.read_bytes() + b"\n# a parser change\n")
    assert fingerprint(paths, taxonomy, shapes) != base


# -- the same Problems, from the cache or not ----------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_every_refused_export_reports_the_same_problems_from_the_cache(
    tmp_path: Path, case: str
) -> None:
    root = copy_project(tmp_path / "proj")
    read(root)  # the clean files are stored; the damaged one changes under the cache
    mutated(root, case)
    expected = uncached(root)
    first, second = read(root), read(root)
    same(expected, first)
    same(expected, second)
    assert second.cache is not None
    # Only files whose parse depends on another file's ids are parsed every time.
    assert set(second.cache.parsed) == set(second.cache.unstored)


def _first(root: Path, article: str, get: Callable[[dict[str, Any]], Any]) -> Any:
    return get(json.loads(export(root, article).read_text(encoding="utf-8")))


def _set(article: str, put: Callable[[dict[str, Any], Any], None], other: str, get: Any) -> Any:
    def mutate(root: Path) -> None:
        value = _first(root, other, get)
        edit(root, article, lambda t: put(t, value))

    return mutate


def _ann_id(t: dict[str, Any]) -> Any:
    return t["annotations"][0]["id"]


def _uuid(t: dict[str, Any]) -> Any:
    return t["annotations"][0]["unique_id"]


def _pred_id(t: dict[str, Any]) -> Any:
    return t["predictions"][0]["id"]


def _task_id(t: dict[str, Any]) -> Any:
    return t["id"]


def _put_ann_id(t: dict[str, Any], v: Any) -> None:
    t["annotations"][0]["id"] = v


def _put_uuid(t: dict[str, Any], v: Any) -> None:
    t["annotations"][0]["unique_id"] = v


def _put_pred_id(t: dict[str, Any], v: Any) -> None:
    # The annotations that started from the prediction follow it (parent_prediction).
    old = t["predictions"][0]["id"]
    t["predictions"][0]["id"] = v
    for ann in t["annotations"]:
        if ann.get("parent_prediction") == old:
            ann["parent_prediction"] = v


def _put_task_id(t: dict[str, Any], v: Any) -> None:
    t["id"] = v


# Each cross-file rule, with the repeat put into the later file (the earlier one keeps the
# id) or into the earlier file (so a later file read from the cache meets it).
CROSS_FILE = {
    f"{what}-{where}": (put, get, (A003, A001) if where == "later" else (A000, A003))
    for what, put, get in (
        ("annotation-id", _put_ann_id, _ann_id),
        ("unique-id", _put_uuid, _uuid),
        ("prediction-id", _put_pred_id, _pred_id),
        ("task-id", _put_task_id, _task_id),
    )
    for where in ("later", "earlier")
}


@pytest.mark.parametrize("case", list(CROSS_FILE))
def test_cross_file_rules_run_over_the_union_of_cached_and_parsed_files(
    project: Path, case: str
) -> None:
    put, get, (changed, other) = CROSS_FILE[case]
    clean = {p.name: p.read_bytes() for p in (project / EXPORTS).iterdir()}
    read(project)  # every clean file stored
    _set(changed, put, other, get)(project)
    expected = uncached(project)
    assert any(p.file == source(max(changed, other)) for p in expected.problems), case
    for _ in range(2):
        tables = read(project)
        same(expected, tables)
        assert tables.cache is not None
        later = source(max(changed, other))
        # The later file depends on the earlier one: parsed in sequence, never stored.
        assert later in tables.cache.parsed and later in tables.cache.unstored
    # Undone: every file is read from the cache again, with no Problem.
    for name, data in clean.items():
        (project / EXPORTS / name).write_bytes(data)
    back = read(project)
    assert back.cache is not None and back.cache.hits == ALL and back.problems == []
    same(uncached(project), back)


def test_the_same_article_in_two_files_is_refused_from_the_cache_too(project: Path) -> None:
    read(project)
    shutil.copy2(export(project, A001), project / EXPORTS / "zz_copy.json")
    expected = uncached(project)
    rules = {p.rule for p in expected.problems}
    assert "one task per article" in rules and "file name is <data.article_id>.json" in rules
    same(expected, read(project))
    same(expected, read(project))


# -- a cold read on every core ------------------------------------------------------------


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Worker processes for the cold read even of the committed five files."""
    monkeypatch.setattr(annotation_tables, "PREFILL_MIN_FILES", 2)
    monkeypatch.setenv(annotation_tables.WORKERS_ENV, "2")


@pytest.mark.usefixtures("workers")
def test_a_cold_read_parses_in_worker_processes_and_gives_the_sequential_tables(
    project: Path,
) -> None:
    cold = read(project)
    assert cold.cache is not None
    # The workers parsed and stored every file (two packs, one each): this read parsed none.
    assert cold.cache.hits == ALL and cold.cache.parsed == []
    assert len(packs(project)) == 2
    same(uncached(project), cold)
    warm = read(project)
    assert warm.cache is not None and warm.cache.hits == ALL
    same(uncached(project), warm)


@pytest.mark.usefixtures("workers")
def test_a_warm_read_reads_and_hashes_each_export_once(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The prefill's probe hashes every file to look for misses; the read after it used to
    # read and hash each one again. It now takes the probe's hash while the file's stat holds.
    read(project)
    reads: list[str] = []
    # The files were copied just now: their remembered hashes are not trusted yet (racy).
    reads = export_reads(monkeypatch)
    warm = read(project)
    assert warm.cache is not None and warm.cache.hits == ALL
    assert sorted(reads) == sorted(Path(f).name for f in ALL)  # once each, not twice
    same(uncached(project), warm)


@pytest.mark.usefixtures("workers")
def test_a_read_opens_each_pack_once(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The prefill's probe and the read after it each opened the whole cache, parsing every
    # pack's metadata twice (≈3.5 s each at 1M); they now share one, and the read opens
    # only the packs the workers wrote after the probe.
    opened: list[str] = []
    real = export_cache.Pack.open.__func__  # type: ignore[attr-defined]

    def counted(cls: type[export_cache.Pack], path: Path, fingerprint: str) -> Any:
        opened.append(path.name)
        return real(cls, path, fingerprint)

    monkeypatch.setattr(export_cache.Pack, "open", classmethod(counted))
    cold = read(project)  # the workers write both packs; the read opens each once
    assert cold.cache is not None and cold.cache.hits == ALL
    assert sorted(opened) == [p.name for p in packs(project)] and len(opened) == 2
    opened.clear()
    edit(project, A003, lambda t: t["annotations"][0].update(lead_time=5.5))
    warm = read(project)  # one file changed: parsed here (too few for workers)
    assert warm.cache is not None and warm.cache.parsed == [source(A003)]
    assert len(opened) == 2 == len(set(opened))  # the two packs, once each
    same(uncached(project), warm)


def test_a_worker_opens_no_pack_and_reads_the_manifest_once_quickly(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker's files are in none of the packs (the parent looked): it opens none of them
    # (each open parses a pack's metadata: ≈3 s per worker at 1M) and takes the manifest's
    # hashes from polars (≈1 s, not ≈5 s), and the read after it finds its parse a hit.
    read(project)
    (before,) = packs(project)
    edit(project, A003, lambda t: t["annotations"][0].update(lead_time=5.5))
    opened: list[str] = []
    real = export_cache.Pack.open.__func__  # type: ignore[attr-defined]

    def counted(cls: type[export_cache.Pack], path: Path, fingerprint: str) -> Any:
        opened.append(path.name)
        return real(cls, path, fingerprint)

    def manifest_rows(path: Path) -> Any:
        raise AssertionError("a worker read the manifest a row at a time")

    monkeypatch.setattr(export_cache.Pack, "open", classmethod(counted))
    monkeypatch.setattr(manifest_texts, "iter_manifest", manifest_rows)
    taxonomy = load_taxonomy(ProjectPaths(project).taxonomy_file)
    annotation_tables.prefill_share(project, taxonomy, [[str(export(project, A003))]])
    assert opened == []
    assert len(set(packs(project)) - {before}) == 1  # its own pack...
    assert before in packs(project)  # ...added: a worker never compacts
    monkeypatch.undo()
    after = read(project)
    assert after.cache is not None and after.cache.parsed == [] and after.cache.hits == ALL
    same(uncached(project), after)


def export_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the export files read from now on (filled as they are read)."""
    reads: list[str] = []
    real = Path.read_bytes

    def counted(self: Path) -> bytes:
        if self.suffix == ".json" and self.parent.as_posix().endswith(EXPORTS):
            reads.append(self.name)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", counted)
    return reads


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files count as settled as soon as they are stat'ed (no racy window): the copies of the
    committed exports were written a moment ago, and a test cannot wait out the real window."""
    monkeypatch.setattr(file_hashes, "RACY_NS", 0)


def index_file(root: Path) -> Path:
    return cache_dir(ProjectPaths(root)) / file_hashes.NAME


@pytest.mark.usefixtures("settled")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_warm_read_of_unchanged_files_reads_none_of_them(
    project: Path, monkeypatch: pytest.MonkeyPatch, workers: str
) -> None:
    # Their sha256 is remembered with their stat (hashes.json): a file whose stat holds is
    # not read again, with or without the worker processes' probe.
    monkeypatch.setattr(annotation_tables, "PREFILL_MIN_FILES", 2)
    monkeypatch.setenv(annotation_tables.WORKERS_ENV, workers)
    read(project)
    assert index_file(project).is_file()
    reads = export_reads(monkeypatch)
    warm = read(project)
    assert warm.cache is not None and warm.cache.hits == ALL
    assert reads == []
    edit(project, A002, lambda t: t["annotations"][0].update(lead_time=77.5))
    again = read(project)
    assert again.cache is not None and again.cache.parsed == [source(A002)]
    # Only the changed file is read (twice with workers: the probe hashes it, the parse
    # that finds no entry for the new hash reads it again).
    assert set(reads) == {f"{A002}.json"}
    assert 77.5 in again.annotations["lead_time"].to_list()
    same(uncached(project), again)


@pytest.mark.usefixtures("settled")
def test_a_rewrite_that_keeps_size_and_mtime_is_still_read(project: Path) -> None:
    # Same length, same mtime set back by hand: the ctime moved, so the stat differs.
    read(project)
    path = export(project, A001)
    before = path.stat()
    text = path.read_text(encoding="utf-8")
    assert '"lead_time": ' in text
    changed = text.replace('"lead_time": ', '"lead_time":-', 1)
    assert len(changed.encode()) == len(text.encode())
    path.write_text(changed, encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    tables = read(project)
    assert tables.cache is not None and tables.cache.parsed == [source(A001)]
    same(uncached(project), tables)


def test_a_file_that_changed_just_before_its_hash_is_hashed_again(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The racy window: a write in the same timestamp tick as the stat would not show in it,
    # so a hash taken within RACY_NS of the file's last change is not trusted next time.
    monkeypatch.setattr(file_hashes, "RACY_NS", 3600 * 10**9)
    read(project)
    reads = export_reads(monkeypatch)
    assert read(project).cache.hits == ALL  # type: ignore[union-attr]
    assert sorted(reads) == sorted(Path(f).name for f in ALL)


@pytest.mark.usefixtures("settled")
@pytest.mark.parametrize("damage", ["flip-a-byte", "cut", "garbage", "other-format"])
def test_a_damaged_hash_index_is_ignored(
    project: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    read(project)
    edit(project, A003, lambda t: t["annotations"][0].update(lead_time=5.5))
    index = index_file(project)
    data = index.read_bytes()
    if damage == "flip-a-byte":  # e.g. one sha256 in the body: the checksum no longer holds
        at = data.index(b'"', data.index(b"[") + 1) + 5
        data = data[:at] + bytes([data[at] ^ 1]) + data[at + 1 :]
    elif damage == "cut":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = b"\x00\xff not json\n"
    else:
        body = json.dumps({"format": 99, "entries": {}}).encode()
        data = body + b"\n" + hashlib.sha256(body).hexdigest().encode() + b"\n"
    index.write_bytes(data)
    reads = export_reads(monkeypatch)
    tables = read(project)
    assert sorted(reads) == sorted(Path(f).name for f in ALL)  # every file hashed again
    assert tables.cache is not None and tables.cache.parsed == [source(A003)]
    same(uncached(project), tables)
    reads.clear()
    read(project)
    assert reads == []  # and the index written anew


@pytest.mark.usefixtures("workers")
def test_a_file_written_after_the_probe_is_read_again(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pull writing a task file between the probe's hash and the read: its stat changed,
    # so the read hashes the file as it is now and finds no entry for it: parsed, new value.
    read(project)
    probe = annotation_tables._prefill

    def then_written(*args: Any) -> Any:
        hashed = probe(*args)
        assert export(project, A001) in hashed
        edit(project, A001, lambda t: t["annotations"][0].update(lead_time=123.25))
        return hashed

    monkeypatch.setattr(annotation_tables, "_prefill", then_written)
    tables = read(project)
    monkeypatch.undo()
    assert tables.cache is not None and tables.cache.parsed == [source(A001)]
    assert 123.25 in tables.annotations["lead_time"].to_list()
    same(uncached(project), tables)


@pytest.mark.usefixtures("workers")
@pytest.mark.parametrize("case", ["task-id-later", "annotation-id-earlier"])
def test_a_parallel_cold_read_keeps_the_cross_file_rules(project: Path, case: str) -> None:
    # The two files sharing an id land in different workers' shares: each stores its own
    # parse, and the read replays them in file order, refusing the later one as in sequence.
    put, get, (changed, other) = CROSS_FILE[case]
    _set(changed, put, other, get)(project)
    expected = uncached(project)
    assert any(p.file == source(max(changed, other)) for p in expected.problems), case
    tables = read(project)
    assert tables.cache is not None and source(max(changed, other)) in tables.cache.parsed
    same(expected, tables)


@pytest.mark.usefixtures("workers")
def test_a_worker_that_fails_leaves_its_files_to_the_sequential_read(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker interpreter that cannot start (no such module): nothing is stored by it, and
    # the read itself parses every file, with the same result and no error.
    monkeypatch.setattr(annotation_tables, "PREFILL_MODULE", "sahelwire.no_such_module")
    tables = read(project)
    assert tables.cache is not None and tables.cache.parsed == ALL
    same(uncached(project), tables)


# -- switched off, cleared, written concurrently or killed ---------------------------------


def test_the_cache_can_be_switched_off(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV, "off")
    tables = read_annotation_tables(ProjectPaths(project))
    assert tables.cache is None
    assert not cache_dir(ProjectPaths(project)).exists()
    monkeypatch.setenv(CACHE_ENV, "on")
    assert read_annotation_tables(ProjectPaths(project)).cache is not None
    assert packs(project)


def test_cache_info_and_clear(project: Path) -> None:
    read(project)
    (pack,) = packs(project)
    shown = run_cli(project, "cache", "info")
    assert shown.returncode == 0, shown.stderr
    assert pack.name in shown.stdout and f"entries: {len(ALL)}" in shown.stdout
    assert f"hashes.json  0.0 MiB  export files' hashes: {len(ALL)}" in shown.stdout
    cleared = run_cli(project, "cache", "clear")
    assert cleared.returncode == 0 and "removed 2 cache file(s)" in cleared.stdout
    assert packs(project) == [] and not index_file(project).exists()
    assert read(project).cache.parsed == ALL  # type: ignore[union-attr]


_DIGEST = """
import hashlib, json, sys
from pathlib import Path
from sahelwire.annotations.tables import read_annotation_tables
from sahelwire.io.paths import ProjectPaths
t = read_annotation_tables(ProjectPaths(Path(sys.argv[1])), cache=True)
names = ("annotations", "regions", "relations", "choices", "predictions", "prediction_results")
parts = [repr(getattr(t, n).rows()) for n in names] + [repr(t.problems)]
print(hashlib.sha256("\\n".join(parts).encode()).hexdigest())
"""


def _digest(tables: AnnotationTables) -> str:
    parts = [repr(getattr(tables, n).rows()) for n in TABLES] + [repr(tables.problems)]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def test_concurrent_reads_agree_and_leave_a_sound_cache(project: Path) -> None:
    expected = _digest(uncached(project))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _DIGEST, str(project)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0] * 4
    assert outputs == [expected] * 4
    tables = read(project)
    assert tables.cache is not None and tables.cache.hits == ALL
    assert _digest(tables) == expected
    assert not list(cache_dir(ProjectPaths(project)).glob("*.tmp"))


def test_a_writer_killed_at_any_moment_leaves_nothing_that_is_trusted(project: Path) -> None:
    expected = uncached(project)
    rng = random.Random(17)  # seeded: a failure is reproducible
    for _ in range(4):
        shutil.rmtree(cache_dir(ProjectPaths(project)), ignore_errors=True)
        proc = subprocess.Popen([sys.executable, "-c", _DIGEST, str(project)])
        time.sleep(rng.uniform(0.3, 2.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        tables = read(project)
        same(expected, tables)
        assert tables.cache is not None and not tables.cache.write_error
        assert not list(cache_dir(ProjectPaths(project)).glob("*.tmp"))
        warm = read(project)
        assert warm.cache is not None and warm.cache.hits == ALL
        same(expected, warm)


# -- the same bytes out -------------------------------------------------------------------


def test_build_gives_the_same_bytes_with_no_cold_and_warm_cache(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sahelwire.io.config import Settings
    from sahelwire.release.build import render_release

    paths = ProjectPaths(project)
    settings = Settings.load(paths)
    monkeypatch.setenv(CACHE_ENV, "off")
    without = render_release(paths, settings).files
    assert not cache_dir(paths).exists()
    monkeypatch.setenv(CACHE_ENV, "on")
    cold = render_release(paths, settings).files
    assert entries(project) == [len(ALL)]
    warm = render_release(paths, settings).files
    assert cold == without and warm == without


def test_validate_prints_the_same_report_with_no_cold_and_warm_cache(project: Path) -> None:
    # Problems of every kind: a file refused by the JSON reader, a record refused by the
    # parser, and a repeat across files that a file read from the cache meets.
    _set(A000, _put_ann_id, A003, _ann_id)(project)
    edit(project, A002, lambda t: t["annotations"][0].__setitem__("lead_time", -1))
    path = export(project, A001)
    path.write_bytes(path.read_bytes()[:-40])
    outputs = []
    for env in ({CACHE_ENV: "off"}, {CACHE_ENV: None}, {CACHE_ENV: None}):
        for args in (("validate", "--no-dist"), ("validate", "--no-dist", "--json")):
            result = run_cli(project, *args, env=env)
            assert result.returncode == 1, result.stderr
            outputs.append((args, result.stdout, result.stderr))
    assert entries(project)  # the warm runs had a cache to read
    off, cold, warm = outputs[0:2], outputs[2:4], outputs[4:6]
    assert cold == off and warm == off
    assert "annotation ids are unique" in off[0][1] + off[0][2]


def test_without_the_parser_sources_there_is_no_cache(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Installed without its .py files, a code change could not reach the fingerprint.
    monkeypatch.setattr(export_cache, "parser_sources", lambda: {})
    tables = read_annotation_tables(ProjectPaths(project), cache=True)
    assert tables.cache is None and not cache_dir(ProjectPaths(project)).exists()
    same(uncached(project), tables)


def test_registry_proposals_come_back_from_the_cache(project: Path) -> None:
    def propose(task: dict[str, Any]) -> None:
        result = task["annotations"][0]["result"]
        span = next(r for r in result if r["type"] == "labels" and r["from_name"] == "entities")
        value = {k: span["value"][k] for k in ("start", "end")}
        result.append(
            {
                "id": span["id"],
                "from_name": "entity_proposal",
                "to_name": "text",
                "type": "textarea",
                "value": {**value, "text": [" Agadez, a city in Niger "]},
            }
        )

    edit(project, A001, propose)
    expected = uncached(project)
    assert [p["proposal"] for p in expected.proposals] == ["Agadez, a city in Niger"]
    cold, warm = read(project), read(project)
    assert warm.cache is not None and warm.cache.hits == ALL
    same(expected, cold)
    same(expected, warm)
