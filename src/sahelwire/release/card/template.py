"""The dataset card: DATASET_CARD.md with its generated parts filled in.

DATASET_CARD.md is both the template and the checked-in card. Generated parts live
between markers -- ``# sahelwire:begin generated`` / ``# sahelwire:end generated``
inside the YAML front matter (``configs`` and ``dataset_info``), and
``<!-- sahelwire:begin NAME -->`` / ``<!-- sahelwire:end NAME -->`` in the prose -- and
are rewritten from one place, so the card's YAML is never hand-edited out of sync
(huggingface_hub #3043). ``render_card(render_card(x)) == render_card(x)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from sahelwire.io.text_files import read_utf8
from sahelwire.release.card.facts import AnnotationFacts
from sahelwire.schema.table_specs import TableSpecs

if TYPE_CHECKING:
    import datasets

_YAML_BLOCK = re.compile(
    r"(# sahelwire:begin generated\n)(.*?)(# sahelwire:end generated)", re.DOTALL
)
_SECTION = re.compile(
    r"(<!-- sahelwire:begin (?P<name>[a-z_-]+) -->\n)(.*?)(<!-- sahelwire:end (?P=name) -->)",
    re.DOTALL,
)


# The prose sections the build fills (its ``sections``; `validate` checks the markers of
# these, so a card the build would refuse is refused before any build work).
CARD_SECTIONS = frozenset(
    {
        "annotation",
        "baseline",
        "citation",
        "croissant",
        "examples",
        "fields",
        "figures",
        "how_to_load",
        "leakage",
        "licensing",
        "ner_bio",
        "outlets",
        "plots",
        "provenance",
        "splits",
        "statistics",
        "taxonomy",
        "version",
    }
)


class CardTemplateError(ValueError):
    """DATASET_CARD.md lacks a marker the build needs, or names an unknown section."""


def read_card_template(path: Path) -> str:
    """DATASET_CARD.md's text; CardTemplateError naming it when it cannot be read or is not
    UTF-8 (``build`` and ``card`` then say so, with no traceback)."""
    try:
        return read_utf8(path)
    except ValueError as exc:  # read_utf8 names the file and why (missing, a folder, a byte)
        raise CardTemplateError(str(exc)) from None


LICENSE_FILE = "LICENSE.md"  # the card's license_link: the licensing statement as a file
# The loaded dataset's ``info.license`` (datasets carries it from dataset_info).
LICENSE_SUMMARY = (
    "other: annotations, metadata and derived views CC BY 4.0; article texts copyrighted "
    "by their publishers, redistributed for non-commercial research only (LICENSE.md)"
)


@dataclass(frozen=True)
class DatasetInfoText:
    """What ``load_dataset`` users should see in ``ds.info``, and the card's YAML facts.

    datasets 5.x reads ``description``, ``citation``, ``license`` and ``homepage`` from a
    config's ``dataset_info`` entry in the card's YAML, and the version from its
    ``configs`` entry (it becomes the builder config's version, which ``info.version``
    takes); Parquet metadata carries only the features. Tested in
    tests/release/test_load_dataset.py from a separate process.
    """

    version: str
    summary: str
    citation: str
    license: str
    homepage: str
    annotations_creators: tuple[str, ...]


def annotations_creators(facts: AnnotationFacts) -> tuple[str, ...]:
    """The Hub's annotations_creators tags from who annotated (account naming rule)."""
    tags = []
    if facts.human_accounts:
        tags.append("expert-generated")
    if facts.ai_accounts:
        tags.append("machine-generated")
    return tuple(tags) or ("no-annotation",)


def size_category(n: int) -> str:
    """The Hub's size_categories tag for ``n`` examples."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")]
    bounds += [(1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M")]
    return next((tag for limit, tag in bounds if n < limit), "n>10M")


def front_matter(
    configs: Mapping[str, datasets.Features],
    specs: TableSpecs,
    split_sizes: Mapping[str, Mapping[str, tuple[int, int]]],
    info: DatasetInfoText,
) -> str:
    """The generated YAML: Hub tags from the data, ``configs`` (data_files per split and the
    version) and ``dataset_info`` (features, sizes, description, citation, licence)."""
    import datasets  # here: `validate` reads this module's markers and needs no `datasets`

    config_entries = []
    infos = []
    for name, features in configs.items():
        sizes = split_sizes[name]
        present = list(sizes)  # in the build's order: train, validation, test (or unsplit)
        if not present:
            continue  # a config with no rows yet is not announced (the card's statistics say so)
        entry: dict[str, object] = {"config_name": name}
        if name == specs.default_config:
            entry["default"] = True
        entry["data_files"] = [{"split": s, "path": f"data/{name}/{s}-*.parquet"} for s in present]
        entry["version"] = info.version
        config_entries.append(entry)
        described = datasets.DatasetInfo(
            description=f"{info.summary}\n\nConfig {name}: {specs.configs[name].description}",
            citation=info.citation,
            license=info.license,
            homepage=info.homepage,
            features=features,
            config_name=name,
        )
        entry_info = described._to_yaml_dict()
        entry_info.update(
            {
                "description": described.description,
                "citation": described.citation,
                "license": described.license,
                "homepage": described.homepage,
            }
        )
        entry_info["splits"] = [
            {"name": s, "num_bytes": sizes[s][1], "num_examples": sizes[s][0]} for s in present
        ]
        entry_info["download_size"] = sum(sizes[s][1] for s in present)
        entry_info["dataset_size"] = entry_info["download_size"]
        infos.append(entry_info)
    documents = sum(n for n, _ in split_sizes.get(specs.default_config, {}).values())
    return yaml.safe_dump(
        {
            "annotations_creators": list(info.annotations_creators),
            "size_categories": [size_category(documents)],
            "configs": config_entries,
            "dataset_info": infos,
        },
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )


def template_errors(template: str, sections: Iterable[str] = CARD_SECTIONS) -> list[str]:
    """What keeps ``template`` from being filled with ``sections``: no generated YAML block,
    a section marker the build does not fill, or one it fills that has no marker."""
    errors = []
    if not _YAML_BLOCK.search(template):
        errors.append("no '# sahelwire:begin generated' block in the YAML")
    found = {m.group("name") for m in _SECTION.finditer(template)}
    unknown = found - set(sections)
    if unknown:
        errors.append(f"unknown generated sections {sorted(unknown)}")
    missing = set(sections) - found
    if missing:
        errors.append(f"missing generated sections {sorted(missing)}")
    return errors


def render_card(
    template: str, generated_yaml: str, sections: Mapping[str, Callable[[], str]]
) -> str:
    """Fill every generated part of ``template``; unknown or missing markers are errors."""
    errors = template_errors(template, sections)
    if errors:
        raise CardTemplateError(f"DATASET_CARD.md: {errors[0]}")
    out = _YAML_BLOCK.sub(lambda m: m.group(1) + generated_yaml + m.group(3), template, count=1)
    return _SECTION.sub(lambda m: m.group(1) + sections[m.group("name")]() + m.group(4), out)
