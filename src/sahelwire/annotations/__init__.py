"""Annotations as data: Label Studio exports parsed into per-annotator source tables
(``annotations``, ``annotation_regions``, ``annotation_relations``, ``annotation_choices``),
adjudicated into the gold layer (with ``annotations/decisions/``), inter-annotator agreement,
and the pre-annotation baseline scored against gold.

May import ``sahelwire.io``, ``sahelwire.schema``, ``sahelwire.raw`` and ``sahelwire.labelstudio``.
"""
