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

Released articles keep their split: a cluster holding an article of the last release
(``pinned``) goes to that article's split before any other is placed, and the steps above
place only clusters no release had, counting the pinned ones. An article released in test
therefore never comes back in train, however the corpus grows (before, ingesting one new
article moved a release's only test article to train). Only a cluster whose released
articles were in different splits (stories merged since) moves: to the split most of them
were in, ties to the held-out one (test, then validation); the release diff reports it.
A rebuild of the same inputs never reshuffles.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from sahelwire.io.config import SPLITS
from sahelwire.io.text_files import read_yaml_mapping
from sahelwire.raw.manifest import closest_id
from sahelwire.schema.problems import Problem

TWICE_RULE = "one cluster per article"
UNKNOWN_RULE = "cluster articles exist in the manifest"
SHAPE_RULE = "story_clusters.yaml is `clusters:`, a list of {id, articles: [article ids]}"


class ClusterFileError(ValueError):
    """dataset/story_clusters.yaml is malformed, lists an article twice or an article the
    manifest does not have. ``problems``: each finding, naming cluster, field, rule and value
    (validation reports them; empty when the file could not be read at all)."""

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


def read_story_clusters(
    path: Path, article_ids: Iterable[str], known: Collection[str] | None = None
) -> dict[str, str]:
    """Map every article id to its story cluster (its own id when no cluster lists it).

    ``known``: the manifest's article ids; every id a cluster lists must be one of them (a
    typo would leave the article it meant in a split of its own, beside the rest of its
    story: the split leakage the clusters exist to prevent). Every finding of the file is
    raised at once, in one :class:`ClusterFileError`."""
    ids = list(article_ids)
    assignment: dict[str, str] = {}
    if path.exists():
        try:
            data = read_yaml_mapping(path)
        except ValueError as exc:  # a Problem of validate's, like the rest of this file's
            raise ClusterFileError(str(exc)) from None
        file = str(path)  # validation names it from the project root
        clusters = data.get("clusters", [])
        if not isinstance(clusters, list) or not all(
            isinstance(c, dict)
            and isinstance(c.get("articles", []), list)
            and all(isinstance(a, str) for a in c.get("articles", []))
            for c in clusters
        ):
            raise ClusterFileError(
                f"{path}: `clusters:` must be a list of mappings, each with `id` and a list "
                "`articles:` of article ids",
                [Problem(file, None, "clusters", SHAPE_RULE)],
            )
        problems: list[Problem] = []
        for cluster in clusters:
            name = str(cluster.get("id"))
            for article_id in cluster.get("articles", []):
                if known is not None and article_id not in known:
                    near = closest_id(article_id, known)
                    hint = f"; did you mean {near}?" if near is not None else ""
                    problems.append(
                        Problem(
                            file,
                            name,
                            "articles",
                            UNKNOWN_RULE,
                            article_id,
                            f"cluster {name!r} lists {article_id}, which no row of "
                            f"dataset/raw/manifest.jsonl has{hint}",
                        )
                    )
                    continue
                if article_id in assignment:
                    problems.append(
                        Problem(
                            file,
                            name,
                            "articles",
                            TWICE_RULE,
                            article_id,
                            f"article {article_id} is in clusters "
                            f"{assignment[article_id]!r} and {name!r}",
                        )
                    )
                    continue
                assignment[article_id] = name
        if problems:
            raise ClusterFileError("\n".join(f"{path}: {p.message}" for p in problems), problems)
    # Singleton clusters get the article id lower-cased so they satisfy the cluster pattern.
    return {i: assignment.get(i, i.lower()) for i in ids}


def _order_key(seed: int, cluster: str) -> str:
    return hashlib.sha256(f"{seed}:{cluster}".encode()).hexdigest()


def assign_splits(
    clusters: Mapping[str, str],
    ratios: Mapping[str, float],
    seed: int,
    pinned: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Map each article id to a split; ``clusters`` maps article id -> story cluster;
    ``pinned``: article id -> its split in the last release (ids no longer in the corpus
    are ignored)."""
    sizes = Counter(clusters.values())
    counts = dict.fromkeys(SPLITS, 0)
    cluster_split: dict[str, str] = {}
    released: dict[str, Counter[str]] = {}
    for article, cluster in clusters.items():
        if pinned and article in pinned:
            released.setdefault(cluster, Counter())[pinned[article]] += 1
    for cluster, votes in released.items():
        # Most of its released articles' split; ties to the held-out one (test first).
        best = max(votes, key=lambda s: (votes[s], SPLITS.index(s)))
        cluster_split[cluster] = best
        counts[best] += sizes[cluster]
    for cluster in sorted(sizes, key=lambda c: (-sizes[c], _order_key(seed, c))):
        if cluster in cluster_split:
            continue
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
