"""The build holds no corpus of texts (issue 17 item 3): each is read when used, and checked.

Validation reads and checks every raw text but keeps only ids and hashes; the build reads a
text again when it needs it and refuses it unless its bytes are the ones validated. A text
edited (or removed) between validation and publication must stop the build with a Problem
naming the file, the article and the rule, leaving the previous dist/ as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT, built_copy, copy_project, snapshot
from sahelwire.annotations.export_cache import CACHE_ENV as EXPORT_CACHE_ENV
from sahelwire.io import file_hashes
from sahelwire.io.article_packs import CACHE_ENV as ARTICLE_CACHE_ENV
from sahelwire.io.paths import ProjectPaths
from sahelwire.raw.manifest import load_articles
from sahelwire.release import build as build_module
from sahelwire.release import validation
from sahelwire.release.build import BuildRefused, articles_from, build
from sahelwire.release.validation import RECENT_TEXTS, TextChanged, validate_inputs
from sahelwire.schema.table_specs import load_table_specs
from sahelwire.schema.taxonomy import load_taxonomy

RULE = "stored text matches manifest sha256"


def test_validated_texts_are_read_on_use_and_equal_the_files() -> None:
    """The loaded articles give what load_articles (which holds every text) gives; their
    digest and length come from the manifest row, unread, and agree with the text."""
    paths = ProjectPaths(ROOT)
    report, validated = validate_inputs(paths)
    assert report.ok, report.problems[:3]
    stored = validated.raw.valid.stored
    assert len(stored.recent) <= RECENT_TEXTS  # validation kept no more texts behind
    held = {a.id: a for a in load_articles(paths)}
    lazy = articles_from(validated.raw)
    assert [a.id for a in lazy] == sorted(held)
    for art in lazy:
        text = art.text
        assert text == held[art.id].text
        assert art.text_digest() == held[art.id].text_digest()
        assert art.text_digest() == hashlib.sha256(text.encode()).digest()
        assert art.n_chars == len(text)
        assert validated.raw.readable[art.id] == (text, art.sha256)
        assert len(stored.recent) <= RECENT_TEXTS


def test_a_text_changed_or_removed_after_validation_is_refused_when_read(
    tmp_path: Path,
) -> None:
    paths = ProjectPaths(copy_project(tmp_path / "p", annotations=False))
    report, validated = validate_inputs(paths)
    assert report.ok, report.problems[:3]
    first, second = sorted(validated.raw.valid)[:2]
    path = paths.raw_text_path(first)
    path.write_bytes(path.read_bytes() + b" edited")
    with pytest.raises(TextChanged) as changed:
        validated.raw.valid[first]
    problem = changed.value.problem
    assert (problem.file, problem.record, problem.field, problem.rule) == (
        f"dataset/raw/texts/{first}.txt",
        first,
        "sha256",
        RULE,
    )
    assert problem.value == hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(TextChanged):
        validated.raw.readable[first]
    paths.raw_text_path(second).unlink()
    with pytest.raises(TextChanged) as removed:
        validated.raw.valid[second]
    assert (removed.value.problem.record, removed.value.problem.value) == (second, "missing")


def test_a_text_changed_during_the_build_refuses_it_and_keeps_dist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Edited after validation passed: the build refuses with that one Problem, publishes
    nothing, and leaves the previous dist/ and no staging folder behind."""
    monkeypatch.setenv(ARTICLE_CACHE_ENV, "off")  # every article's rows are made (text read)
    paths, settings, before = built_copy(tmp_path / "p")
    root = paths.root
    real = build_module.validate_inputs
    edited: list[str] = []

    def edit_after_validation(*args: Any, **kw: Any) -> Any:
        report, validated = real(*args, **kw)
        # The few texts kept after a read are the validated ones; the committed corpus is
        # small enough for them to be most of it, so forget them (as a large corpus would).
        validated.raw.valid.stored.recent.clear()
        article = sorted(validated.raw.valid)[-1]
        text_path = paths.raw_text_path(article)
        text_path.write_text(text_path.read_text(encoding="utf-8") + " edited", encoding="utf-8")
        edited.append(article)
        return report, validated

    monkeypatch.setattr(build_module, "validate_inputs", edit_after_validation)
    with pytest.raises(BuildRefused) as refused:
        build(paths, settings)
    [article] = edited
    [problem] = refused.value.problems
    assert (problem.file, problem.record, problem.rule) == (
        f"dataset/raw/texts/{article}.txt",
        article,
        RULE,
    )
    assert problem.value == hashlib.sha256(paths.raw_text_path(article).read_bytes()).hexdigest()
    assert snapshot(paths.dist_dir) == before
    assert not list(root.glob(".dist.staging.*"))


def test_validate_reports_a_text_changed_while_it_ran(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Changed between the raw check and the span checks that read it: one clear Problem."""
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    real = validation.read_raw

    def edit_after_reading(*args: Any, **kw: Any) -> Any:
        raw = real(*args, **kw)
        for article in raw.valid:
            text_path = paths.raw_text_path(article)
            text_path.write_bytes(text_path.read_bytes() + b" edited")
        return raw

    monkeypatch.setattr(validation, "read_raw", edit_after_reading)
    report = validation.validate_project(paths, include_dist=False)
    [problem] = report.problems
    assert problem.rule == RULE
    assert problem.file == f"dataset/raw/texts/{problem.record}.txt"


# -- raw texts not read again while unchanged (sahelwire.io.file_hashes) -------------------


def _read_raw(paths: ProjectPaths) -> tuple[validation.ValidationReport, validation.RawTexts]:
    taxonomy = load_taxonomy(paths.taxonomy_file)
    report = validation.ValidationReport()
    raw = validation.read_raw(paths, taxonomy, load_table_specs(paths.tables_file), report)
    return report, raw


def _text_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = Path.read_bytes

    def counted(self: Path) -> bytes:
        if self.suffix == ".txt" and self.parent.name == "texts":
            reads.append(self.stem)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", counted)
    return reads


def test_unchanged_raw_texts_are_not_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The copies were written a moment ago: without this the racy window would (rightly)
    # keep every hash untrusted for 3 s.
    monkeypatch.setattr(file_hashes, "RACY_NS", 0)
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    cold_report, cold = _read_raw(paths)
    assert cold_report.problems == [] and len(cold.valid.sha) == 5
    reads = _text_reads(monkeypatch)
    warm_report, warm = _read_raw(paths)
    assert reads == [] and warm_report.problems == []
    assert warm.valid.sha == cold.valid.sha

    # Same length, mtime set back: the ctime moved, so it is read and refused.
    article = sorted(cold.valid.sha)[1]
    path = paths.raw_text_path(article)
    before = path.stat()
    data = path.read_bytes()
    flipped = data[:10] + (b"X" if data[10:11] != b"X" else b"Y") + data[11:]
    path.write_bytes(flipped)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    reads.clear()
    report, raw = _read_raw(paths)
    assert reads == [article]
    [problem] = report.problems
    assert (problem.record, problem.rule) == (article, RULE)
    assert article not in raw.valid.sha
    path.write_bytes(data)

    # A manifest row whose length disagrees with an unread text: still reported.
    _read_raw(paths)
    manifest = paths.manifest_file
    rows = [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]
    rows[0]["n_chars"] += 1
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    reads.clear()
    report, _ = _read_raw(paths)
    assert reads == []
    assert [(p.record, p.rule) for p in report.problems] == [(rows[0]["id"], "length matches text")]


def test_with_the_cache_off_every_raw_text_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_hashes, "RACY_NS", 0)
    paths = ProjectPaths(copy_project(tmp_path / "p"))
    _read_raw(paths)
    monkeypatch.setenv(EXPORT_CACHE_ENV, "off")
    reads = _text_reads(monkeypatch)
    report, raw = _read_raw(paths)
    assert report.problems == [] and sorted(reads) == sorted(raw.valid.sha)
