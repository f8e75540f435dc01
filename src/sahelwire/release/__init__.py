"""The published dataset: input validation (``sahelwire validate``), the build into ``dist/``
(published tables per config, leakage-aware splits, Parquet files, checksums), the dataset
card (``card/``) and ``croissant.json``, and the Spark path that validates and writes the same
tables distributed.

May import every stage below it: ``io``, ``schema``, ``raw``, ``labelstudio``, ``annotations``.
"""
