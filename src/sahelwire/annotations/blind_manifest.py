"""A blind workspace's manifest (``annotations/blind/<handle>.txt``): every file the annotator's
workspace held, with its sha256, as scripts/blind_workspace.py lists them. The card states
from it how independence was kept; ``validate`` checks it so the build refuses a malformed
one before its card would read it."""

from __future__ import annotations

import re
from pathlib import Path

from sahelwire.io.text_files import read_utf8

BLIND_DIR = "blind"  # annotations/blind/<handle>.txt
# A manifest line as scripts/blind_workspace.py writes it (`sha256sum`'s form).
BLIND_LINE = re.compile(r"[0-9a-f]{64}  (\S.*)")


def blind_manifest_entries(path: Path) -> list[tuple[str, str]]:
    """(sha256, path) of every file a blind workspace's manifest lists; ValueError naming the
    file and line when one is not ``<sha256>  <path>`` or the file is not UTF-8 (``validate``
    reports it, so the build refuses before its card would read it)."""
    given = []
    for number, line in enumerate(read_utf8(path).splitlines(), start=1):
        if not line:
            continue
        m = BLIND_LINE.fullmatch(line)
        if m is None:
            raise ValueError(f"{path}:{number}: not a `<sha256>  <path>` line: {line[:80]!r}")
        given.append((line[:64], m.group(1)))
    return given


def blind_manifest_paths(path: Path) -> list[str]:
    """The paths a blind workspace's manifest lists (:func:`blind_manifest_entries`)."""
    return [listed for _, listed in blind_manifest_entries(path)]
