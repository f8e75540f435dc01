"""dist/croissant.json: validated by mlcroissant and read back from the local Parquet through it.

Built twice through the real CLI: with the committed annotations and without any (the
unannotated corpus publishes fewer configs; the metadata must still be valid and load).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from pathlib import Path

import mlcroissant as mlc
import pytest

from helpers import copy_project, run_cli, split_rows
from sahelwire.io.config import Settings
from sahelwire.release.card.template import LICENSE_SUMMARY
from sahelwire.schema.table_specs import load_table_specs

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
    warnings = [r.getMessage() for r in caplog.records if "warning" in r.getMessage().lower()]
    if which == "annotated":
        assert not warnings
    else:  # nothing annotated, so the data has no date yet: datePublished is left out
        assert "datePublished" not in doc
        assert all("datePublished" in w for w in warnings), warnings

    published = sorted(p.name for p in (dist / "data").iterdir())
    assert sorted(rs["name"] for rs in doc["recordSet"]) == published
    for config in published:
        by_split = split_rows(dist, config)
        records = _records(ds, config)
        assert len(records) == sum(len(rows) for rows in by_split.values()), config
        for split, rows in by_split.items():
            mine = [r for r in records if r["split"] == split]
            key = next(iter(rows[0]))  # the first column: an id in every config
            assert sorted(r[key] for r in mine) == sorted(row[key] for row in rows)
        # every top-level value read through Croissant equals the Parquet value
        first_split = next(iter(by_split))
        expected = by_split[first_split][0]
        got = next(r for r in records if r["split"] == first_split)
        for column, value in expected.items():
            if isinstance(value, list) and value and isinstance(value[0], dict):
                continue  # span lists: compared member by member below
            assert got[column] == value, (config, column)


def test_nested_span_lists_read_through_json_paths(annotated: Path) -> None:
    ds = mlc.Dataset(jsonld=str(annotated / "croissant.json"))
    rows = {
        r["article_id"]: r for rows in split_rows(annotated, "documents").values() for r in rows
    }
    checked = 0
    for record in _records(ds, "documents"):
        row = rows[record["article_id"]]
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
        for rows in split_rows(annotated, "events").values()
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
    docs = [d for r in split_rows(annotated, "documents").values() for d in r]
    per: dict[int, int] = {}
    for d in docs:
        per[d["n_annotators"]] = per.get(d["n_annotators"], 0) + 1
    for n, count in per.items():
        assert f"{count} article(s) with {n} annotator(s)" in doc["rai:annotationsPerItem"]
    assert "croissant.json" in (annotated / "README.md").read_text()


def test_every_file_has_its_sha256_and_size(annotated: Path) -> None:
    doc = json.loads((annotated / "croissant.json").read_text())
    objects = {d["contentUrl"]: d for d in doc["distribution"] if d["@type"] == "cr:FileObject"}
    on_disk = sorted(str(p.relative_to(annotated)) for p in (annotated / "data").rglob("*.parquet"))
    assert sorted(objects) == on_disk
    for name, obj in objects.items():
        data = (annotated / name).read_bytes()
        assert obj["sha256"] == hashlib.sha256(data).hexdigest()
        assert obj["contentSize"] == f"{len(data)} B"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", doc["datePublished"])
    stamps = [
        a["updated_at"][:10]
        for p in sorted((annotated.parent / "annotations/exports").glob("*.json"))
        for t in [json.loads(p.read_text())]
        for a in [*t["annotations"], *t.get("predictions", [])]
    ]
    assert doc["datePublished"] == max(stamps)  # the data's own date, not the clock


def test_keys_and_references_follow_the_table_specs(annotated: Path) -> None:
    doc = json.loads((annotated / "croissant.json").read_text())
    specs = load_table_specs(annotated.parent / "schemas/tables.yaml")
    record_sets = {rs["@id"]: rs for rs in doc["recordSet"]}
    for name, rs in record_sets.items():
        spec = specs.configs[name]
        keys = rs.get("key", [])
        keys = keys if isinstance(keys, list) else [keys]
        assert [k["@id"] for k in keys] == [f"{name}/{k}" for k in spec.key]
        refs = {
            f["name"]: f["references"]["field"]["@id"] for f in rs["field"] if "references" in f
        }
        assert refs == {c: t.replace(".", "/") for c, t in spec.references.items()}
        for target in refs.values():
            config, field = target.split("/")
            assert field in {f["name"] for f in record_sets[config]["field"]}
    arguments = next(f for f in record_sets["events"]["field"] if f["name"] == "arguments")
    assert {f["name"] for f in arguments["subField"]} >= {
        "role", "target_mention_id", "target_layer", "target_entity_id", "start", "end", "text",
    }  # fmt: skip


def test_mentions_join_the_entity_registry_through_croissant(annotated: Path) -> None:
    ds = mlc.Dataset(jsonld=str(annotated / "croissant.json"))
    registry = {r["entity_id"] for r in _records(ds, "entity_registry")}
    mentions = _records(ds, "mentions")
    linked = [m["entity_id"] for m in mentions if m["entity_id"] is not None]
    assert linked and set(linked) <= registry
    assert len(mentions) == sum(len(r) for r in split_rows(annotated, "mentions").values())


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
            len(rows) for rows in split_rows(annotated, config).values()
        )


def test_the_cards_loading_code_needs_only_what_its_pip_line_installs(annotated: Path) -> None:
    """A walkthrough: the card's code imported the sahelwire package (not on PyPI) and read
    releases/*.json from a repository it never located, and named nothing to pip install.
    Its pip line now pins what the project pins; its Python imports only those and the
    standard library (tests/versions/test_hub_round_trip.py runs it through a Hub mirror)."""
    import re
    import sys
    import tomllib

    card = (annotated / "README.md").read_text()
    section = card.split("<!-- sahelwire:begin how_to_load -->")[1].split("<!-- sahelwire:end")[0]
    project = tomllib.loads((annotated.parent / "pyproject.toml").read_text())["project"]
    pinned = dict(d.split("==") for d in project["dependencies"] if "==" in d)
    install = 'pip install "datasets=={}" "huggingface_hub=={}"'.format(
        pinned["datasets"], pinned["huggingface_hub"]
    )
    assert f"```sh\n{install}\n```" in section
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    imported = {
        m.split(".")[0] for m in re.findall(r"^(?:from|import) ([\w.]+)", code, re.MULTILINE)
    }
    assert imported - set(sys.stdlib_module_names) == {"datasets", "huggingface_hub"}
    assert "releases/" not in code and '"dist"' not in code
    # the manifest check is the maintainers' and says where it runs
    maintainers = section.split("```", 4)[-1]
    assert maintainers.startswith("\n\nFor maintainers, from a clone of the source repository")


def test_the_licence_is_the_cards_mixed_statement(annotated: Path) -> None:
    """croissant.json gave the CC BY 4.0 URL as the dataset's licence, which the copyrighted
    article texts are not under (a researcher's walkthrough); it now says what the card's
    YAML (license: other), LICENSE.md and ds.info.license say."""
    meta = json.loads((annotated / "croissant.json").read_text())
    assert meta["license"] == LICENSE_SUMMARY
    assert "article texts copyrighted" in meta["license"] and "CC BY 4.0" in meta["license"]
    read = mlc.Dataset(jsonld=str(annotated / "croissant.json")).metadata.license
    assert read == [LICENSE_SUMMARY], read
