"""`sahelwire diff` names which annotations were added, removed or changed (article and
item), as docs/releasing.md says: the first few per layer, label and kind in the text (and
the CHANGELOG entry), every one in --json.

Walkthrough D7: after one decision changed an event's realis, `diff` printed
`| events | FORCE_POSTURE | 0 | 0 | 1 |` and nothing said which article or item.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers import ROOT, copy_project, run_cli
from sahelwire.versions.data_diff import diff_indexes, diff_json, render_diff

V010 = json.loads((ROOT / "releases" / "v0.1.0.json").read_text(encoding="utf-8"))
V020 = json.loads((ROOT / "releases" / "v0.2.0.json").read_text(encoding="utf-8"))


def test_the_diff_names_each_annotation_capped_in_text_and_whole_in_json() -> None:
    diff = diff_indexes(V010, V020)
    text = render_diff(diff)
    assert (
        "Which (`article:start:end` per span, `article:field` per article label; the first 5"
        in text
    )
    # all of a short list, in article and offset order
    assert (
        "- quantities `DURATION` removed: `002_4eb8b75709aad65d:1252:1258`, "
        "`002_4eb8b75709aad65d:1400:1411`\n"
    ) in text
    # a long one cut at five, with how many more (offsets as numbers: 22 before 213)
    assert (
        "- events `MEETING` added: `000_68e681b97d6ec23c:22:29`, `000_68e681b97d6ec23c:213:220`, "
    ) in text
    assert "`000_68e681b97d6ec23c:894:901` and 15 more\n" in text
    # changed article-level labels, by article and field
    assert (
        "- article_labels `primary_frame=DIPLOMACY` changed: `000_68e681b97d6ec23c:primary_frame`\n"
        in text
    )

    ids = diff_json(diff)["annotation_ids"]
    assert len(ids["events"]["MEETING"]["added"]) == 20  # all of them
    assert ids["events"]["MEETING"]["removed"][0] == "000_68e681b97d6ec23c:15:29"
    # every count in the table has its ids, and nothing else
    for layer, by_label in diff.annotations.items():
        for label, counts in by_label.items():
            assert {k: len(v) for k, v in ids[layer][label].items()} == {
                k: n for k, n in counts.items() if n
            }


def test_diff_json_from_the_cli_carries_the_ids(tmp_path: Path) -> None:
    # no git history in this copy: the note goes to stderr, the JSON to stdout
    root = copy_project(tmp_path / "tarball")
    shutil.copytree(ROOT / "releases", root / "releases")
    result = run_cli(root, "diff", "v0.1.0", "v0.2.0", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["annotation_ids"]["entities"]["FAC"]["added"] == [
        "000_68e681b97d6ec23c:325:355",
        "000_68e681b97d6ec23c:538:564",
        "002_4eb8b75709aad65d:1048:1105",
    ]
