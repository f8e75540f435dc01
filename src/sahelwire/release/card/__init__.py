"""The dataset card: ``DATASET_CARD.md`` as template (``template``), its generated sections
(``sections``), plots and length summaries (``plots``) and the release metadata block
(``metadata``).

Part of ``sahelwire.release``; may import what ``release`` may, and ``release.croissant``.
"""
