"""The card's release sections: how to load (every config, pinned revision), Croissant, citation.

Generated so the version, the Hub id and the list of configs in the code examples can
never disagree with the release they describe.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sahelwire.io.config import Settings
from sahelwire.io.release_manifests import current_release_manifest
from sahelwire.release.croissant import CROISSANT_FILE, citation
from sahelwire.schema.table_specs import TableSpec


def how_to_load_section(
    settings: Settings,
    configs: Mapping[str, TableSpec],
    sizes: Mapping[str, Mapping[str, tuple[int, int]]],
) -> str:
    repo, tag = settings.hub_repo_id, f"v{settings.data_version}"
    published = [name for name in configs if sizes.get(name)]
    width = max(len(name) for name in published) if published else 0
    lines = [
        "```python",
        "from datasets import load_dataset",
        "",
        f'REVISION = "{tag}"  # pin the data version you cite: one tag per release',
    ]
    for name in published:
        lines.append(
            f'{name:{width}} = load_dataset("{repo}", "{name}", revision=REVISION)'
            + ("  # default config" if configs[name].default else "")
        )
    first = published[0] if published else "documents"
    lines += [
        "",
        "# Offline, datasets can serve a cached copy of ANOTHER version for a pinned",
        "# revision (datasets #7928). Check what you loaded against the release manifest",
        f"# (releases/{tag}.json in the project repository; needs the sahelwire package):",
        "from sahelwire.versions.verify import check_loaded",
        f'check_loaded({first}, "releases/{tag}.json", "{first}", repo_id="{repo}")',
        "# It raises VersionMismatch naming the config, split, commit and rows that differ;",
        '# then load again online with download_mode="force_redownload".',
        "",
        "# A local folder (a download, or a build) loads the same way, offline; but",
        "# load_dataset ignores revision= for a folder: it is whatever the folder holds.",
        f'local = load_dataset("dist", "{first}")',
        "```",
        "",
        "Or from a shell, for every config (sha256 of every file at the tag, rows per split",
        "and their content, and the commit behind the tag):",
        "",
        "```sh",
        f"sahelwire verify {tag} --repo-id {repo}  # --streaming: streaming loads",
        f"sahelwire verify {tag} --path FOLDER  # a download, or `build --release {tag} --out FOLDER`",
        "```",
    ]
    missing = [name for name in configs if name not in published]
    note = (
        "\nNot published in this version (no rows yet): "
        + ", ".join(f"`{m}`" for m in missing)
        + ".\n"
        if missing
        else ""
    )
    return "\n".join(lines) + "\n" + note


def released_files(root: Path, manifest: Path, version: str) -> dict[str, str] | None:
    """Release manifest ``manifest``'s files, name -> sha256; None when ``version`` was never
    released (being prepared: ``sahelwire release`` writes the manifest after its build).
    Read strictly (ManifestDamaged): a damaged manifest read as none gave the plain version
    line, calling a build the release without comparing it (``validate`` refuses it first)."""
    found = current_release_manifest(root, manifest, version)
    if found is None:
        return None
    return {str(name): str(f["sha256"]) for name, f in found["files"].items()}


def version_section(
    version: str,
    released: Mapping[str, str] | None,
    data_files: Mapping[str, tuple[int, str]],
    *,
    card_differs: bool = False,
) -> str:
    """The card's version line; it says so when this build is not release ``version``
    (``released``: that release's files, :func:`released_files`): changes made after a
    release are built under the release's number until the next release, and the card
    called such a build that release (a researcher's walkthrough).

    ``data_files``: this build's data files, name -> (size, sha256). The card cannot be
    compared before it is written: the build renders it with the plain line, and when that
    differs from the release's card asks again with ``card_differs``."""
    line = f"Data version **{version}**.\n"
    if released is None:
        return line
    tag = f"v{version}"
    data = {n: d for n, d in released.items() if n.startswith("data/")}
    names = set(data) | set(data_files)
    differ = sorted(n for n in names if data.get(n) != data_files.get(n, (0, None))[1])
    cite = (
        f"so this build is not that release. Cite a release (the Hub's tag {tag}, or the "
        f"folder `sahelwire build --release {tag}` makes); `sahelwire release` makes these "
        "changes the next version.\n"
    )
    if differ:
        return (
            f"Data version **{version}**, with changes not released: {len(differ)} of "
            f"{len(names)} data files differ from release {tag}'s (`releases/{tag}.json`), " + cite
        )
    if card_differs:
        return (
            f"Data version **{version}**, with changes not released: the data files are release "
            f"{tag}'s, but this card and the metadata differ from the release's "
            f"(`releases/{tag}.json`), " + cite
        )
    return line


def croissant_section(settings: Settings) -> str:
    return (
        f"[`{CROISSANT_FILE}`]({CROISSANT_FILE}) describes every config in MLCommons Croissant 1.1 "
        "(every file with its SHA-256 and size; one record set per config with its field types, "
        "key, references to the configs it joins and the split of each file) with the "
        "Responsible-AI fields computed from the data, for data version "
        f"{settings.data_version}. It loads with `mlcroissant`:\n\n"
        "```python\n"
        "import mlcroissant as mlc\n"
        f'ds = mlc.Dataset(jsonld="dist/{CROISSANT_FILE}")\n'
        'for record in ds.records(record_set="mentions"):\n'
        "    ...\n"
        "```\n"
    )


def citation_section(settings: Settings, date: str | None) -> str:
    when = (
        f" The year is that of the data: its newest annotation or prediction is dated {date}."
        if date
        else " Nothing is annotated yet, so the entry has no year."
    )
    return (
        "If you use SahelWire, cite the data version you used." + when + "\n\n"
        "```bibtex\n" + citation(settings, date) + "```\n"
    )
