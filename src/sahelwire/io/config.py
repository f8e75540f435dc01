"""``[tool.sahelwire]`` from pyproject.toml, loaded once into a frozen dataclass."""

from __future__ import annotations

import importlib.util
import os
import re
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
# A release version: MAJOR.MINOR.PATCH, no leading zeros (SemVer; the tag is v<version>).
# ASCII digits only: `\d` would take other scripts' digits, which `int` reads but no tag has.
SEMVER = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
# A Hugging Face repository id, ORG/NAME (what `publish` and the card's links use).
_HUB_REPO = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")
_HUB_RULE = "a Hugging Face dataset id ORG/NAME of letters, digits, '.', '_' and '-'"
_URL = re.compile(r"https?://[^\s/?#]+(/[^\s]*)?")
_URL_RULE = "an http:// or https:// URL of the Label Studio server"
_TITLE = re.compile(r"[^\n\r]*\S[^\n\r]*")
_REQUIRED = (
    "data_version",
    "hub_repo_id",
    "split_seed",
    "split_ratios",
    "label_studio_url",
    "label_studio_project_title",
    "max_article_bytes",
    "annotators_per_task",
)
_KEYS = (*_REQUIRED, "agreement_min_articles", "build_engine")


class ConfigError(ValueError):
    """pyproject.toml's [tool.sahelwire] table is missing a key or has a bad value."""


class EnvironmentSettingError(Exception):
    """A ``SAHELWIRE_*`` environment variable holds a value this program cannot use: the
    command exits 2 naming it, rather than run with another value than the user asked for.
    Not a ValueError, so that no fallback meant for bad data swallows it."""

    def __init__(self, name: str, value: str, expected: str) -> None:
        super().__init__(f"{name}={value!r}: expected {expected} (unset it for the default)")


# The words an on/off SAHELWIRE_* switch takes (unset: on). Anything else is refused: a
# mistyped `SAHELWIRE_EXPORT_CACHE=of` (or `banana`) was silently taken as on.
_SWITCH_ON = ("on", "1", "yes", "true")
_SWITCH_OFF = ("off", "0", "no", "false")


def env_switch(name: str) -> bool:
    """An on/off environment switch, on when unset or empty; EnvironmentSettingError (exit 2)
    for a value that is neither."""
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    if value in ("", *_SWITCH_ON):
        return True
    if value in _SWITCH_OFF:
        return False
    raise EnvironmentSettingError(
        name, raw, f"one of {', '.join(_SWITCH_ON)} (on) or {', '.join(_SWITCH_OFF)} (off)"
    )


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
        tool = data.get("tool")
        table = tool.get("sahelwire") if isinstance(tool, dict) else None
        if table is None:
            raise ConfigError(f"{pyproject}: no [tool.sahelwire] table")
        if not isinstance(table, dict):
            raise ConfigError(f"{pyproject}: [tool.sahelwire] must be a table, got {table!r}")
        # Each value is checked as written, never coerced: TOML has types, and `true`,
        # `20240316.9` or `"20240316"` where a whole number belongs are mistakes (int()
        # took `true` as seed 1 and moved every split). Unknown keys are refused too: a
        # misspelt optional key would otherwise leave its default silently in force.
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise ConfigError(
                f"{pyproject}: [tool.sahelwire] has unknown key(s) {', '.join(map(repr, unknown))}"
                f" (known: {', '.join(_KEYS)})"
            )
        missing = [key for key in _REQUIRED if key not in table]
        if missing:
            raise ConfigError(f"{pyproject}: [tool.sahelwire] lacks {missing[0]!r}")
        return cls(
            data_version=_data_version(pyproject, table["data_version"]),
            hub_repo_id=_text(pyproject, "hub_repo_id", table["hub_repo_id"], _HUB_REPO, _HUB_RULE),
            split_seed=_whole_number(
                pyproject, "split_seed", table["split_seed"], 0, "the seed of the split order"
            ),
            split_ratios=_split_ratios(pyproject, table["split_ratios"]),
            label_studio_url=_text(
                pyproject, "label_studio_url", table["label_studio_url"], _URL, _URL_RULE
            ),
            label_studio_project_title=_text(
                pyproject,
                "label_studio_project_title",
                table["label_studio_project_title"],
                _TITLE,
                "a non-empty title on one line",
            ),
            max_article_bytes=_whole_number(
                pyproject,
                "max_article_bytes",
                table["max_article_bytes"],
                1,
                "the largest article file `ingest` accepts, in bytes",
            ),
            annotators_per_task=_whole_number(
                pyproject,
                "annotators_per_task",
                table["annotators_per_task"],
                1,
                "how many annotators the Label Studio queue gives each task",
            ),
            agreement_min_articles=_whole_number(
                pyproject,
                "agreement_min_articles",
                table.get("agreement_min_articles", AGREEMENT_MIN_ARTICLES),
                2,
                "doubly annotated articles below which `agreement` cautions",
            ),
            build_engine=_build_engine(pyproject, table.get("build_engine", "polars")),
        )


# name[extras]==version, the form pyproject pins with (nothing after the version).
_PIN = re.compile(r"(?P<name>[A-Za-z0-9._-]+)(\[[^\]]*\])?\s*==\s*(?P<version>[A-Za-z0-9.+!-]+)")


def exact_pins(pyproject: Path, names: tuple[str, ...]) -> dict[str, str]:
    """``name==version`` of each of ``names`` pinned exactly in ``[project].dependencies``
    (extras dropped), name -> version; a name pinned otherwise, or not listed, is left out.
    The card's install line takes them, so a researcher installs what built the release."""
    try:
        data = tomllib.loads(read_utf8(pyproject))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{pyproject}: not TOML ({exc})") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    project = data.get("project")
    listed = project.get("dependencies") if isinstance(project, dict) else None
    pins: dict[str, str] = {}
    for requirement in listed if isinstance(listed, list) else []:
        found = _PIN.fullmatch(str(requirement).strip())
        if found and found["name"] in names:
            pins[found["name"]] = found["version"]
    return {name: pins[name] for name in names if name in pins}


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


def _whole_number(pyproject: Path, key: str, value: object, minimum: int, why: str) -> int:
    """A whole number >= ``minimum`` as written (not a string, float or boolean: `2.5`,
    `"2"` and `true` are mistakes to report, not values to coerce)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"{pyproject}: [tool.sahelwire] {key} must be a whole number >= {minimum} "
            f"({why}), got {value!r}"
        )
    return value


def _text(pyproject: Path, key: str, value: object, pattern: re.Pattern[str], rule: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ConfigError(f"{pyproject}: [tool.sahelwire] {key} must be {rule}, got {value!r}")
    return value


def _data_version(pyproject: Path, value: object) -> str:
    # The build writes it into the dataset's info, where `datasets` refuses anything but
    # MAJOR.MINOR.PATCH when the dataset is loaded (datasets.utils.version): refused here,
    # before a build that would exit 0 and publish a dataset no one can load.
    return _text(
        pyproject,
        "data_version",
        value,
        SEMVER,
        "a version MAJOR.MINOR.PATCH of whole numbers without leading zeros (e.g. '1.2.0'; "
        "the tag is v<data_version>, and `datasets` loads no other form)",
    )


def _split_ratios(pyproject: Path, value: object) -> dict[str, float]:
    rule = (
        f"a table of {', '.join(SPLITS)}, each a number from 0 to 1, summing to 1 "
        "(e.g. { train = 0.6, validation = 0.2, test = 0.2 })"
    )
    prefix = f"{pyproject}: [tool.sahelwire] split_ratios must be {rule}, got"
    if not isinstance(value, dict) or set(value) != set(SPLITS):
        raise ConfigError(f"{prefix} {value!r}")
    ratios = {}
    for split in SPLITS:
        ratio = value[split]
        # `not 0 <= ratio <= 1` also refuses nan (TOML has nan and inf).
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
            raise ConfigError(f"{prefix} {split} = {ratio!r}")
        ratios[split] = float(ratio)
    if abs(sum(ratios.values()) - 1.0) > 1e-9:
        raise ConfigError(f"{prefix} {value!r} (sum {sum(ratios.values()):g})")
    return ratios
