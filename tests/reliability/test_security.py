"""Security properties that need no server: article text is data, never markup; no secret is committed."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import datasets
import pytest

from helpers import ROOT, copy_project, run_cli, snapshot
from sahelwire.io.markdown import escape_cell

HOSTILE = (
    '<script>alert("pwned")</script>\n'
    "<img src=x onerror=\"fetch('//evil')\"> Niger | US troops &amp; drones\n"
    "The junta met the delegation in Niamey.\n"
)


@pytest.mark.slow
def test_html_and_script_in_article_text_are_kept_as_text_and_never_rendered(
    tmp_path: Path,
) -> None:
    root = copy_project(tmp_path / "proj", annotations=True)
    story = tmp_path / "hostile_story.txt"
    story.write_text(HOSTILE, encoding="utf-8")
    assert run_cli(root, "ingest", str(story)).returncode == 0
    result = run_cli(root, "build")
    assert result.returncode == 0, result.stderr
    # published exactly as received: the text is data, not escaped or stripped
    ds = datasets.load_dataset(str(root / "dist"), "documents")
    rows = [r for split in ds.values() for r in split if r["article_id"] == "hostile_story"]
    assert [r["text"] for r in rows] == [HOSTILE]
    # the card never carries the markup live
    card = (root / "dist/README.md").read_text(encoding="utf-8")
    assert "<script" not in card.lower() and "onerror=" not in card.lower()


def test_card_cells_escape_markup() -> None:
    cell = escape_cell("<script>alert(1)</script> a|b\nc & d")
    assert "<" not in cell and ">" not in cell
    assert cell == "&lt;script&gt;alert(1)&lt;/script&gt; a\\|b c &amp; d"


def test_label_config_shows_text_with_text_tag_not_html() -> None:
    xml = (ROOT / "annotations/label_config.xml").read_text(encoding="utf-8")
    assert re.search(r'<Text name="text" value="\$text"', xml)
    assert "<HyperText" not in xml and "<Html" not in xml


# Shapes of real secrets: Label Studio legacy tokens (40 hex), JWT-like refresh tokens,
# Hugging Face tokens, private keys.
TOKEN_PATTERNS = {
    "40-hex token": re.compile(r"(?<![0-9a-f])[0-9a-f]{40}(?![0-9a-f])"),
    "Hugging Face token": re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    "JWT": re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
# 40-hex strings that are not secrets: git commit ids pinned in docs/locks.
ALLOWED_HEX_FILES = {"uv.lock", "requirements.lock"}
# Deliberately wrong tokens that tests send to prove refusal (not secrets of anything).
KNOWN_FAKE = {
    "0123456789abcdef0123456789abcdef01234567",
    "f0e1d2c3b4a5968778695a4b3c2d1e0f0a1b2c3d",
}


def committed_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [ROOT / name for name in out.decode().split("\0") if name]


def test_no_secret_in_committed_files() -> None:
    files = committed_files()
    assert files
    found = []
    for path in files:
        if not path.is_file() or path.stat().st_size > 5_000_000:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary (Parquet and the like): no text secret in it
        for kind, pattern in TOKEN_PATTERNS.items():
            if kind == "40-hex token" and path.name in ALLOWED_HEX_FILES:
                continue
            for match in pattern.finditer(text):
                if match.group() in KNOWN_FAKE:
                    continue
                found.append(f"{path.relative_to(ROOT)}: {kind} {match.group()[:6]}…")
    assert found == []


def test_local_state_with_credentials_is_git_ignored() -> None:
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".sahelwire/labelstudio/credentials.json"], cwd=ROOT
    )
    assert ignored.returncode == 0
    for name in (".env", "dist/README.md"):
        assert subprocess.run(["git", "check-ignore", "-q", name], cwd=ROOT).returncode == 0


def test_missing_token_is_a_clear_error(tmp_path: Path) -> None:
    root = copy_project(tmp_path / "proj")
    unset = {k: None for k in os.environ if k.startswith("LABEL_STUDIO_")}
    before = snapshot(root / "annotations")
    result = run_cli(root, "labelstudio", "pull", env=unset, timeout=120)
    assert result.returncode == 1
    assert "no API key" in result.stderr and "LABEL_STUDIO_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(root / "annotations") == before
