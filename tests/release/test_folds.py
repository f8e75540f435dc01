"""The ``folds`` config's table (release.folds): made from columns, it says what the
module's rule says, row by row, in the published schema."""

from __future__ import annotations

import random

from helpers import ROOT
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.folds import SCHEMES, fold_table
from sahelwire.schema.table_specs import ShapeBuilder, load_table_specs
from sahelwire.schema.taxonomy import load_taxonomy

PATHS = ProjectPaths(ROOT)
SPECS = load_table_specs(PATHS.tables_file)
SCHEMA = ShapeBuilder(SPECS, load_taxonomy(PATHS.taxonomy_file)).arrow_schema(
    SPECS.configs["folds"], published=True
)


def test_fold_table_holds_each_article_out_once_per_scheme() -> None:
    """Fold k of leave_one_article_out holds out the k-th article by id; of
    leave_one_cluster_out, every article of the k-th cluster by id. Ids given unordered."""
    rng = random.Random(7)
    clusters = {f"a{i:03d}": f"story-{rng.randrange(9)}" for i in rng.sample(range(500), 60)}
    table = fold_table(clusters, SCHEMA)
    assert table.schema == SCHEMA
    articles = sorted(clusters)
    cluster_ids = sorted(set(clusters.values()))
    want = [
        {
            "scheme": scheme,
            "article_id": a,
            "fold": k if scheme == SCHEMES[0] else cluster_ids.index(clusters[a]),
            "story_cluster": clusters[a],
        }
        for scheme in SCHEMES
        for k, a in enumerate(articles)
    ]
    assert table.to_pylist() == want


def test_fold_table_of_no_article_is_empty_in_the_schema() -> None:
    table = fold_table({}, SCHEMA)
    assert table.num_rows == 0 and table.schema == SCHEMA
