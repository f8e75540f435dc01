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


class DuplicateKey(yaml.constructor.ConstructorError):
    """A key given twice in one YAML mapping."""

    def __init__(self, key: Any, line: int, first: int) -> None:
        super().__init__(problem=f"key {key!r} twice")
        self.key, self.line, self.first = key, line, first


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key repeated in one mapping.

    PyYAML keeps the last of two equal keys without a word: a second ``value:`` in a decision,
    ``articles:`` in a story cluster or ``wikidata:`` in the entity registry silently replaced
    the first and changed the published data (hostile-input walkthrough). Which one was meant
    is unknown, so the file is refused, as the export parser refuses a repeated JSON key.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # `<<: *base` then an explicit key is YAML's override, not a repeat
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                if key in seen:  # on the same line too: `{wikidata: Q30, wikidata: Q31}`
                    raise DuplicateKey(key, line, seen[key])
            except TypeError:
                continue  # an unhashable key: SafeLoader's own error names it below
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def loads_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses a repeated key (:class:`DuplicateKey`)."""
    return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader: no arbitrary objects


def yaml_line(path: Path, *keys: str | int) -> int | None:
    """The line (1-based) of the node at ``keys`` (mapping keys and sequence indexes, from
    the top) in the YAML file ``path``: for a mapping key, the key's own line. None when the
    file cannot be read or has no such node. For messages only: a reader that refuses an
    entry says where it is, without carrying positions through the parsed values."""
    try:
        node = yaml.compose(read_utf8(path), Loader=yaml.SafeLoader)
    except (ValueError, yaml.YAMLError):
        return None
    line = None
    for key in keys:
        if isinstance(node, yaml.MappingNode):
            pair = next(((k, v) for k, v in node.value if k.value == key), None)
            if pair is None:
                return None
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int):
            if not 0 <= key < len(node.value):
                return None
            node = node.value[key]
            line = node.start_mark.line + 1
        else:
            return None
    return line


class DuplicateJSONKey(ValueError):
    """A key given twice in one JSON object (``json.loads`` keeps the last without a word)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"the key {key!r} is given twice in one object")
        self.key = key


def unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` for ``json.loads`` of a committed JSON Lines row: a repeated key
    (a hand edit: which value was meant is unknown) raises :class:`DuplicateJSONKey`."""
    row = dict(pairs)
    if len(row) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateJSONKey(key)
            seen.add(key)
    return row


def read_yaml(path: Path) -> Any:
    """The file's YAML value (None for an empty file); ValueError naming it when it cannot be
    read, is not UTF-8, is not YAML or repeats a key in one mapping."""
    text = read_utf8(path)
    try:
        return loads_yaml(text)
    except DuplicateKey as exc:
        raise ValueError(
            f"{path}: line {exc.line}: the key {exc.key!r} is given twice in one mapping (first "
            f"on line {exc.first}); which value was meant is unknown: keep one"
        ) from None
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
