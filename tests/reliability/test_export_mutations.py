"""Random damage to a committed export: refused with a named file, or published unchanged.

Hypothesis mutates the export of one committed article the ways a hand edit, a bad merge or
another tool would: a value replaced by one of another JSON type (null included), a key
written twice, a number literal Label Studio never writes (NaN, Infinity, an overflowing
float, integers beyond 64 bits or with thousands of digits), a lone surrogate in a string or
a key. Each mutated project goes through the real build (``render_release``: validation,
tables, Parquet, card, in memory) and must end one of two ways:

* refused (``BuildRefused``, which the CLI turns into exit 1) with a problem naming the
  mutated file, and a report that can be printed as UTF-8 JSON;
* accepted with every published file byte for byte the one of the unmutated build.

Anything else (another exception, i.e. a traceback, or a published change) fails. Mutations
are chosen so that an accepted one cannot legitimately change the data: a value is only ever
replaced by one of another type, never a valid value of the same type.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from helpers import copy_project
from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.build import BuildRefused, render_release

A001 = "001_a9cbf47f8b5096a3"
SOURCE = f"annotations/exports/{A001}.json"

Path_ = tuple[str | int, ...]


def _nodes(node: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _nodes(value, (*path, i))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"  # an int and a float of the same value are the same JSON number
    return type(value).__name__


def _get(node: Any, path: Path_) -> Any:
    for step in path:
        node = node[step]
    return node


@dataclass
class Edit:
    """A mutation: a new value at ``path``, or raw JSON text written there or before a key."""

    path: Path_
    value: Any = None
    literal: str | None = None  # raw JSON text replacing the value at ``path``
    duplicate: tuple[str, str] | None = None  # (key, raw JSON value) written before ``key``
    rename: tuple[str, str] | None = None  # (old key, new key) of the object at ``path``


def render(node: Any, edit: Edit, path: Path_ = ()) -> str:
    """``node`` as JSON text (ASCII, so lone surrogates become \\udXXX escapes) with ``edit``."""
    if edit.literal is not None and path == edit.path:
        return edit.literal
    if isinstance(node, dict):
        parts = []
        for key, value in node.items():
            shown = key
            if path == edit.path and edit.rename and key == edit.rename[0]:
                shown = edit.rename[1]
            if path == edit.path and edit.duplicate and key == edit.duplicate[0]:
                parts.append(f"{json.dumps(key)}: {edit.duplicate[1]}")
            parts.append(f"{json.dumps(shown)}: {render(value, edit, (*path, key))}")
        return "{" + ", ".join(parts) + "}"
    if isinstance(node, list):
        return "[" + ", ".join(render(v, edit, (*path, i)) for i, v in enumerate(node)) + "]"
    return json.dumps(node)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
NUMBER_LITERALS = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    str(2**63),
    str(-(2**63) - 1),
    str(2**64 + 1),
    "1" + "0" * 5000,
]
SURROGATES = st.integers(0xD800, 0xDFFF).map(chr)


@dataclass(frozen=True)
class Baseline:
    root: Path
    task: dict[str, Any]
    original: bytes
    nodes: list[tuple[Path_, Any]]
    files: Mapping[str, bytes]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Baseline:
    root = copy_project(tmp_path_factory.mktemp("mutations") / "proj")
    paths = ProjectPaths(root)
    files = render_release(paths, Settings.load(paths)).files
    original = (root / SOURCE).read_bytes()
    task = json.loads(original)
    return Baseline(root, task, original, list(_nodes(task)), files)


@st.composite
def edits(draw: st.DrawFn, base: Baseline) -> Edit:
    kind = draw(st.sampled_from(["swap", "null", "duplicate", "number", "surrogate"]))
    if kind in ("swap", "null"):
        path, old = draw(st.sampled_from([(p, v) for p, v in base.nodes if p and v is not None]))
        if kind == "null":
            return Edit(path, None)
        new = draw(JSON_VALUES.filter(lambda v: _kind(v) != _kind(old)))
        return Edit(path, new)
    if kind == "duplicate":
        path, obj = draw(
            st.sampled_from([(p, v) for p, v in base.nodes if isinstance(v, dict) and v])
        )
        key = draw(st.sampled_from(sorted(obj)))
        value = draw(st.just(obj[key]) | JSON_VALUES)
        return Edit(path, duplicate=(key, json.dumps(value)))
    if kind == "number":
        path, _ = draw(st.sampled_from([(p, v) for p, v in base.nodes if p]))
        return Edit(path, literal=draw(st.sampled_from(NUMBER_LITERALS)))
    # a lone surrogate in a string value or in a key
    strings = [(p, v) for p, v in base.nodes if isinstance(v, str)]
    keyed = [(p, v) for p, v in base.nodes if isinstance(v, dict) and v]
    char = draw(SURROGATES)
    if draw(st.booleans()):
        path, text = draw(st.sampled_from(strings))
        at = draw(st.integers(0, len(text)))
        return Edit(path, text[:at] + char + text[at:])
    path, obj = draw(st.sampled_from(keyed))
    key = draw(st.sampled_from(sorted(obj)))
    return Edit(path, rename=(key, key + char))


def apply(base: Baseline, edit: Edit) -> str:
    task = copy.deepcopy(base.task)
    if edit.literal is None and edit.duplicate is None and edit.rename is None:
        parent = _get(task, edit.path[:-1])
        parent[edit.path[-1]] = edit.value
    return render(task, edit)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_export_is_refused_by_name_or_published_unchanged(
    baseline: Baseline, data: st.DataObject
) -> None:
    edit = data.draw(edits(baseline))
    target = baseline.root / SOURCE
    target.write_text(apply(baseline, edit), encoding="ascii")
    paths = ProjectPaths(baseline.root)
    try:
        files = render_release(paths, Settings.load(paths)).files
    except BuildRefused as exc:
        event(f"refused: {exc.problems[0].rule}")
        assert any(p.file == SOURCE for p in exc.problems), exc.problems
        report = json.dumps([p.to_json() for p in exc.problems], ensure_ascii=False)
        report.encode("utf-8")  # printable: what `validate --json` writes
        for problem in exc.problems:
            str(problem).encode("utf-8")  # what `build` prints
    else:
        event("accepted")
        assert files.keys() == baseline.files.keys()
        changed = [name for name in files if files[name] != baseline.files[name]]
        assert changed == [], (edit, changed)
    finally:
        target.write_bytes(baseline.original)


def test_the_unmutated_rendering_round_trips(baseline: Baseline) -> None:
    """The serializer used for mutations changes nothing by itself (same published bytes)."""
    target = baseline.root / SOURCE
    target.write_text(render(baseline.task, Edit(path=("none",))), encoding="ascii")
    try:
        paths = ProjectPaths(baseline.root)
        assert render_release(paths, Settings.load(paths)).files == baseline.files
    finally:
        target.write_bytes(baseline.original)
