"""Exports pulled before repository identities: `sahelwire labelstudio migrate`, once, losslessly.

The legacy fixture is the hand-trimmed two-annotator export as it was committed before issue
12 (``completed_by`` server user ids 2 and 3 resolved through annotators.json, predictions,
a draft, request-time ``created_ago``). Its migrated form is the fixture every parser test
reads (tests/fixtures/exports/), whose assertions on ids, annotators, regions, relations and
published configs were written against the legacy file and still hold.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers import ROOT, copy_project, run_cli, snapshot

LEGACY = ROOT / "tests" / "fixtures" / "legacy_exports"
MIGRATED = ROOT / "tests" / "fixtures" / "exports"
A001 = "001_a9cbf47f8b5096a3"


def legacy_project(tmp_path: Path) -> Path:
    root = copy_project(tmp_path / "project")
    exports = root / "annotations" / "exports"
    for old in exports.glob("*.json"):
        old.unlink()
    shutil.rmtree(
        root / "annotations" / "decisions", ignore_errors=True
    )  # they decide the removed exports
    shutil.copy2(LEGACY / f"{A001}.json", exports / f"{A001}.json")
    shutil.copy2(LEGACY / "annotators.json", root / "annotations" / "annotators.json")
    return root


def test_migrate_converts_legacy_exports_once_keeping_ids_annotators_and_content(
    tmp_path: Path,
) -> None:
    root = legacy_project(tmp_path)
    # Server user ids are refused by the parser, with the way out.
    refused = run_cli(root, "validate")
    assert refused.returncode == 1
    assert "is a Label Studio user id" in refused.stdout + refused.stderr
    assert "sahelwire labelstudio migrate" in refused.stdout + refused.stderr

    migrated = run_cli(root, "labelstudio", "migrate")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert "1 export file(s) converted, 0 already in repository form" in migrated.stdout
    exports = root / "annotations" / "exports"
    assert (exports / f"{A001}.json").read_bytes() == (MIGRATED / f"{A001}.json").read_bytes()
    annotators = root / "annotations" / "annotators.json"
    assert annotators.read_bytes() == (MIGRATED / "annotators.json").read_bytes()
    legacy = json.loads((LEGACY / f"{A001}.json").read_text())
    new = json.loads((exports / f"{A001}.json").read_text())
    names = json.loads((LEGACY / "annotators.json").read_text())
    for old, ann in zip(legacy["annotations"], new["annotations"], strict=True):
        assert ann["completed_by"] == {"email": names[str(old["completed_by"])]["email"]}
        for key in ("id", "unique_id", "result", "was_cancelled", "created_at", "updated_at"):
            assert ann[key] == old[key], key
    assert set(new) == {"id", "data", "annotations", "predictions"} and new["id"] == legacy["id"]
    # predictions kept by content (their server ids become repository ids), server keys gone
    assert [(p["id"], p["model_version"], p["score"], p["result"]) for p in new["predictions"]] == [
        (p["id"], p["model_version"], p["score"], p["result"]) for p in legacy["predictions"]
    ]
    validated = run_cli(root, "validate")
    assert validated.returncode == 0, validated.stdout + validated.stderr

    before = snapshot(root / "annotations")
    again = run_cli(root, "labelstudio", "migrate")
    assert again.returncode == 0 and "0 export file(s) converted, 1 already" in again.stdout
    assert "wrote" not in again.stdout and snapshot(root / "annotations") == before


def test_migrate_refuses_an_annotator_it_cannot_establish_and_writes_nothing(
    tmp_path: Path,
) -> None:
    root = legacy_project(tmp_path)
    path = root / "annotations" / "exports" / f"{A001}.json"
    task = json.loads(path.read_text())
    task["annotations"][1]["completed_by"] = 9  # a user id the old directory never named
    path.write_text(json.dumps(task, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    before = snapshot(root / "annotations")
    result = run_cli(root, "labelstudio", "migrate")
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "migration refused, nothing written" in out
    assert f"annotations/exports/{A001}.json annotation 102" in out and "completed_by 9" in out
    assert "Traceback" not in out
    assert snapshot(root / "annotations") == before


def test_a_repeated_annotation_uuid_is_refused_by_validate_pull_and_restore(tmp_path: Path) -> None:
    """Two committed annotations claiming one UUID: a server annotation would match both."""
    import pytest

    from sahelwire.io.paths import ProjectPaths
    from sahelwire.labelstudio.identity import IdentityError, load_repository, serialize

    root = copy_project(tmp_path / "project")
    exports = root / "annotations" / "exports"
    first = json.loads((exports / "000_68e681b97d6ec23c.json").read_text())
    path = exports / f"{A001}.json"
    task = json.loads(path.read_text())
    task["annotations"][0]["unique_id"] = first["annotations"][0]["unique_id"]
    path.write_bytes(serialize(task))
    result = run_cli(root, "validate")
    assert result.returncode == 1
    assert "unique_id is a UUID no other annotation has" in result.stdout + result.stderr
    with pytest.raises(IdentityError, match=f"{A001}.json: annotation 2 has the unique_id"):
        load_repository(ProjectPaths(root))  # what pull, push and restore read first


def test_pull_push_and_restore_refuse_an_annotator_list_validate_refuses(tmp_path: Path) -> None:
    """One reader of annotations/annotators.json: the repository index (what pull, push and
    restore read first) took an entry validate refuses as a known annotator."""
    import pytest

    from sahelwire.io.paths import ProjectPaths
    from sahelwire.labelstudio.identity import IdentityError, load_repository

    root = copy_project(tmp_path / "project")
    known = root / "annotations" / "annotators.json"
    data = json.loads(known.read_text(encoding="utf-8"))
    first = sorted(data)[0]
    data[first] = {"email": first, "role": "admin"}
    known.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IdentityError, match=f'record {first}: rule each annotator is "<e-mail>"'):
        load_repository(ProjectPaths(root))
    known.unlink()
    known.mkdir()
    with pytest.raises(IdentityError, match=r"annotators\.json: rule file is readable: Is a dir"):
        load_repository(ProjectPaths(root))
