"""The single source of truth turned into code: the taxonomy (labels, attributes, hotkeys),
table shapes from ``schemas/tables.yaml`` (Arrow, HF Features, polars), the entity and event
registries, pandera schemas and table validation, the span and relation rules of
``annotations/GUIDELINES.md``, and :class:`~sahelwire.schema.problems.Problem`, the one shape
of every reported problem.

May import ``sahelwire.io`` only.
"""
