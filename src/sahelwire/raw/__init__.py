"""Raw articles: ``dataset/raw/`` (texts exactly as received and ``manifest.jsonl``), produced by
``sahelwire ingest`` (all-or-nothing, with its on-disk index), read back by the manifest
reader and the on-demand text mapping; raw-text decoding and stated article metadata; and
the synthetic corpus generator that benchmarks feed through the same stages.

May import ``sahelwire.io`` and ``sahelwire.schema``.
"""
