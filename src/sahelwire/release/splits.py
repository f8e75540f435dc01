"""Deterministic, leakage-aware train/validation/test assignment by story cluster.

All articles of a story cluster share a split, so no story is both trained and tested
on. The assignment is a pure function of (seed, ratios, clusters and their sizes):

1. clusters are ordered largest first (big clusters placed early keep the shares close
   to the ratios), ties broken by sha256(f"{seed}:{cluster_id}") -- a fixed
   pseudo-random order that does not depend on input order or on how ids sort;
2. while a split with a positive ratio is still empty, the cluster goes to the empty
   split with the largest ratio (so any corpus of three or more clusters has all
   three splits); after that, each cluster goes to the split furthest below its target
   share of the articles assigned so far (ties: train, validation, test order).

Adding articles can move clusters between splits (the targets change); the release
diff reports such moves. A rebuild of the same inputs never reshuffles.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from sahelwire.io.config import SPLITS
from sahelwire.io.text_files import read_yaml_mapping


class ClusterFileError(ValueError):
    """dataset/story_clusters.yaml is malformed or lists an article twice."""


def read_story_clusters(path: Path, article_ids: Iterable[str]) -> dict[str, str]:
    """Map every article id to its story cluster (its own id when no cluster lists it)."""
    ids = list(article_ids)
    assignment: dict[str, str] = {}
    if path.exists():
        try:
            data = read_yaml_mapping(path)
        except ValueError as exc:  # a Problem of validate's, like the rest of this file's
            raise ClusterFileError(str(exc)) from None
        for cluster in data.get("clusters", []):
            for article_id in cluster.get("articles", []):
                if article_id in assignment:
                    raise ClusterFileError(
                        f"{path}: article {article_id} is in clusters {assignment[article_id]!r} "
                        f"and {cluster['id']!r}"
                    )
                assignment[article_id] = str(cluster["id"])
    # Singleton clusters get the article id lower-cased so they satisfy the cluster pattern.
    return {i: assignment.get(i, i.lower()) for i in ids}


def _order_key(seed: int, cluster: str) -> str:
    return hashlib.sha256(f"{seed}:{cluster}".encode()).hexdigest()


def assign_splits(
    clusters: Mapping[str, str], ratios: Mapping[str, float], seed: int
) -> dict[str, str]:
    """Map each article id to a split; ``clusters`` maps article id -> story cluster."""
    sizes = Counter(clusters.values())
    counts = dict.fromkeys(SPLITS, 0)
    cluster_split: dict[str, str] = {}
    for cluster in sorted(sizes, key=lambda c: (-sizes[c], _order_key(seed, c))):
        empty = [s for s in SPLITS if counts[s] == 0 and ratios[s] > 0]
        if empty:
            # Fill every split first, so a small corpus still has validation and test data.
            best = max(empty, key=lambda s: (ratios[s], -SPLITS.index(s)))
        else:
            total = sum(counts.values()) + sizes[cluster]
            deficit = {s: ratios[s] * total - counts[s] for s in SPLITS}
            best = max(SPLITS, key=lambda s: (deficit[s], -SPLITS.index(s)))
        cluster_split[cluster] = best
        counts[best] += sizes[cluster]
    return {article: cluster_split[cluster] for article, cluster in clusters.items()}
