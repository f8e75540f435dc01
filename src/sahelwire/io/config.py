"""``[tool.sahelwire]`` from pyproject.toml, loaded once into a frozen dataclass."""

from __future__ import annotations

import importlib.util
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from sahelwire.io.paths import ProjectPaths
from sahelwire.io.text_files import read_utf8

SPLITS = ("train", "validation", "test")
# Below this many doubly annotated articles `sahelwire agreement` prints a caution. Why 20:
# with two annotators and N articles, one article's disagreement moves the observed
# disagreement of nominal alpha by 1/N, and alpha by at least as much (its expected
# disagreement is at most 1): under 20 articles, one article more or less moves alpha by
# more than 0.05, and a figure that fragile describes those articles, not the annotators.
# Override with `agreement_min_articles` in [tool.sahelwire].
AGREEMENT_MIN_ARTICLES = 20
# What assembles the annotations_raw config (docs/columnar.md): "polars" (the default,
# annotations.layers.raw_frame) or "duckdb" (release.columnar: one SQL text that Spark SQL
# also runs). Both give the same Parquet bytes; "duckdb" needs the `columnar` extra.
BUILD_ENGINES = ("polars", "duckdb")


class ConfigError(ValueError):
    """pyproject.toml's [tool.sahelwire] table is missing a key or has a bad value."""


class EnvironmentSettingError(Exception):
    """A ``SAHELWIRE_*`` environment variable holds a value this program cannot use: the
    command exits 2 naming it, rather than run with another value than the user asked for.
    Not a ValueError, so that no fallback meant for bad data swallows it."""

    def __init__(self, name: str, value: str, expected: str) -> None:
        super().__init__(f"{name}={value!r}: expected {expected} (unset it for the default)")


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
    agreement_min_articles: int = AGREEMENT_MIN_ARTICLES
    build_engine: str = "polars"

    @classmethod
    def load(cls, paths: ProjectPaths) -> Settings:
        return cls.from_pyproject(paths.pyproject)

    @classmethod
    def from_pyproject(cls, pyproject: Path) -> Settings:
        try:
            data = tomllib.loads(read_utf8(pyproject))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{pyproject}: not TOML ({exc})") from None
        except ValueError as exc:  # not UTF-8: named as the other configuration errors
            raise ConfigError(str(exc)) from None
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
                agreement_min_articles=int(
                    table.get("agreement_min_articles", AGREEMENT_MIN_ARTICLES)
                ),
                build_engine=_build_engine(pyproject, table.get("build_engine", "polars")),
            )
        except ConfigError:
            raise  # already names the file and the key
        except KeyError as exc:
            raise ConfigError(f"{pyproject}: [tool.sahelwire] lacks {exc.args[0]!r}") from exc
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{pyproject}: [tool.sahelwire]: {exc}") from None
        if settings.agreement_min_articles < 2:
            raise ConfigError(
                f"{pyproject}: agreement_min_articles must be at least 2, got "
                f"{settings.agreement_min_articles}"
            )
        if set(ratios) != set(SPLITS) or abs(sum(ratios.values()) - 1.0) > 1e-9:
            raise ConfigError(
                f"{pyproject}: split_ratios must give {', '.join(SPLITS)} summing to 1, got {ratios}"
            )
        return settings


def _build_engine(pyproject: Path, value: object) -> str:
    if value not in BUILD_ENGINES:
        raise ConfigError(
            f"{pyproject}: [tool.sahelwire] build_engine must be one of "
            f"{', '.join(map(repr, BUILD_ENGINES))}, got {value!r}"
        )
    # Refused here, before a build starts, rather than by an ImportError halfway through it.
    if value == "duckdb" and importlib.util.find_spec("duckdb") is None:
        raise ConfigError(
            f"{pyproject}: [tool.sahelwire] build_engine = 'duckdb' needs the duckdb package: "
            "pip install -e . (duckdb==2.0.1 is a dependency)"
        )
    return str(value)


def _annotators_per_task(pyproject: Path, value: object) -> int:
    """A whole number >= 1 as written (not a string, float or boolean: `2.5`, `"2"` and
    `true` are mistakes to report, not values to coerce)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(
            f"{pyproject}: [tool.sahelwire] annotators_per_task must be a whole number >= 1 "
            f"(how many annotators the Label Studio queue gives each task), got {value!r}"
        )
    return value
