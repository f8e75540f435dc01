"""Where things live in a SahelWire project checkout.

The package is installed once but operates on a project folder (like git does on a
work tree): the folder whose pyproject.toml has a ``[tool.sahelwire]`` table. No side
effects at import: nothing is created until a command asks for it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT_ENV = "SAHELWIRE_ROOT"
# A build folder's list of every file it holds (``<sha256>  <path>`` lines): written by the
# build, read by validate, verify and the check that a build replaces only a build folder.
CHECKSUMS = "checksums.sha256"
RELEASES_DIR = "releases"


class ProjectNotFound(RuntimeError):
    """Raised when no SahelWire project folder encloses the working directory."""


def _is_project_root(folder: Path) -> bool:
    pyproject = folder / "pyproject.toml"
    # Bytes: a pyproject.toml that is not UTF-8 is still this project's, and loading its
    # settings then says what is wrong with it (io.config), not a decoder traceback here.
    return pyproject.is_file() and b"[tool.sahelwire]" in pyproject.read_bytes()


def find_root(start: Path | None = None) -> Path:
    """Return the project root: $SAHELWIRE_ROOT, else the nearest enclosing project folder."""
    env = os.environ.get(ROOT_ENV)
    if env:
        root = Path(env).resolve()
        if not _is_project_root(root):
            raise ProjectNotFound(f"{ROOT_ENV}={env} has no pyproject.toml with [tool.sahelwire]")
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if _is_project_root(folder):
            return folder
    raise ProjectNotFound(
        f"no SahelWire project (pyproject.toml with [tool.sahelwire]) at or above {here}; "
        f"run inside a checkout or set {ROOT_ENV}"
    )


@dataclass(frozen=True)
class ProjectPaths:
    """Every path the pipeline reads or writes, derived from the project root."""

    root: Path

    @classmethod
    def discover(cls, start: Path | None = None) -> ProjectPaths:
        return cls(find_root(start))

    @property
    def pyproject(self) -> Path:
        return self.root / "pyproject.toml"

    # schemas/: the single source of truth
    @property
    def schemas_dir(self) -> Path:
        return self.root / "schemas"

    @property
    def taxonomy_file(self) -> Path:
        return self.schemas_dir / "taxonomy.yaml"

    @property
    def tables_file(self) -> Path:
        return self.schemas_dir / "tables.yaml"

    @property
    def entities_registry(self) -> Path:
        return self.schemas_dir / "entities.yaml"

    @property
    def events_registry(self) -> Path:
        return self.schemas_dir / "events.yaml"

    # dataset/: immutable raw texts and their manifest
    @property
    def dataset_dir(self) -> Path:
        return self.root / "dataset"

    @property
    def raw_dir(self) -> Path:
        return self.dataset_dir / "raw"

    @property
    def raw_texts_dir(self) -> Path:
        return self.raw_dir / "texts"

    @property
    def manifest_file(self) -> Path:
        return self.raw_dir / "manifest.jsonl"

    @property
    def story_clusters_file(self) -> Path:
        return self.dataset_dir / "story_clusters.yaml"

    def raw_text_path(self, article_id: str) -> Path:
        return self.raw_texts_dir / f"{article_id}.txt"

    # annotations/: the Label Studio side
    @property
    def annotations_dir(self) -> Path:
        return self.root / "annotations"

    @property
    def label_config_file(self) -> Path:
        return self.annotations_dir / "label_config.xml"

    @property
    def exports_dir(self) -> Path:
        """Raw Label Studio JSON, one file per task, as pulled (never hand-edited)."""
        return self.annotations_dir / "exports"

    @property
    def decisions_dir(self) -> Path:
        return self.annotations_dir / "decisions"

    # releases/: one manifest per released version (what sahelwire.versions writes)
    @property
    def releases_dir(self) -> Path:
        return self.root / RELEASES_DIR

    def release_manifest(self, version: str) -> Path:
        return self.releases_dir / f"v{version.removeprefix('v')}.json"

    # build output and local state (both git-ignored)
    @property
    def dist_dir(self) -> Path:
        return self.root / "dist"

    @property
    def state_dir(self) -> Path:
        """Local, git-ignored state: Label Studio venv and data, credentials, locks."""
        return self.root / ".sahelwire"

    @property
    def tmp_dir(self) -> Path:
        """Where runs make their scratch folders (``io.scratch``: a killed run's are removed
        by the next)."""
        return self.state_dir / "tmp"

    @property
    def card_template(self) -> Path:
        return self.root / "DATASET_CARD.md"
