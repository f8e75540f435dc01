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

# What the card's loading code imports besides the standard library: datasets, and
# huggingface_hub, which datasets installs. A researcher has the card and pip, not the
# sahelwire package (not on PyPI) nor the source repository's releases/ (a walkthrough ran
# the card's check_loaded line: ModuleNotFoundError).
RESEARCHER_PACKAGES = ("datasets", "huggingface_hub")


def how_to_load_section(
    settings: Settings,
    configs: Mapping[str, TableSpec],
    sizes: Mapping[str, Mapping[str, tuple[int, int]]],
    pins: Mapping[str, str],
) -> str:
    """``pins``: the project's exact pins of :data:`RESEARCHER_PACKAGES` (io.config.exact_pins),
    the versions that built and loaded this release; a package not pinned is named bare."""
    repo, tag = settings.hub_repo_id, f"v{settings.data_version}"
    published = [name for name in configs if sizes.get(name)]
    width = max(len(name) for name in published) if published else 0
    first = published[0] if published else "documents"
    install = " ".join(
        f'"{name}=={pins[name]}"' if name in pins else name for name in RESEARCHER_PACKAGES
    )
    lines = [
        "Needs only `datasets` (and `huggingface_hub`, which it installs), at the versions "
        "this release was built and checked with:",
        "",
        "```sh",
        f"pip install {install}",
        "```",
        "",
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
    lines += [
        "",
        "# Offline, datasets can serve a cached copy of ANOTHER version for a pinned",
        "# revision (datasets #7928). To be sure of the bytes, download the release's files",
        "# at its tag (the huggingface_hub cache is keyed by commit), check each against the",
        "# checksums.sha256 published with them, and load that folder:",
        "import hashlib",
        "from pathlib import Path",
        "from huggingface_hub import snapshot_download",
        "",
        f'folder = Path(snapshot_download("{repo}", repo_type="dataset", revision=REVISION))',
        'for line in (folder / "checksums.sha256").read_text(encoding="utf-8").splitlines():',
        '    sha256, name = line.split("  ", 1)',
        "    if hashlib.sha256((folder / name).read_bytes()).hexdigest() != sha256:",
        '        raise SystemExit(f"{name} is not the file of {REVISION}: its sha256 differs")',
        "# A folder loads offline; load_dataset ignores revision= for a folder: it is",
        "# whatever the folder holds (here: the files just checked).",
        f'{first} = load_dataset(str(folder), "{first}")',
        "```",
        "",
        "For maintainers, from a clone of the source repository (the `sahelwire` command; "
        "the package is not on PyPI): every config against the release manifest "
        f"`releases/{tag}.json` (sha256 of every file at the tag, rows per split and their "
        "content, and the commit behind the tag):",
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
