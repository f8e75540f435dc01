"""Split assignment: deterministic, grouped by story cluster, every split used."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import ROOT
from sahelwire.release.splits import ClusterFileError, assign_splits, read_story_clusters

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
