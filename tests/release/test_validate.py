"""`sahelwire validate`: exit codes, a report naming file/record/field/rule/value, --json."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import copy_project, run_cli


def test_committed_project_is_valid(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    result = run_cli(root, "validate")
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip().splitlines()[-1].startswith("valid:")


def _break_manifest(root: Path) -> str:
    manifest = root / "dataset/raw/manifest.jsonl"
    rows = [json.loads(x) for x in manifest.read_text().splitlines()]
    rows[1]["language"] = "English"  # breaks the ISO 639-1 pattern
    rows[2]["n_chars"] = -3
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows[1]["id"]


def test_invalid_manifest_names_file_record_field_rule_value(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    bad_id = _break_manifest(root)
    result = run_cli(root, "validate")
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if "English" in x)
    assert "dataset/raw/manifest.jsonl" in line and bad_id in line and "field language" in line
    assert "rule str_matches" in line


def test_json_report(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    bad_id = _break_manifest(root)
    result = run_cli(root, "validate", "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    fields = {(p["record"], p["field"], p["value"]) for p in report["problems"]}
    assert (bad_id, "language", "English") in fields
    assert all(
        {"file", "record", "field", "rule", "value", "message"} <= set(p)
        for p in report["problems"]
    )


def test_orphan_text_and_missing_text_reported(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    texts = root / "dataset/raw/texts"
    (texts / "stray.txt").write_text("left by a killed ingest")
    victim = sorted(texts.glob("0*.txt"))[0]
    victim.unlink()
    result = run_cli(root, "validate")
    assert result.returncode == 1
    assert "stray" in result.stdout and "text listed in manifest" in result.stdout
    assert victim.stem in result.stdout and "text file exists" in result.stdout
    problems = json.loads(run_cli(root, "validate", "--json").stdout)["problems"]
    (missing,) = [p for p in problems if p["rule"] == "text file exists"]
    # The missing file by its path from the project root, exactly.
    assert (missing["record"], missing["value"]) == (
        victim.stem,
        f"dataset/raw/texts/{victim.name}",
    )


def test_usage_error_outside_a_project(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "validate")
    assert result.returncode == 2
    assert "pyproject.toml" in result.stderr


def test_dist_tampering_detected(tmp_path: Path) -> None:
    root = copy_project(tmp_path)
    assert run_cli(root, "build").returncode == 0
    victim = next((root / "dist/data").rglob("*.parquet"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    result = run_cli(root, "validate")
    assert result.returncode != 0
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (
        f"{victim.relative_to(root)}" in result.stdout
        and "sha256 matches checksums.sha256" in result.stdout
    )


def test_unsettled_conflicts_say_what_to_do_next(tmp_path: Path) -> None:
    """Without its decisions an article's conflicts are unsettled: validate names the
    decisions file where one goes and says how to settle them (a walkthrough: the list
    stopped there, naming a file nobody had touched)."""
    root = copy_project(tmp_path)
    (root / "annotations" / "decisions" / "001_a9cbf47f8b5096a3.yaml").unlink()
    result = run_cli(root, "validate")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "annotations/decisions/001_a9cbf47f8b5096a3.yaml" in result.stdout
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("next: ")]
    assert "conflict(s) between annotators have no decision yet" in line
    assert "`sahelwire adjudicate` lists them" in line
    assert "annotations/exports/" not in line  # no export is at fault


def test_a_file_in_place_of_dist_is_named_by_validate_and_build(tmp_path: Path) -> None:
    """validate said "checksums file exists" of it, and build replaced it, leaving
    .dist.old behind (then `release` found the tree unclean)."""
    root = copy_project(tmp_path)
    (root / "dist").write_text("not a build\n")
    checked = run_cli(root, "validate")
    assert checked.returncode == 1 and "error: dist: rule the build folder is a folder" in (
        checked.stdout
    ), checked.stdout
    built = run_cli(root, "build")
    assert built.returncode == 2 and "is a file, not a build folder" in built.stderr
    assert (root / "dist").read_text() == "not a build\n"
    assert not (root / ".dist.old").exists()
