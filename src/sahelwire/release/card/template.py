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
from collections.abc import Callable, Mapping

import datasets
import yaml

_YAML_BLOCK = re.compile(
    r"(# sahelwire:begin generated\n)(.*?)(# sahelwire:end generated)", re.DOTALL
)
_SECTION = re.compile(
    r"(<!-- sahelwire:begin (?P<name>[a-z_-]+) -->\n)(.*?)(<!-- sahelwire:end (?P=name) -->)",
    re.DOTALL,
)


class CardTemplateError(ValueError):
    """DATASET_CARD.md lacks a marker the build needs, or names an unknown section."""


def front_matter(
    configs: Mapping[str, datasets.Features],
    default: str,
    split_sizes: Mapping[str, Mapping[str, tuple[int, int]]],
) -> str:
    """YAML for ``configs`` (data_files per split) and ``dataset_info`` (features, sizes)."""
    config_entries = []
    infos = []
    for name, features in configs.items():
        sizes = split_sizes[name]
        present = list(sizes)  # in the build's order: train, validation, test (or unsplit)
        if not present:
            continue  # a config with no rows yet is not announced (the card's statistics say so)
        entry: dict[str, object] = {"config_name": name}
        if name == default:
            entry["default"] = True
        entry["data_files"] = [{"split": s, "path": f"data/{name}/{s}-*.parquet"} for s in present]
        config_entries.append(entry)
        info = datasets.DatasetInfo(features=features, config_name=name)._to_yaml_dict()
        info["splits"] = [
            {"name": s, "num_bytes": sizes[s][1], "num_examples": sizes[s][0]} for s in present
        ]
        info["download_size"] = sum(sizes[s][1] for s in present)
        info["dataset_size"] = info["download_size"]
        infos.append(info)
    return yaml.safe_dump(
        {"configs": config_entries, "dataset_info": infos},
        sort_keys=False,
        allow_unicode=True,
        width=100,
    )


def render_card(
    template: str, generated_yaml: str, sections: Mapping[str, Callable[[], str]]
) -> str:
    """Fill every generated part of ``template``; unknown or missing markers are errors."""
    if not _YAML_BLOCK.search(template):
        raise CardTemplateError(
            "DATASET_CARD.md: no '# sahelwire:begin generated' block in the YAML"
        )
    out = _YAML_BLOCK.sub(lambda m: m.group(1) + generated_yaml + m.group(3), template, count=1)
    found = {m.group("name") for m in _SECTION.finditer(out)}
    unknown = found - set(sections)
    if unknown:
        raise CardTemplateError(f"DATASET_CARD.md: unknown generated sections {sorted(unknown)}")
    missing = set(sections) - found
    if missing:
        raise CardTemplateError(f"DATASET_CARD.md: missing generated sections {sorted(missing)}")
    return _SECTION.sub(lambda m: m.group(1) + sections[m.group("name")]() + m.group(4), out)
