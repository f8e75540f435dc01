"""Make a blind workspace for one annotator: what they may see, and nothing of anyone else's.

Usage: python scripts/blind_workspace.py EMAIL DEST
       python scripts/blind_workspace.py --manifest DEST   (re-list DEST, e.g. after the work)

An annotator who works from worksheets (an AI assistant, or a person who prefers text) gets a
folder holding only what guidelines v2 §8 ("Working blind") allows: the article texts, the
guidelines, the taxonomy and the registries, the pre-annotations every annotator starts from
(the gazetteer's predictions, as the queue shows them), and a copy of the code to check
worksheets with (`sahelwire labelstudio check-worksheets`). Left out: every export, every
other annotator's worksheet folder, decisions, the built dataset, releases, the card and
changelog (they describe the gold), the tests (their fixtures are annotations) and git history.
`DEST/MANIFEST.txt` lists every file given, with its sha256, so what the annotator could see
is on record.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
# Code and the single sources of truth; everything else of the repository stays out.
KEEP = ("pyproject.toml", "src", "schemas", "dataset/raw", "annotations/GUIDELINES.md",
        "annotations/label_config.xml", "scripts/bootstrap.py")  # fmt: skip


def _tracked(path: str) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--", path],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    return [p for p in out.stdout.split("\0") if p]


def _predictions(dest: Path) -> int:
    """The pre-annotations of each task as readable YAML (label, text, start, entity id)."""
    sys.path.insert(0, str(ROOT / "src"))
    from sahelwire.labelstudio.offsets import from_label_studio

    n = 0
    for export in sorted((ROOT / "annotations" / "exports").glob("*.json")):
        task = json.loads(export.read_text(encoding="utf-8"))
        text = task["data"]["text"]
        rows = []
        # Only the pre-annotator's latest prediction, the one a fresh push shows (a re-opened
        # release's gold, also a prediction, is an annotation result and is not given).
        gazetteer = [
            p
            for p in task.get("predictions") or []
            if str(p.get("model_version", "")).startswith("sahelwire-gazetteer")
        ]
        for pred in sorted(gazetteer, key=lambda p: int(p["id"]))[-1:]:
            ids = {}
            for r in pred["result"]:
                if r.get("type") in ("textarea", "choices") and r.get("from_name", "").startswith(
                    "entity_id"
                ):
                    v = r["value"].get("text") or r["value"].get("choices") or [None]
                    ids[r["id"]] = v[0]
            for r in pred["result"]:
                if r.get("type") != "labels":
                    continue
                s, e = from_label_studio(text, r["value"]["start"], r["value"]["end"])
                rows.append(
                    {"layer": r["from_name"], "label": r["value"]["labels"][0],
                     "text": text[s:e], "start": s, "entity_id": ids.get(r["id"])}
                )  # fmt: skip
        rows.sort(key=lambda r: r["start"])
        out = dest / "predictions" / f"{task['data']['article_id']}.yaml"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(yaml.safe_dump({"predictions": rows}, allow_unicode=True, sort_keys=False))
        n += 1
    return n


def write_manifest(dest: Path) -> int:
    lines = []
    for f in sorted(p for p in dest.rglob("*") if p.is_file() and p.name != "MANIFEST.txt"):
        if "__pycache__" in f.parts or f.suffix == ".pyc":
            continue
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        lines.append(f"{digest}  {f.relative_to(dest)}")
    (dest / "MANIFEST.txt").write_text("\n".join(lines) + "\n")
    return len(lines)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--manifest":
        if not Path(argv[1]).is_dir():
            print(f"{argv[1]}: not a folder", file=sys.stderr)
            return 2
        print(f"{write_manifest(Path(argv[1]).resolve())} files listed")
        return 0
    if len(argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    email, dest = argv[0], Path(argv[1]).resolve()
    if dest.exists() and any(dest.iterdir()):
        print(f"{dest}: exists and is not empty", file=sys.stderr)
        return 2
    project = dest / "project"
    for rel in (p for keep in KEEP for p in _tracked(keep)):
        target = project / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, target)
    handle = email.split("@", 1)[0]
    (project / "annotations" / "worksheets" / handle).mkdir(parents=True)
    (project / "annotations" / "annotators.json").write_text(json.dumps({email: {}}) + "\n")
    n = _predictions(project / "annotations")
    files = write_manifest(dest)
    print(f"blind workspace for {email}: {dest} ({files} files, predictions of {n} tasks)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
