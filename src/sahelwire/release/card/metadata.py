"""The card's release sections: how to load (every config, pinned revision), Croissant, citation.

Generated so the version, the Hub id and the list of configs in the code examples can
never disagree with the release they describe.
"""

from __future__ import annotations

from collections.abc import Mapping

from sahelwire.io.config import Settings
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
    lines += [
        "",
        "# A local build folder works the same way, offline:",
        f'documents = load_dataset("dist", "{published[0] if published else "documents"}")',
        "",
        "# datasets can serve a stale cache for a pinned revision (datasets #7928);",
        "# force a fresh download when in doubt:",
        f'documents = load_dataset("{repo}", "documents", revision=REVISION, download_mode="force_redownload")',
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
