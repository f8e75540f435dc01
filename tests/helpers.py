"""Shared test helpers: temporary project copies and running the real CLI."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow.parquet as pq
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sahelwire.annotations.tables import source_shapes
from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.schema.problems import Problem
from sahelwire.schema.table_specs import load_table_specs
from sahelwire.schema.taxonomy import load_taxonomy

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

ROOT = Path(__file__).resolve().parent.parent
SAHELWIRE = Path(sys.executable).parent / "sahelwire"


def copy_project(dest: Path, *, annotations: bool = True) -> Path:
    """A throwaway copy of the committed project (no dist/, no local state)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", "DATASET_CARD.md"):
        shutil.copy2(ROOT / name, dest / name)
    for folder in ("schemas", "dataset") + (("annotations",) if annotations else ()):
        if (ROOT / folder).exists():
            shutil.copytree(ROOT / folder, dest / folder)
    return dest


def environ(overrides: Mapping[str, str | None] | None, **base: str) -> dict[str, str]:
    """This process's environment plus ``base``, then ``overrides`` (None removes a variable)."""
    full = {**os.environ, **base}
    for key, value in (overrides or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return full


def run_cli(
    root: Path,
    *args: str,
    timeout: float = 300,
    env: Mapping[str, str | None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``sahelwire ARGS`` as a user would, in ``root``.

    ``env`` overrides this process's environment: a value of None removes the variable (a
    user who never set it), anything else sets it.
    """
    full = environ(env, SAHELWIRE_ROOT=str(root))
    return subprocess.run(
        [str(SAHELWIRE), *args], cwd=root, env=full, capture_output=True, text=True, timeout=timeout
    )


def refused_alike(
    root: Path, out: Path, said: str, *, code: int = 1, timeout: float = 300
) -> list[str]:
    """``validate`` and ``build --out OUT`` both refuse the project in ``root`` with exit
    ``code``, saying ``said``, with no traceback, and the build writes nothing; their outputs
    (stdout + stderr, validate's first) for further checks."""
    outputs = []
    for command in (["validate", "--no-dist"], ["build", "--out", str(out)]):
        done = run_cli(root, *command, timeout=timeout)
        output = done.stdout + done.stderr
        assert done.returncode == code and "Traceback" not in output, output
        assert said in output, output
        outputs.append(output)
    assert not out.exists()
    return outputs


def run_python(
    code: str,
    *args: str,
    env: Mapping[str, str | None] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet with this interpreter in a fresh process, ``env`` as in run_cli.

    For client code whose settings are read once at import (huggingface_hub and datasets
    read HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE then): each call gets its own.
    """
    full = environ(env)
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def drop_entity_region(export: Path) -> str:
    """Remove one entity mention that no relation points to from every annotation of the
    task (as a re-pull after all annotators deleted it would): the gold loses it. Its label."""
    task = json.loads(export.read_text(encoding="utf-8"))

    def where(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["value"]["start"], r["value"]["end"], r["value"]["labels"][0])

    linked: set[tuple[Any, ...]] = set()
    for ann in task["annotations"]:
        ids = {
            r.get(k)
            for r in ann["result"]
            if r.get("type") == "relation"
            for k in ("from_id", "to_id")
        }
        linked |= {
            where(r) for r in ann["result"] if r.get("from_name") == "entities" and r["id"] in ids
        }
    latest = task["annotations"][-1]["result"]
    victim = next(
        where(r) for r in latest if r.get("from_name") == "entities" and where(r) not in linked
    )
    for ann in task["annotations"]:
        gone = {
            r["id"]
            for r in ann["result"]
            if r.get("from_name") == "entities" and where(r) == victim
        }
        ann["result"] = [r for r in ann["result"] if r.get("id") not in gone]
    export.write_text(json.dumps(task, ensure_ascii=False, indent=2), encoding="utf-8")
    return str(victim[2])


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes, to prove nothing changed."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def built_copy(dest: Path) -> tuple[ProjectPaths, Settings, dict[str, bytes]]:
    """A copy of the project in ``dest`` built once: its ProjectPaths, Settings and the
    snapshot of its dist/ (what a refused build must leave as it was)."""
    from sahelwire.release.build import build

    paths = ProjectPaths(copy_project(dest))
    settings = Settings.load(paths)
    build(paths, settings)
    return paths, settings, snapshot(paths.dist_dir)


# One shape for region rows: the export parser's.
# The committed project's shapes, from schemas/tables.yaml like the package's own.
SOURCE_SHAPES = source_shapes(load_table_specs(ROOT / "schemas" / "tables.yaml"))
REGION_SCHEMA = SOURCE_SHAPES["regions"]


def region(
    annotation_id: int,
    article_id: str,
    text: str,
    needle: str,
    layer: str,
    label: str,
    region_id: str,
    annotator: str = "a@x",
    occurrence: int = 0,
    **attrs: object,
) -> dict[str, object]:
    """A region row for ``needle`` (its ``occurrence``-th appearance) in ``text``."""
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(needle, start + 1)
    row = dict.fromkeys(REGION_SCHEMA)
    row.update(
        annotation_id=annotation_id,
        article_id=article_id,
        annotator=annotator,
        region_id=region_id,
        layer=layer,
        label=label,
        start=start,
        end=start + len(needle),
        text=needle,
        source_file="t.json",
    )
    row.update(attrs)
    return row


def regions_frame(rows: list[dict[str, object]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=REGION_SCHEMA)


def unreleased_repo(dest: Path) -> Path:
    """A git repository of the project as it was before its first release.

    The committed project has releases/ and CHANGELOG entries; release tests cut v0.1.0
    themselves, so they start from the schemas, data and annotations with an empty
    CHANGELOG (its introduction only) and no releases/.
    """
    from sahelwire.versions.changelog import INTRO

    root = copy_project(dest)
    (root / "CHANGELOG.md").write_text(INTRO, encoding="utf-8")
    shutil.copy2(ROOT / ".gitignore", root / ".gitignore")
    git = ["git", "-C", str(root)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    for key, value in [
        ("user.name", "SahelWire Test"),
        ("user.email", "test@sahelwire.invalid"),
        ("commit.gpgsign", "false"),
        ("tag.gpgsign", "false"),
    ]:
        subprocess.run([*git, "config", key, value], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "project"], check=True)
    return root


# Debian's Chromium, as bootstrap installs it, and the flags every browser test launches it
# with (headless in a container, no network beyond the local server).
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def login(page: Any, server: Any) -> None:
    """Sign the server's admin in through the login form, as a person does."""
    page.goto(f"{server.url}/user/login/")
    page.fill("input[name=email]", server.admin_email)
    page.fill("input[name=password]", server.admin_password)
    page.click("button[type=submit], input[type=submit]")
    page.wait_for_load_state("networkidle")


# The screen box of ``word`` inside ``phrase`` in the article: the text nodes of each text
# block are joined first, because regions split them, and the phrase decides which block
# (the review screen has another text block above the article). None if not shown.
TEXT_BOX_JS = """([phrase, word]) => {
  for (const root of document.querySelectorAll('.lsf-htx-richtext')) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const nodes = []; let all = ''; let n;
    while ((n = walker.nextNode())) { nodes.push([n, all.length]); all += n.data; }
    const i = all.indexOf(phrase);
    if (i < 0) continue;
    const s = i + phrase.indexOf(word), e = s + word.length;
    const at = (k) => { for (const [node, off] of nodes)
        if (k >= off && k <= off + node.data.length) return [node, k - off]; };
    const r = document.createRange();
    r.setStart(...at(s)); r.setEnd(...at(e));
    const b = r.getBoundingClientRect();
    return {x: b.x, y: b.y, w: b.width, h: b.height};
  }
  return null;
}"""


def built_dist(folder: Path) -> Path:
    """A copy of the project built by ``sahelwire build`` in ``folder``; its dist/."""
    root = copy_project(folder)
    result = run_cli(root, "build")
    assert result.returncode == 0, result.stderr
    return root / "dist"


def parquet_rows(dist: Path, config: str) -> list[dict[str, Any]]:
    """Every row of a published config, all splits, in file-name order."""
    out: list[dict[str, Any]] = []
    for path in sorted((dist / "data" / config).glob("*.parquet")):
        out += pq.read_table(path).to_pylist()
    return out


def split_rows(dist: Path, config: str) -> dict[str, list[dict[str, Any]]]:
    """A published config's rows by split (the file name's prefix)."""
    return {
        p.name.split("-")[0]: pq.read_table(p).to_pylist()
        for p in sorted((dist / "data" / config).glob("*.parquet"))
    }


# The build's pandera call as first found: each validated_rows counter wraps it, not an
# earlier counter of the same test.
_VALIDATE_PUBLISHED: dict[str, Any] = {}


def validated_rows(monkeypatch: Any, refuse: str | None = None) -> dict[str, int]:
    """Rows of each config the build hands to pandera from now on, counted as it runs;
    ``refuse``: a config whose every batch then gets a problem (a refused build)."""
    from sahelwire.release import build as build_module  # the build's imports: when used

    real = _VALIDATE_PUBLISHED.setdefault("real", build_module.validate_published)
    seen: dict[str, int] = {}

    def counted(df: Any, table: Any, *args: Any, **kwargs: Any) -> list[Problem]:
        seen[table.name] = seen.get(table.name, 0) + df.height
        problems: list[Problem] = real(df, table, *args, **kwargs)
        if table.name == refuse and df.height:
            problems.append(Problem(kwargs["file"], None, None, "test", message="refused"))
        return problems

    monkeypatch.setattr(build_module, "validate_published", counted)
    return seen


def record_made(monkeypatch: Any, cls: Any) -> list[Any]:
    """Every object ``cls.for_project`` returns from now on (a memo's statistics are read
    from the instance a build made): the classmethod is wrapped for the test."""
    made: list[Any] = []
    original = cls.for_project.__func__

    def recording(owner: Any, *args: Any) -> Any:
        obj = original(owner, *args)
        if obj is not None:
            made.append(obj)
        return obj

    monkeypatch.setattr(cls, "for_project", classmethod(recording))
    return made


def change_one_export(paths: ProjectPaths) -> None:
    """Give every annotation of the first export another stance (so its gold changes)."""
    path = sorted(paths.exports_dir.glob("*.json"))[0]
    task = json.loads(path.read_text(encoding="utf-8"))
    taxonomy = load_taxonomy(paths.taxonomy_file)
    names = taxonomy.class_names("document_labels.stance_us_presence")
    changed = 0
    for annotation in task["annotations"]:
        for result in annotation["result"]:
            if result.get("from_name") == "stance_us_presence":
                old = result["value"]["choices"][0]
                result["value"]["choices"] = [next(n for n in names if n != old)]
                changed += 1
    assert changed
    path.write_text(json.dumps(task, ensure_ascii=False, indent=2, sort_keys=True) + "\n")


# The Label Studio SDK types its pagers ``SyncPagerExt[T]`` with ``T`` bound to nothing, so
# mypy cannot tell what iterating one gives; the tests read the items as the server sent them.


def ls_projects(client: LabelStudio) -> Iterable[Any]:
    """``client.projects.list()``, the pager as it is (pages fetched as iterated)."""
    projects: Iterable[Any] = client.projects.list()
    return projects


def ls_tasks(client: LabelStudio, **filters: Any) -> Iterable[Any]:
    """``client.tasks.list(**filters)``, the pager as it is (pages fetched as iterated)."""
    tasks: Iterable[Any] = client.tasks.list(**filters)
    return tasks


def exact_pins(path: Path) -> dict[str, str]:
    """A pip constraints file of `name==version` lines, by canonical name (comments skipped)."""
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        package, sep, version = line.partition("==")
        assert sep and version and " " not in line, f"{path.name}: not an exact pin: {line!r}"
        assert canonicalize_name(package) not in out, f"{path.name}: pinned twice: {package}"
        out[canonicalize_name(package)] = version
    return out


def unpinned(requirements: Iterable[str], pinned: Mapping[str, str]) -> list[str]:
    """Each requirement that has no pin in ``pinned`` or whose pin it does not allow."""
    wrong = []
    for text in requirements:
        requirement = Requirement(text)
        version = pinned.get(canonicalize_name(requirement.name))
        if version is None or not requirement.specifier.contains(version, prereleases=True):
            wrong.append(f"{text} (pinned: {version})")
    return wrong
