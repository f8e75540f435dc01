"""Versions of the published dataset: release manifests under ``releases/`` and cutting a
release (bump, manifest, CHANGELOG, commit, tag), the data diff between releases, and
publishing a released build to the Hub.

May import every stage below it, up to ``sahelwire.release``.
"""
