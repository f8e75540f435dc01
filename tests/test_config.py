"""``[tool.sahelwire]`` (sahelwire.io.config; here, not in tests/io/, which would shadow the
stdlib io): annotators_per_task is validated with a clear error (exit 2)."""

from __future__ import annotations

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
