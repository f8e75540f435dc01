"""Cross-validation folds over the annotated articles (the ``folds`` config).

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

Only articles with a gold layer are given (the caller, ``release.tables``, leaves out the
ones no one annotated yet): they have nothing to train on or to score.

Pure functions of the article ids and their clusters: a rebuild never renumbers a fold
unless an annotated article or its cluster is added or removed.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

SCHEMES = ("leave_one_article_out", "leave_one_cluster_out")


def fold_table(clusters: Mapping[str, str], schema: pa.Schema) -> pa.Table:
    """One row per (scheme, article), in that order; ``clusters`` maps article id -> story
    cluster. Made from columns, not rows: at 1M articles a dict per row (2M of them), made
    and validated at once, added ≈0.7 GB, the rebuild's peak (docs/benchmarks.md,
    seventeenth session)."""
    articles = sorted(clusters)
    cluster_fold = {c: k for k, c in enumerate(sorted(set(clusters.values())))}
    stories = [clusters[a] for a in articles]
    n = len(articles)
    by_article = list(range(n))
    by_cluster = [cluster_fold[c] for c in stories]
    columns = {
        "scheme": [SCHEMES[0]] * n + [SCHEMES[1]] * n,
        "article_id": articles * 2,
        "fold": by_article + by_cluster,
        "story_cluster": stories * 2,
    }
    return pa.Table.from_pydict(columns, schema=schema)
