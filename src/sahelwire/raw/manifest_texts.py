"""The raw texts of the manifest's articles, each read when it is asked for.

The export parser needs an article's text only while it checks that article's task. Reading
every text up front, as the parser once did, holds the whole corpus in memory: a
few GB at a million articles. :class:`ManifestTexts` holds the manifest's ids and hashes only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import polars as pl

from sahelwire.io.paths import ProjectPaths
from sahelwire.raw.manifest import iter_manifest


class ManifestTexts(Mapping[str, tuple[str, str]]):
    """article id -> (raw text, manifest sha256), each text read when it is asked for.

    Every manifest article whose text is readable: an article whose text file is missing
    or not UTF-8 is absent (validation reports it itself); a later manifest row wins.
    """

    def __init__(self, paths: ProjectPaths, sha: dict[str, str] | None = None) -> None:
        """``sha``: the manifest's id -> sha256, when read already (:meth:`quick`)."""
        self.paths = paths
        # The text last looked at: "aid in texts" then "texts[aid]" reads the file once.
        self._last: tuple[str, str | None] | None = None
        if sha is None:
            sha = {}
            for row in iter_manifest(paths.manifest_file):
                sha[row["id"]] = row["sha256"]
        self.sha = sha

    @classmethod
    def quick(cls, paths: ProjectPaths) -> ManifestTexts:
        """The same, its ids and hashes read by polars' NDJSON reader: ≈1 s at 1M rows,
        where :func:`iter_manifest` (a ``json.loads`` per row) takes ≈5 s.

        For a caller that checks what it makes of a text again (a parse worker of the
        export cache): a manifest polars reads otherwise than :func:`iter_manifest` (a
        broken one, which validation reports) may give other hashes, and so misses. One it
        cannot read as two string columns without nulls is read as the constructor does.
        """
        try:
            frame = pl.read_ndjson(
                paths.manifest_file, schema={"id": pl.String, "sha256": pl.String}
            )
        except Exception:  # polars raises several kinds: read it as ever
            return cls(paths)
        if frame.null_count().sum_horizontal().item():
            return cls(paths)
        return cls(paths, dict(zip(frame["id"].to_list(), frame["sha256"].to_list(), strict=True)))

    def _text(self, article_id: str) -> str | None:
        if self._last is not None and self._last[0] == article_id:
            return self._last[1]
        try:
            text: str | None = self.paths.raw_text_path(article_id).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
        self._last = (article_id, text)
        return text

    def __getitem__(self, article_id: str) -> tuple[str, str]:
        sha = self.sha[article_id]
        text = self._text(article_id)
        if text is None:
            raise KeyError(article_id)
        return text, sha

    def __contains__(self, article_id: object) -> bool:
        return (
            isinstance(article_id, str)
            and article_id in self.sha
            and self._text(article_id) is not None
        )

    def __iter__(self) -> Iterator[str]:
        return (aid for aid in self.sha if self._text(aid) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)
