"""Cross-validation folds over articles (the ``folds`` config).

With a handful of articles, one fixed test split is one article: an evaluation on it says
little. Two schemes are published next to the train/validation/test split:

- ``leave_one_article_out``: fold k holds out the k-th article (by id); every other article
  is training data. Articles of the same story cluster end up on both sides, so stories
  (and the registry events and entities they mention) leak; the card counts how much.
- ``leave_one_cluster_out``: fold k holds out the k-th story cluster (by id); no story is
  on both sides.

One row per (scheme, article) naming the fold that holds the article out; fold k's
training data is every other article of the scheme (rows with ``fold != k``). A row per
(fold, article) would grow with the square of the corpus.

Pure functions of the article ids and their clusters: a rebuild never renumbers a fold
unless an article or a cluster is added or removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

SCHEMES = ("leave_one_article_out", "leave_one_cluster_out")


def fold_rows(clusters: Mapping[str, str]) -> list[dict[str, Any]]:
    """One row per (scheme, article); ``clusters`` maps article id -> story cluster."""
    articles = sorted(clusters)
    cluster_fold = {c: k for k, c in enumerate(sorted(set(clusters.values())))}
    fold_of = {
        "leave_one_article_out": {a: k for k, a in enumerate(articles)},
        "leave_one_cluster_out": {a: cluster_fold[clusters[a]] for a in articles},
    }
    return [
        {
            "scheme": scheme,
            "article_id": a,
            "fold": fold_of[scheme][a],
            "story_cluster": clusters[a],
        }
        for scheme in SCHEMES
        for a in articles
    ]
