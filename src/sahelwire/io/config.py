"""``[tool.sahelwire]`` from pyproject.toml, loaded once into a frozen dataclass."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sahelwire.io.paths import ProjectPaths

SPLITS = ("train", "validation", "test")


class ConfigError(ValueError):
    """pyproject.toml's [tool.sahelwire] table is missing a key or has a bad value."""


@dataclass(frozen=True)
class Settings:
    """Project settings; secrets never live here (they come from the environment)."""

    data_version: str
    hub_repo_id: str
    split_seed: int
    split_ratios: dict[str, float] = field(hash=False)
    label_studio_url: str
    label_studio_project_title: str
    max_article_bytes: int
    # How many annotators the Label Studio queue gives each task (push sets the project's
    # overlap from it: docs/annotation_workflow.md).
    annotators_per_task: int

    @classmethod
    def load(cls, paths: ProjectPaths) -> Settings:
        return cls.from_pyproject(paths.pyproject)

    @classmethod
    def from_pyproject(cls, pyproject: Path) -> Settings:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        table = data.get("tool", {}).get("sahelwire")
        if table is None:
            raise ConfigError(f"{pyproject}: no [tool.sahelwire] table")
        try:
            ratios = {str(k): float(v) for k, v in table["split_ratios"].items()}
            settings = cls(
                data_version=str(table["data_version"]),
                hub_repo_id=str(table["hub_repo_id"]),
                split_seed=int(table["split_seed"]),
                split_ratios=ratios,
                label_studio_url=str(table["label_studio_url"]),
                label_studio_project_title=str(table["label_studio_project_title"]),
                max_article_bytes=int(table["max_article_bytes"]),
                annotators_per_task=_annotators_per_task(pyproject, table["annotators_per_task"]),
            )
        except KeyError as exc:
            raise ConfigError(f"{pyproject}: [tool.sahelwire] lacks {exc.args[0]!r}") from exc
        if set(ratios) != set(SPLITS) or abs(sum(ratios.values()) - 1.0) > 1e-9:
            raise ConfigError(
                f"{pyproject}: split_ratios must give {', '.join(SPLITS)} summing to 1, got {ratios}"
            )
        return settings


def _annotators_per_task(pyproject: Path, value: object) -> int:
    """A whole number >= 1 as written (not a string, float or boolean: `2.5`, `"2"` and
    `true` are mistakes to report, not values to coerce)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{pyproject}: [tool.sahelwire] annotators_per_task must be a whole number >= 1 "
            f"(how many annotators the Label Studio queue gives each task), got {value!r}"
        )
    return value
