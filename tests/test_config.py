"""``[tool.sahelwire]`` (sahelwire.io.config; here, not in tests/io/, which would shadow the
stdlib io): annotators_per_task is validated with a clear error (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import ROOT, copy_project, run_cli
from sahelwire.io.config import ConfigError, Settings

LINE = "annotators_per_task = 2"


def _pyproject(tmp_path: Path, line: str | None) -> Path:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert LINE in text
    path = tmp_path / "pyproject.toml"
    path.write_text(text.replace(LINE, line or ""), encoding="utf-8")
    return path


def test_the_repository_asks_for_two_annotators_per_task() -> None:
    assert Settings.from_pyproject(ROOT / "pyproject.toml").annotators_per_task == 2


@pytest.mark.parametrize("value", ["1", "3"])
def test_a_whole_number_of_at_least_one_is_accepted(tmp_path: Path, value: str) -> None:
    path = _pyproject(tmp_path, f"annotators_per_task = {value}")
    assert Settings.from_pyproject(path).annotators_per_task == int(value)


@pytest.mark.parametrize(
    ("value", "shown"),
    [("0", "0"), ("-1", "-1"), ("2.5", "2.5"), ('"2"', "'2'"), ("true", "True")],
)
def test_a_bad_value_is_refused_naming_file_key_rule_and_value(
    tmp_path: Path, value: str, shown: str
) -> None:
    path = _pyproject(tmp_path, f"annotators_per_task = {value}")
    with pytest.raises(ConfigError) as err:
        Settings.from_pyproject(path)
    message = str(err.value)
    assert str(path) in message
    assert "annotators_per_task must be a whole number >= 1" in message
    assert message.endswith(f"got {shown}")


def test_a_missing_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lacks 'annotators_per_task'"):
        Settings.from_pyproject(_pyproject(tmp_path, None))


def test_labelstudio_commands_refuse_a_bad_value_before_any_server_call(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "project")
    pyproject = root / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace(LINE, "annotators_per_task = 0"),
        encoding="utf-8",
    )
    # An unreachable server: the command must stop at the settings, not at the connection.
    env = {"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "x" * 40}
    for command in (("labelstudio", "push"), ("labelstudio", "invite")):
        result = run_cli(root, *command, env=env)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "annotators_per_task must be a whole number >= 1" in result.stderr
        assert "got 0" in result.stderr
        assert "Traceback" not in result.stderr


# Every key of [tool.sahelwire], each value checked as written (row 156): the line as the
# repository has it, and values that int()/float()/str() used to coerce or let through.
KEY_LINES = {
    "data_version": 'data_version = "0.2.0"',
    "hub_repo_id": 'hub_repo_id = "sahelwire/sahelwire-us-niger"',
    "split_seed": "split_seed = 20240316",
    "split_ratios": "split_ratios = { train = 0.6, validation = 0.2, test = 0.2 }",
    "label_studio_url": 'label_studio_url = "http://127.0.0.1:8089"',
    "label_studio_project_title": 'label_studio_project_title = "SahelWire US-Niger v1"',
    "max_article_bytes": "max_article_bytes = 1000000",
    "build_engine": 'build_engine = "duckdb"',
}
BAD_VALUES = [
    ("split_seed", "true", "whole number >= 0", "True"),
    ("split_seed", "20240316.9", "whole number >= 0", "20240316.9"),
    ("split_seed", '"20240316"', "whole number >= 0", "'20240316'"),
    ("split_seed", '"abc"', "whole number >= 0", "'abc'"),
    ("split_seed", "-1", "whole number >= 0", "-1"),
    ("max_article_bytes", "-5", "whole number >= 1", "-5"),
    ("max_article_bytes", "0", "whole number >= 1", "0"),
    ("max_article_bytes", "1e6", "whole number >= 1", "1000000.0"),
    (
        "split_ratios",
        "{ train = 1.0, validation = -0.2, test = 0.2 }",
        "each a number from 0 to 1",
        "-0.2",
    ),
    ("split_ratios", "{ train = 0.6, validation = 0.2, test = nan }", "from 0 to 1", "nan"),
    ("split_ratios", "{ train = true, validation = 0, test = 0 }", "from 0 to 1", "True"),
    ("split_ratios", '{ train = "0.6", validation = 0.2, test = 0.2 }', "from 0 to 1", "'0.6'"),
    ("split_ratios", "{ train = 0.6, validation = 0.2 }", "a table of train", "0.2}"),
    ("split_ratios", "{ train = 0.5, validation = 0.2, test = 0.2 }", "summing to 1", "(sum 0.9)"),
    ("split_ratios", "0.6", "a table of train", "0.6"),
    ("data_version", '"banana"', "MAJOR.MINOR.PATCH", "'banana'"),
    ("data_version", '"1.2"', "MAJOR.MINOR.PATCH", "'1.2'"),
    ("data_version", '"01.2.0"', "without leading zeros", "'01.2.0'"),
    ("data_version", '"1.2.3\\n"', "MAJOR.MINOR.PATCH", "'1.2.3\\n'"),
    ("data_version", '"1.\u0662.3"', "MAJOR.MINOR.PATCH", "'1.\u0662.3'"),
    ("data_version", "1", "MAJOR.MINOR.PATCH", "1"),
    ("hub_repo_id", '"no-slash"', "ORG/NAME", "'no-slash'"),
    ("hub_repo_id", "42", "ORG/NAME", "42"),
    ("label_studio_url", '"127.0.0.1:8089"', "http:// or https:// URL", "'127.0.0.1:8089'"),
    ("label_studio_project_title", '""', "non-empty title", "''"),
    ("label_studio_project_title", "7", "non-empty title", "7"),
    ("build_engine", "true", "must be one of 'polars', 'duckdb'", "True"),
]


def _with(tmp_path: Path, key: str, value: str) -> Path:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert KEY_LINES[key] in text
    path = tmp_path / "pyproject.toml"
    path.write_text(text.replace(KEY_LINES[key], f"{key} = {value}"), encoding="utf-8")
    return path


@pytest.mark.parametrize(("key", "value", "rule", "shown"), BAD_VALUES)
def test_every_key_is_checked_as_written(
    tmp_path: Path, key: str, value: str, rule: str, shown: str
) -> None:
    path = _with(tmp_path, key, value)
    with pytest.raises(ConfigError) as err:
        Settings.from_pyproject(path)
    message = str(err.value)
    assert message.startswith(f"{path}: [tool.sahelwire] {key} must be"), message
    assert rule in message and message.endswith(shown), message


@pytest.mark.parametrize(
    ("key", "value", "attribute", "read"),
    [
        ("split_seed", "0", "split_seed", 0),
        ("split_ratios", "{ train = 1, validation = 0, test = 0 }", "split_ratios", None),
        ("data_version", '"10.0.12"', "data_version", "10.0.12"),
        ("label_studio_url", '"https://ls.example.org/base"', "label_studio_url", None),
    ],
)
def test_good_values_are_read(
    tmp_path: Path, key: str, value: str, attribute: str, read: object
) -> None:
    settings = Settings.from_pyproject(_with(tmp_path, key, value))
    if read is not None:
        assert getattr(settings, attribute) == read
    if key == "split_ratios":
        assert settings.split_ratios == {"train": 1.0, "validation": 0.0, "test": 0.0}


def test_an_unknown_key_is_named(tmp_path: Path) -> None:
    path = _pyproject(tmp_path, LINE + "\nagreement_min_article = 5")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) 'agreement_min_article'"):
        Settings.from_pyproject(path)


@pytest.mark.parametrize(
    ("key", "value", "command", "shown"),
    [
        ("max_article_bytes", "-5", ("ingest", "dataset/raw"), "got -5"),
        ("split_seed", "true", ("build",), "got True"),
        ("data_version", '"banana"', ("build",), "got 'banana'"),
        ("split_seed", '"abc"', ("validate",), "got 'abc'"),
    ],
)
def test_commands_refuse_a_bad_value_as_a_configuration_error(
    tmp_path: Path, key: str, value: str, command: tuple[str, ...], shown: str
) -> None:
    root = copy_project(tmp_path / "project")
    _with(root, key, value)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    result = run_cli(root, *command)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"pyproject.toml: [tool.sahelwire] {key} must be" in result.stderr
    assert shown in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing written


def test_validate_json_reports_a_configuration_error_on_stdout(tmp_path: Path) -> None:
    """`validate --json` printed nothing on stdout for an error of exit 2."""
    root = copy_project(tmp_path / "project")
    _with(root, "split_seed", "true")
    result = run_cli(root, "validate", "--json")
    assert result.returncode == 2, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert "[tool.sahelwire] split_seed must be a whole number >= 0" in report["error"]
    assert report["error"] in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SAHELWIRE_EXPORT_CACHE", "banana", "expected one of on, 1, yes, true (on) or off"),
        ("SAHELWIRE_ARTICLE_CACHE", "of", "expected one of on, 1, yes, true (on) or off"),
        ("SAHELWIRE_DUCKDB_MEMORY", "0", "is not a memory size such as 512MB or 4GB"),
    ],
)
def test_validate_and_build_refuse_the_same_environment_settings(
    tmp_path: Path, name: str, value: str, expected: str
) -> None:
    """An on/off switch with another value was silently taken as on; a memory size build
    refuses passed validate. Both commands now refuse each (exit 2), naming it."""
    root = copy_project(tmp_path / "project")
    for command in (("validate", "--no-dist"), ("build",)):
        result = run_cli(root, *command, env={name: value})
        assert result.returncode == 2, result.stdout + result.stderr
        assert f"{name}={value!r}" in result.stderr and expected in result.stderr
        assert "Traceback" not in result.stderr
    assert not (root / "dist").exists()
