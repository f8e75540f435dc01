"""io.text_files: every way a committed text file can fail to be read is one ValueError naming
the file, so that its callers (the card, worksheets, review sheets, decisions files, the
configuration) catch one type and none of them lets an OSError through as a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from sahelwire.io.text_files import read_utf8, read_yaml, read_yaml_mapping


def _damage(path: Path, damage: str) -> None:
    if damage == "a folder":
        path.mkdir()
    elif damage == "not UTF-8":
        path.write_bytes(b"a: 1\n\xff")
    elif damage == "not YAML":
        path.write_text("a: [\n", encoding="utf-8")
    # "missing": nothing written


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        ("missing", r"cannot be read \(No such file or directory\)"),
        ("a folder", r"cannot be read \(Is a directory\)"),
        ("not UTF-8", r"not UTF-8 \(byte 5\)"),
    ],
)
def test_read_utf8_names_the_file_for_every_failure(tmp_path: Path, damage: str, said: str) -> None:
    path = tmp_path / "file.yaml"
    _damage(path, damage)
    for reader in (read_utf8, read_yaml, read_yaml_mapping):
        with pytest.raises(ValueError, match=f"^{path}: {said}$"):
            reader(path)


def test_read_yaml_names_yaml_that_is_not_yaml_or_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "file.yaml"
    _damage(path, "not YAML")
    with pytest.raises(ValueError, match=f"^{path}: not YAML"):
        read_yaml(path)
    path.write_text("- a\n", encoding="utf-8")
    assert read_yaml(path) == ["a"]
    with pytest.raises(ValueError, match=f"^{path}: must be a YAML mapping, not a list$"):
        read_yaml_mapping(path)
    path.write_text("", encoding="utf-8")
    assert read_yaml(path) is None and read_yaml_mapping(path) == {}
