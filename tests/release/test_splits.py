"""Split assignment: deterministic, grouped by story cluster, every split used."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import ROOT, copy_project, refused_alike
from sahelwire.release.splits import (
    UNKNOWN_RULE,
    ClusterFileError,
    assign_splits,
    read_story_clusters,
)

RATIOS = {"train": 0.6, "validation": 0.2, "test": 0.2}


@given(
    st.dictionaries(
        st.text("abc123", min_size=1, max_size=6),
        st.sampled_from("pqrstu"),
        min_size=1,
        max_size=40,
    ),
    st.integers(0, 2**32),
)
def test_clusters_never_straddle_splits_and_order_does_not_matter(
    clusters: dict[str, str], seed: int
) -> None:
    splits = assign_splits(clusters, RATIOS, seed)
    for cluster in set(clusters.values()):
        assert len({splits[a] for a, c in clusters.items() if c == cluster}) == 1
    reversed_input = dict(reversed(list(clusters.items())))
    assert assign_splits(reversed_input, RATIOS, seed) == splits
    if len(set(clusters.values())) >= 3:
        assert set(splits.values()) == {"train", "validation", "test"}


def test_seed_articles_use_all_three_splits() -> None:
    ids = [p.stem for p in (ROOT / "dataset/raw/texts").glob("*.txt")]
    clusters = read_story_clusters(ROOT / "dataset/story_clusters.yaml", ids)
    splits = assign_splits(clusters, RATIOS, 20240316)
    assert set(splits.values()) == {"train", "validation", "test"}


def test_article_in_two_clusters_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("clusters:\n- {id: a, articles: [x]}\n- {id: b, articles: [x]}\n")
    with pytest.raises(ClusterFileError, match="x"):
        read_story_clusters(path, ["x"])


def test_an_id_no_manifest_row_has_is_refused_with_the_closest_id(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("clusters:\n- {id: a, articles: [001_ab12, 001_ba21]}\n")
    with pytest.raises(ClusterFileError) as refused:
        read_story_clusters(path, ["001_ab12"], known={"001_ab12", "001_ba12"})
    (problem,) = refused.value.problems
    assert (problem.record, problem.field, problem.rule, problem.value) == (
        "a",
        "articles",
        UNKNOWN_RULE,
        "001_ba21",
    )
    assert problem.message.endswith("did you mean 001_ba12?")


@pytest.mark.parametrize(
    ("typo", "said"),
    [
        # 002 alone in its split, 001 and 003 of the same story in another (the walkthrough).
        ("002_4eb8b75709aad56d", "; did you mean 002_4eb8b75709aad65d?"),
        ("999_nonexistent00000", " has"),
    ],
)
def test_validate_and_build_refuse_a_cluster_article_the_manifest_lacks(
    tmp_path: Path, typo: str, said: str
) -> None:
    """Before: accepted (exit 0), the article the typo meant put in a split of its own."""
    root = copy_project(tmp_path / "p")
    path = root / "dataset" / "story_clusters.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("002_4eb8b75709aad65d,", f"{typo},"), encoding="utf-8")
    line = (
        "error: dataset/story_clusters.yaml record us-delegation-niamey-talks field articles: "
        f"rule {UNKNOWN_RULE} value '{typo}': cluster 'us-delegation-niamey-talks' lists "
        f"{typo}, which no row of dataset/raw/manifest.jsonl has"
    )
    outputs = refused_alike(root, tmp_path / "d", line + (said if said != " has" else ""))
    if said == " has":
        assert not any("did you mean" in out for out in outputs), outputs
