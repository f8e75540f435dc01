"""Reading the project's committed text files (YAML, JSON Lines) so that a file that cannot be
read (missing, a folder in its place, no permission), is not UTF-8 or is not YAML becomes a
ValueError naming the file, never a bare OS or decoder traceback: ``validate`` and ``build``
then report them alike (the CLI's error for a ValueError), and a caller catches one type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def read_utf8(path: Path) -> str:
    """The file's text; ValueError naming it when it cannot be read or is not UTF-8."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 (byte {exc.start})") from None
    except OSError as exc:  # missing, a folder in its place, no permission
        raise ValueError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def read_yaml(path: Path) -> Any:
    """The file's YAML value (None for an empty file); ValueError naming it when it cannot be
    read, is not UTF-8 or is not YAML."""
    text = read_utf8(path)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not YAML ({exc})") from None


def read_yaml_mapping(path: Path) -> dict[str, Any]:
    """:func:`read_yaml` of a file that must hold a mapping ({} when it is empty)."""
    data = read_yaml(path)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: must be a YAML mapping, not a {type(data).__name__}")
    return data
