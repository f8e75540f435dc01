"""Every config of a build loads with ``datasets.load_dataset`` in a separate process.

The loading process starts from nothing: its own empty Hugging Face cache, offline, and no
import of sahelwire, as a researcher's environment would. It reports what it got as JSON;
the test compares that with the Parquet files and the project's settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from helpers import copy_project, run_cli
from sahelwire.io.config import Settings

LOADER = r"""
import json, sys
import datasets

folder = sys.argv[1]
out = {}
for config in json.loads(sys.argv[2]):
    ds = datasets.load_dataset(folder, config)
    info = next(iter(ds.values())).info
    out[config] = {
        "splits": {name: split.num_rows for name, split in ds.items()},
        "columns": list(next(iter(ds.values())).column_names),
        "version": str(info.version),
        "description": info.description,
        "citation": info.citation,
        "license": info.license,
        "homepage": info.homepage,
    }
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("load"))
    result = run_cli(root, "build")
    assert result.returncode == 0, result.stderr
    return root


def test_every_config_loads_in_a_fresh_process_with_its_metadata(
    built: Path, tmp_path: Path
) -> None:
    dist = built / "dist"
    card = (dist / "README.md").read_text(encoding="utf-8")
    front = yaml.safe_load(card.split("---\n", 2)[1])
    configs = [c["config_name"] for c in front["configs"]]
    assert sorted(configs) == sorted(p.name for p in (dist / "data").iterdir())
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_DATASETS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
    }
    result = subprocess.run(
        [sys.executable, "-c", LOADER, str(dist), json.dumps(configs)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    version = Settings.from_pyproject(built / "pyproject.toml").data_version
    infos = {i["config_name"]: i for i in front["dataset_info"]}
    for config in configs:
        got = loaded[config]
        files = sorted((dist / "data" / config).glob("*.parquet"))
        assert got["splits"] == {
            p.name.split("-")[0]: pq.ParquetFile(p).metadata.num_rows for p in files
        }, config
        assert got["columns"] == pq.read_schema(files[0]).names
        # What datasets can carry, it carries: the version (from the configs entry) and
        # the description, citation and licence (from the config's dataset_info entry).
        assert got["version"] == version
        assert got["description"] == infos[config]["description"]
        assert f"version      = {{{version}}}" in got["citation"]
        assert "year" in got["citation"]
        assert "CC BY 4.0" in got["license"] and "LICENSE.md" in got["license"]
        assert got["homepage"].startswith("https://huggingface.co/datasets/")
