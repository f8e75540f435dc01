"""`sahelwire publish`: refusals, --dry-run, and the real upload code against a mocked Hub.

MOCKED: only the network boundary. huggingface_hub's HTTP client is replaced (through its
public ``set_client_factory`` hook) by an httpx transport that answers like the Hub's
REST API and records every request; everything above it -- our checks, HfApi, the commit
payload encoding -- is the real code. Nothing leaves the machine.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import huggingface_hub
import pytest
from typer.testing import CliRunner

from helpers import run_cli, unreleased_repo
from sahelwire.cli import _register_subcommands, app

pytestmark = pytest.mark.slow
REPO_ID = "sahelwire-test/sahelwire-us-niger"
TOKEN = "hf_test_" + "x" * 30  # fake; the point is to prove it is sent but never printed


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = unreleased_repo(tmp_path_factory.mktemp("publish"))
    # before any release there is nothing to publish
    early = run_cli(root, "publish", "--repo-id", REPO_ID, "--dry-run")
    assert early.returncode == 1 and "not released" in early.stderr
    result = run_cli(root, "release", "minor")
    assert result.returncode == 0, result.stderr
    return root


def test_dry_run_lists_exactly_the_released_files(released: Path) -> None:
    result = run_cli(released, "publish", "--repo-id", REPO_ID, "--dry-run")
    assert result.returncode == 0, result.stderr
    manifest = json.loads((released / "releases/v0.1.0.json").read_text())
    listed = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and len(parts[0]) == 64:
            listed[parts[2]] = (parts[0], int(parts[1]))
    assert listed == {n: (m["sha256"], m["bytes"]) for n, m in manifest["files"].items()}
    assert "tag v0.1.0" in result.stdout and "dry run: nothing uploaded" in result.stdout


def test_refuses_a_build_that_is_not_the_release(released: Path) -> None:
    dist = released / "dist"
    card = dist / "README.md"
    original = card.read_bytes()
    card.write_bytes(original + b"\nedited after the release\n")
    changed = run_cli(released, "publish", "--repo-id", REPO_ID, "--dry-run")
    card.write_bytes(original)
    assert changed.returncode == 1 and "README.md: differs from release v0.1.0" in changed.stderr

    (dist / "notes.txt").write_text("local scratch file")
    extra = run_cli(released, "publish", "--repo-id", REPO_ID, "--dry-run")
    (dist / "notes.txt").unlink()
    assert extra.returncode == 1 and "notes.txt: in dist/ but not in release" in extra.stderr

    bad_id = run_cli(released, "publish", "--repo-id", "no-slash", "--dry-run")
    assert bad_id.returncode == 1 and "ORG/NAME" in bad_id.stderr


class FakeHub:
    """Answers the Hub REST endpoints publish() uses, and records what it was sent."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []
        self.commit_lines: list[dict[str, Any]] = []
        self.tags: list[tuple[str, str]] = []
        self.validated_yaml = ""

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        path = request.url.path
        base = f"/api/datasets/{REPO_ID}"
        if path == "/api/repos/create":
            return httpx2.Response(200, json={"url": f"https://huggingface.co/datasets/{REPO_ID}"})
        if path == "/api/validate-yaml":  # huggingface_hub checks the card's YAML first
            self.validated_yaml = json.loads(request.content)["content"]
            return httpx2.Response(200, json={"errors": [], "warnings": []})
        if path.startswith(f"{base}/tree/"):
            remote = [".gitattributes", "README.md", "data/old_config/train-00000-of-00001.parquet"]
            return httpx2.Response(
                200, json=[{"type": "file", "path": p, "oid": "0" * 40, "size": 1} for p in remote]
            )
        if path.startswith(f"{base}/preupload/"):
            files = json.loads(request.content)["files"]
            return httpx2.Response(
                200,
                json={
                    "files": [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                        for f in files
                    ]
                },
            )
        if path.startswith(f"{base}/commit/"):
            self.commit_lines = [json.loads(x) for x in request.content.splitlines() if x]
            oid = "c" * 40
            return httpx2.Response(
                200,
                json={
                    "commitUrl": f"https://huggingface.co/datasets/{REPO_ID}/commit/{oid}",
                    "commitOid": oid,
                    "success": True,
                },
            )
        if path.startswith(f"{base}/tag/"):
            self.tags.append((path.rsplit("/", 1)[1], json.loads(request.content)["tag"]))
            return httpx2.Response(200, json={})
        return httpx2.Response(404, json={"error": f"unexpected {request.method} {path}"})


@pytest.fixture
def fake_hub() -> Iterator[FakeHub]:
    hub = FakeHub()
    huggingface_hub.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(hub)))
    try:
        yield hub
    finally:
        huggingface_hub.set_client_factory(huggingface_hub.utils._http.default_client_factory)
        huggingface_hub.close_session()


def test_publish_uploads_the_release_in_one_commit_and_tags_it(
    released: Path, fake_hub: FakeHub
) -> None:
    _register_subcommands()
    result = CliRunner().invoke(
        app,
        ["publish", "--repo-id", REPO_ID],
        env={"SAHELWIRE_ROOT": str(released), "HF_TOKEN": TOKEN},
    )
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output  # never printed
    # huggingface_hub itself fetches a public registry (/api/agent-harnesses) without a
    # token to build its user agent; every request of ours carries the token.
    sent = {
        (r.method, r.url.path): r.headers.get("authorization")
        for r in fake_hub.requests
        if r.url.path != "/api/agent-harnesses"
    }
    assert sent and all(auth == f"Bearer {TOKEN}" for auth in sent.values()), sent

    manifest = json.loads((released / "releases/v0.1.0.json").read_text())
    uploaded = {
        line["value"]["path"]: base64.b64decode(line["value"]["content"])
        for line in fake_hub.commit_lines
        if line["key"] == "file"
    }
    assert set(uploaded) == set(manifest["files"])  # nothing outside the release
    for name, data in uploaded.items():
        assert hashlib.sha256(data).hexdigest() == manifest["files"][name]["sha256"]
    deleted = {
        line["value"]["path"] for line in fake_hub.commit_lines if line["key"] == "deletedFile"
    }
    assert deleted == {"data/old_config/train-00000-of-00001.parquet"}  # .gitattributes kept
    assert fake_hub.tags == [("c" * 40, "v0.1.0")]
    assert fake_hub.validated_yaml.startswith("---")  # the card was sent for YAML validation


def test_publish_without_token_is_a_usage_error(released: Path, fake_hub: FakeHub) -> None:
    _register_subcommands()
    result = CliRunner().invoke(
        app,
        ["publish", "--repo-id", REPO_ID],
        env={"SAHELWIRE_ROOT": str(released), "HF_TOKEN": ""},
    )
    assert result.exit_code == 2 and "HF_TOKEN" in result.output
    assert fake_hub.requests == []
