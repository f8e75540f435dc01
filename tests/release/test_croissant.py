"""dist/croissant.json: validated by mlcroissant and read back from the local Parquet through it.

Built twice through the real CLI: with the committed annotations and without any (the
unannotated corpus publishes fewer configs; the metadata must still be valid and load).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import mlcroissant as mlc
import pyarrow.parquet as pq
import pytest

from helpers import copy_project, run_cli
from sahelwire.io.config import SPLITS, Settings

pytestmark = pytest.mark.slow


def _build(root: Path) -> Path:
    result = run_cli(root, "build")
    assert result.returncode == 0, result.stderr
    return root / "dist"


@pytest.fixture(scope="module")
def annotated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(copy_project(tmp_path_factory.mktemp("annotated")))


@pytest.fixture(scope="module")
def unannotated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(copy_project(tmp_path_factory.mktemp("bare"), annotations=False))


def _parquet_rows(dist: Path, config: str) -> dict[str, list[dict]]:
    return {
        p.name.split("-")[0]: pq.read_table(p).to_pylist()
        for p in sorted((dist / "data" / config).glob("*.parquet"))
    }


def _records(ds: mlc.Dataset, config: str) -> list[dict]:
    def plain(value: object) -> object:
        if isinstance(value, bytes):
            return value.decode()
        if isinstance(value, list):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k.rsplit("/", 1)[-1]: plain(v) for k, v in value.items()}
        return value

    return [plain(r) for r in ds.records(record_set=config)]  # type: ignore[misc]


@pytest.mark.parametrize("which", ["annotated", "unannotated"])
def test_croissant_validates_and_loads_every_config(
    which: str, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
) -> None:
    dist: Path = request.getfixturevalue(which)
    doc = json.loads((dist / "croissant.json").read_text())
    settings = Settings.from_pyproject(dist.parent / "pyproject.toml")
    assert doc["version"] == settings.data_version
    assert doc["conformsTo"] == "http://mlcommons.org/croissant/1.1"

    with caplog.at_level(logging.WARNING):
        ds = mlc.Dataset(jsonld=str(dist / "croissant.json"))  # raises on any validation error
    # the only warning we accept is the deliberately missing datePublished (determinism)
    warnings = [r.getMessage() for r in caplog.records if "warning" in r.getMessage().lower()]
    assert all("datePublished" in w for w in warnings), warnings

    published = sorted(p.name for p in (dist / "data").iterdir())
    assert sorted(rs["name"] for rs in doc["recordSet"]) == published
    for config in published:
        by_split = _parquet_rows(dist, config)
        records = _records(ds, config)
        assert len(records) == sum(len(rows) for rows in by_split.values()), config
        for split, rows in by_split.items():
            mine = [r for r in records if r["split"] == split]
            key = "id" if "id" in rows[0] else "article_id"
            assert sorted(r[key] for r in mine) == sorted(row[key] for row in rows)
        # every top-level value read through Croissant equals the Parquet value
        first_split = next(s for s in SPLITS if s in by_split)
        expected = by_split[first_split][0]
        got = next(r for r in records if r["split"] == first_split)
        for column, value in expected.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                continue  # span lists: compared member by member below
            assert got[column] == value, (config, column)


def test_nested_span_lists_read_through_json_paths(annotated: Path) -> None:
    ds = mlc.Dataset(jsonld=str(annotated / "croissant.json"))
    rows = {r["id"]: r for rows in _parquet_rows(annotated, "documents").values() for r in rows}
    checked = 0
    for record in _records(ds, "documents"):
        row = rows[record["id"]]
        for layer in ("zones", "entities", "events", "quantities"):
            members = [k for k in row[layer][0] if k != "arguments"] if row[layer] else []
            got = [{k: span[k] for k in members} for span in record[layer]]
            assert got == [{k: span[k] for k in members} for span in row[layer]], layer
            checked += len(got)
    assert checked > 0
    # event arguments (a list inside the span list) are read from the events config
    events = _records(ds, "events")
    by_key = {
        (r["article_id"], r["start"], r["end"]): r
        for rows in _parquet_rows(annotated, "events").values()
        for r in rows
    }
    assert any(r["arguments"] for r in events)
    for record in events:
        expected = by_key[(record["article_id"], record["start"], record["end"])]["arguments"]
        assert record["arguments"] == expected


def test_responsible_ai_fields(annotated: Path) -> None:
    doc = json.loads((annotated / "croissant.json").read_text())
    for key in (
        "rai:dataCollection",
        "rai:dataCollectionMissingData",
        "rai:dataAnnotationProtocol",
        "rai:dataAnnotationPlatform",
        "rai:annotationsPerItem",
        "rai:dataBiases",
        "rai:dataLimitations",
        "rai:personalSensitiveInformation",
        "rai:dataReleaseMaintenancePlan",
    ):
        assert doc[key], key
    n_docs = sum(len(r) for r in _parquet_rows(annotated, "documents").values())
    assert f"{n_docs} article(s) with 1 annotator(s)" in doc["rai:annotationsPerItem"]
    assert "croissant.json" in (annotated / "README.md").read_text()


def test_every_config_in_the_cards_loading_examples_loads(annotated: Path) -> None:
    """The card's "How to load" names every published config; each loads from the build."""
    import re

    import datasets

    card = (annotated / "README.md").read_text()
    section = card.split("<!-- sahelwire:begin how_to_load -->")[1].split("<!-- sahelwire:end")[0]
    named = re.findall(r'load_dataset\("[^"]+", "(\w+)", revision=REVISION\)', section)
    published = sorted(p.name for p in (annotated / "data").iterdir())
    assert sorted(set(named)) == published
    version = Settings.from_pyproject(annotated.parent / "pyproject.toml").data_version
    assert f'REVISION = "v{version}"' in section
    for config in published:
        ds = datasets.load_dataset(str(annotated), config)
        assert sum(ds[s].num_rows for s in ds) == sum(
            len(rows) for rows in _parquet_rows(annotated, config).values()
        )
