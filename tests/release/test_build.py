"""End to end: build from the committed inputs, load with datasets, rebuild byte-identically."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import datasets
import pyarrow.parquet as pq
import pytest

from helpers import ROOT, SAHELWIRE, copy_project, environ, run_cli, snapshot
from sahelwire.io import atomic
from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.build import BuildRefused, build


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("proj"))
    result = run_cli(root, "build")
    assert result.returncode == 0, result.stderr
    return root


def test_documents_load_with_typed_features_and_three_splits(built: Path) -> None:
    ds = datasets.load_dataset(str(built / "dist"), "documents")
    assert set(ds) == {"train", "validation", "test"}
    manifest = [
        json.loads(x) for x in (built / "dataset/raw/manifest.jsonl").read_text().splitlines()
    ]
    assert sum(ds[s].num_rows for s in ds) == len(manifest)
    features = ds["train"].features
    assert isinstance(features["stance_us_presence"], datasets.ClassLabel)
    assert isinstance(features["zones"], datasets.List)
    assert isinstance(features["zones"].feature["label"], datasets.ClassLabel)
    assert isinstance(features["events"].feature["arguments"].feature["role"], datasets.ClassLabel)
    # the text is published exactly as stored
    row = ds["train"][0]
    assert row["text"] == (built / "dataset/raw/texts" / f"{row['article_id']}.txt").read_text(
        encoding="utf-8"
    )


def test_ner_bio_uses_classlabel_tags(built: Path) -> None:
    ds = datasets.load_dataset(str(built / "dist"), "ner_bio")
    tags = ds["train"].features["ner_tags"].feature
    assert isinstance(tags, datasets.ClassLabel) and tags.names[0] == "O"
    row = ds["train"][0]
    assert len(row["tokens"]) == len(row["ner_tags"]) == len(row["token_starts"])


def test_parquet_is_hub_friendly(built: Path) -> None:
    files = sorted((built / "dist/data").rglob("*.parquet"))
    assert files
    for path in files:
        meta = pq.ParquetFile(path).metadata
        col = meta.row_group(0).column(0)
        assert col.compression == "ZSTD"
        assert col.has_offset_index  # page index written
        assert b"huggingface" in meta.metadata and b"pandas" not in meta.metadata


def test_checksums_cover_every_file(built: Path) -> None:
    dist = built / "dist"
    lines = (dist / "checksums.sha256").read_text().splitlines()
    listed = {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in lines}
    on_disk = {str(p.relative_to(dist)) for p in dist.rglob("*") if p.is_file()} - {
        "checksums.sha256"
    }
    assert set(listed) == on_disk
    for name, digest in listed.items():
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == digest


def test_rebuild_is_byte_identical(built: Path) -> None:
    before = snapshot(built / "dist")
    assert run_cli(built, "build").returncode == 0
    assert snapshot(built / "dist") == before


def test_card_lists_configs_for_load_dataset(built: Path) -> None:
    card = (built / "dist/README.md").read_text()
    assert "config_name: documents" in card and "default: true" in card
    assert "dataset_info:" in card and "class_label:" in card


def test_interrupted_build_leaves_previous_dist(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = copy_project(tmp_path)
    monkeypatch.setenv("SAHELWIRE_ROOT", str(root))
    paths = ProjectPaths.discover()
    settings = Settings.load(paths)
    build(paths, settings)
    before = snapshot(paths.dist_dir)
    calls = {"n": 0}
    real = atomic.write_bytes_atomic

    def disk_full_after_two(path: Path, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(errno.ENOSPC, "No space left on device (simulated)")
        real(path, data)

    monkeypatch.setattr("sahelwire.release.build.write_bytes_atomic", disk_full_after_two)
    with pytest.raises(OSError):
        build(paths, settings)
    assert snapshot(paths.dist_dir) == before
    assert not list(root.glob(".dist.staging.*"))


def test_build_refuses_invalid_input_and_keeps_dist(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    assert run_cli(root, "build").returncode == 0
    before = snapshot(root / "dist")
    text = next((root / "dataset/raw/texts").glob("*.txt"))
    text.write_bytes(text.read_bytes() + b" tampered")
    result = run_cli(root, "build")
    assert result.returncode == 1
    assert "sha256" in result.stderr and text.stem in result.stderr
    assert snapshot(root / "dist") == before
    with pytest.raises(BuildRefused):
        build(ProjectPaths(root), Settings.load(ProjectPaths(root)))


@pytest.mark.parametrize(
    ("limit", "said"),
    [
        # DuckDB cannot sort even the committed corpus's annotations_raw in 1MB.
        ("1MB", "DuckDB needed more than its memory limit (1MB)"),
        ("lots", "SAHELWIRE_DUCKDB_MEMORY='lots' is not a memory size"),
    ],
)
def test_build_out_of_engine_memory_exits_2_and_keeps_dist(
    tmp_path: Path, limit: str, said: str
) -> None:
    """A DuckDB memory limit too small or malformed: exit 2 with how to raise it, no
    traceback, dist/ as it was."""
    root = copy_project(tmp_path)
    assert run_cli(root, "build").returncode == 0
    before = snapshot(root / "dist")
    result = run_cli(root, "build", env={"SAHELWIRE_DUCKDB_MEMORY": limit})
    assert result.returncode == 2, result.stderr
    assert said in result.stderr and "SAHELWIRE_DUCKDB_MEMORY" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(root / "dist") == before
    assert not list(root.glob(".dist.staging.*"))
    # A size the sort fits in builds the same files.
    assert run_cli(root, "build", env={"SAHELWIRE_DUCKDB_MEMORY": "512MB"}).returncode == 0
    assert snapshot(root / "dist") == before


def test_dist_gets_the_mode_mkdir_gives_under_the_users_umask(tmp_path: Path) -> None:
    """dist/ was 0700 (the staging folder's mode from mkdtemp, renamed into place) while its
    subfolders were 0755: no one else could read the release. Built under umask 022, then
    rebuilt over it under 027, each in its own process (the umask is process-wide)."""
    root = copy_project(tmp_path)
    for mask in (0o022, 0o027):
        result = subprocess.run(
            ["sh", "-c", f'umask {mask:03o} && exec "{SAHELWIRE}" build'],
            cwd=root,
            env=environ(None, SAHELWIRE_ROOT=str(root)),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr
        folders = [root / "dist", *(p for p in (root / "dist").rglob("*") if p.is_dir())]
        assert len(folders) > 1
        modes = {str(f.relative_to(root)): oct(stat.S_IMODE(f.stat().st_mode)) for f in folders}
        assert modes == dict.fromkeys(modes, oct(0o777 & ~mask)), mask


def test_build_into_a_mount_point_is_refused_before_the_build(tmp_path: Path) -> None:
    """A mount point cannot be replaced by a rename: refused (exit 2) before any build work,
    saying so and what to do, nothing made beside it. /proc is a real mount point on every
    Linux machine (a tmpfs of our own needs a mount namespace: tests/reliability/
    test_build_faults.py mounts one where it can)."""
    if not os.path.ismount("/proc"):
        pytest.skip("/proc is not a mount point here")
    root = copy_project(tmp_path)
    beside = sorted(os.listdir("/"))
    try:
        result = run_cli(root, "build", "--out", "/proc")
        after = sorted(os.listdir("/"))
    finally:  # what the bug left (a whole build in /.proc.staging.*): not for the next run
        for leftover in Path("/").glob(".proc.staging.*"):
            shutil.rmtree(leftover, ignore_errors=True)
    assert result.returncode == 2, result.stderr
    assert result.stderr == (
        "sahelwire: build refused: the output folder /proc is a mount point and cannot be "
        "replaced as a whole (a build renames a new folder over it); use --out with a folder "
        "inside it, e.g. --out /proc/dist; the previous build folder is intact\n"
    )
    assert after == beside  # no /.proc.staging.*
    assert not (root / ".sahelwire" / "tmp").exists()  # the build did not start its work
    assert not (root / "dist").exists()


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize("kind", ["notes", "git-repo", "file", "project", "symlink"])
def test_build_out_refuses_what_no_build_wrote_and_leaves_it(tmp_path: Path, kind: str) -> None:
    """A build replaces its output folder as a whole: `build --out` deleted a folder of the
    user's notes, a git repository, a file (made a folder), even the checkout itself (a
    user walkthrough). Each is refused (exit 2) before any build work, saying what is
    there; nothing is changed."""
    root = copy_project(tmp_path / "project")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine\n")
    target = {
        "notes": other,
        "git-repo": other,
        "file": root / "pyproject.toml",
        "project": root,
        "symlink": tmp_path / "link",
    }[kind]
    if kind == "git-repo":
        subprocess.run(["git", "init", "-q", str(other)], check=True)
        (other / "notes.txt").unlink()  # only .git/ in it
    if kind == "symlink":
        target.symlink_to(other, target_is_directory=True)
    before = _tree(root), _tree(other)
    result = run_cli(root, "build", "--out", str(target))
    assert result.returncode == 2, result.stdout + result.stderr
    why = {
        "notes": "holds files no build wrote (notes.txt)",
        "git-repo": "holds files no build wrote (.git/",
        "file": "is a file, not a build folder",
        "project": "holds files no build wrote (",
        "symlink": "is a symbolic link",
    }[kind]
    assert result.stderr.startswith(
        f"sahelwire: build refused: the output folder {target} {why}"
    ), result.stderr
    assert result.stderr.endswith("; nothing was changed\n") and result.stdout == ""
    assert (_tree(root), _tree(other)) == before
    assert target.is_symlink() == (kind == "symlink")
    assert not (root / ".sahelwire" / "tmp").exists()  # the build did not start its work
    assert not list(tmp_path.glob(".*.staging.*")) and not list(root.glob(".*.staging.*"))


def test_a_build_folder_and_an_empty_one_are_replaced(built: Path, tmp_path: Path) -> None:
    """What may be replaced: a folder a build made (every file listed in its
    checksums.sha256, a corrupted one too) and an empty folder."""
    root, dist = built, built / "dist"
    again = tmp_path / "again"
    shutil.copytree(dist, again)
    (again / "data" / "documents" / "train-00000-of-00001.parquet").write_bytes(b"broken")
    empty = tmp_path / "empty"
    empty.mkdir()
    for target in (again, empty):
        result = run_cli(root, "build", "--out", str(target))
        assert result.returncode == 0, result.stdout + result.stderr
        assert _tree(target) == _tree(dist)
    (again / "notes.txt").write_text("mine\n")  # then it holds a file no build wrote
    result = run_cli(root, "build", "--out", str(again))
    assert result.returncode == 2 and "(notes.txt)" in result.stderr, result.stderr


def test_the_version_line_says_when_the_data_are_not_that_release(
    built: Path, tmp_path: Path
) -> None:
    """A build of changes made after release v0.2.0 carried the card line "Data version
    0.2.0" (a researcher's walkthrough): it now says which data files differ from the
    release's manifest. The committed inputs build release v0.2.0's data files."""
    from sahelwire.release.card.metadata import released_files, version_section

    released = released_files(ROOT, ProjectPaths(ROOT).release_manifest("0.2.0"), "0.2.0")
    assert released is not None
    card = (built / "dist" / "README.md").read_text()  # a copy without releases/: plain
    assert "<!-- sahelwire:begin version -->\nData version **0.2.0**.\n<!--" in card
    data = {n: (0, d) for n, d in released.items() if n.startswith("data/")}
    sums = (built / "dist" / "checksums.sha256").read_text().splitlines()
    ours = {n: d for d, _, n in (line.partition("  ") for line in sums) if n.startswith("data/")}
    assert ours == {n: d for n, (_, d) in data.items()}  # the committed inputs: v0.2.0's data
    assert version_section("0.2.0", released, data) == "Data version **0.2.0**.\n"
    assert version_section("0.3.0", None, {}) == "Data version **0.3.0**.\n"
    assert released_files(tmp_path, tmp_path / "v0.3.0.json", "0.3.0") is None  # not released
    name = "data/mentions/train-00000-of-00001.parquet"
    line = version_section("0.2.0", released, {**data, name: (1, "0" * 64)})
    assert line.startswith(
        f"Data version **0.2.0**, with changes not released: 1 of {len(data)} data files "
        "differ from release v0.2.0's (`releases/v0.2.0.json`), so this build is not that "
        "release. Cite a release (the Hub's tag v0.2.0, or the folder `sahelwire build "
        "--release v0.2.0` makes)"
    ), line
    more = {**data, "data/new/full-00000-of-00001.parquet": (1, "1" * 64)}
    assert f"1 of {len(data) + 1} data files" in version_section("0.2.0", released, more)
    card_only = version_section("0.2.0", released, data, card_differs=True)
    assert "the data files are release v0.2.0's, but this card and the metadata differ" in (
        card_only
    )


def test_a_build_says_it_is_not_the_release_its_version_names(tmp_path: Path) -> None:
    """Through the build: with a manifest listing exactly what it builds, the line is plain
    (the build is the release); with the release's card different, or a data file, it says
    so, and only that line changes."""
    root = copy_project(tmp_path / "project")
    assert run_cli(root, "build").returncode == 0
    version = Settings.load(ProjectPaths(root)).data_version
    sums = (root / "dist" / "checksums.sha256").read_text().splitlines()
    files = {n: {"bytes": 0, "sha256": d} for d, _, n in (x.partition("  ") for x in sums)}
    manifest = ProjectPaths(root).release_manifest(version)
    manifest.parent.mkdir(exist_ok=True)
    plain = (root / "dist" / "README.md").read_text()

    def build_with(changed: str | None) -> str:
        listed = {**files}
        if changed is not None:
            listed[changed] = {"bytes": 0, "sha256": "0" * 64}
        # content.articles: each article's split, which the build keeps (none: no pins).
        manifest.write_text(
            json.dumps(
                {
                    "version": version,
                    "tag": f"v{version}",
                    "files": listed,
                    "content": {"articles": {}},
                }
            )
        )
        result = run_cli(root, "build")
        assert result.returncode == 0, result.stdout + result.stderr
        return (root / "dist" / "README.md").read_text()

    assert build_with(None) == plain  # this build is that release
    card = build_with("README.md")
    assert f"Data version **{version}**, with changes not released: the data files are" in card
    lines = set(card.splitlines()) ^ set(plain.splitlines())
    assert len(lines) == 2, lines  # the version line, and nothing else
    data = build_with("data/documents/train-00000-of-00001.parquet")
    assert "with changes not released: 1 of " in data
