"""Versions of the published dataset: release manifests under ``releases/`` and cutting a
release (bump, manifest, CHANGELOG, commit, tag), the data diff between releases,
publishing a released build to the Hub, verifying and rebuilding a release, and re-opening
one for annotation (its gold as Label Studio predictions, ``reopen``).

May import every stage below it, up to ``sahelwire.release``.
"""
