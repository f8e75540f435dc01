"""The Label Studio side: the managed server (own venv, 127.0.0.1), the SDK client, the
labeling config generated from the taxonomy, ``push`` (tasks + pre-annotations from the
offline pre-labeller), ``pull`` (``annotations/exports/<article_id>.json`` in the repository
form of ``identity``: annotators by e-mail, annotations by UUID, repository ids), ``restore``
(a fresh server brought to the repository's state), the per-server-instance record that
bounds ``--prune`` (``instance``), invite links, annotation worksheets and their submission,
the export-list reader and the code-point offset conversion Label Studio's exports need.

May import ``sahelwire.io``, ``sahelwire.schema`` and ``sahelwire.raw``.
"""
