"""Table shapes from schemas/tables.yaml, turned into Arrow schemas and HF Features.

Source tables (flat, long) hold labels as strings; published configs hold them as
ClassLabel integers. Both shapes come from the same column specs, so the Parquet
writer, the card's ``dataset_info`` and pandera can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from sahelwire.io.text_files import read_yaml_mapping
from sahelwire.schema.taxonomy import Taxonomy

if TYPE_CHECKING:
    import datasets

_SCALARS: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
}

_POLARS_SCALARS: dict[str, Any] = {
    "string": pl.Utf8,
    "int32": pl.Int32,
    "int64": pl.Int64,
    "float64": pl.Float64,
    "bool": pl.Boolean,
}


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    type: Any  # a scalar name, {"class_label": path} or {"list": type}
    nullable: bool
    description: str
    checks: dict[str, Any]


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    columns: tuple[ColumnSpec, ...]
    key: tuple[str, ...]
    default: bool = False
    # Published configs: "article" when rows follow their article's split, "none" when
    # the config is one table (registries, folds) published as the ``unsplit`` split.
    split_by: str = "article"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        return next(c for c in self.columns if c.name == name)

    @property
    def references(self) -> dict[str, str]:
        """Column -> "<config>.<column>" it joins to (schemas/tables.yaml ``references``)."""
        return {
            c.name: str(c.checks["references"]) for c in self.columns if "references" in c.checks
        }


# The one name of the article id column in every published config about articles.
ARTICLE_ID = "article_id"


@dataclass(frozen=True)
class TableSpecs:
    source: dict[str, TableSpec]
    configs: dict[str, TableSpec]
    structs: dict[str, tuple[ColumnSpec, ...]]
    unsplit: str = "full"

    @property
    def default_config(self) -> str:
        return next(name for name, spec in self.configs.items() if spec.default)

    def splits_of(self, config: str, splits: tuple[str, ...]) -> tuple[str, ...]:
        """The splits a published config can have: ``splits``, or the one unsplit name."""
        return splits if self.configs[config].split_by == "article" else (self.unsplit,)


_RESERVED = {"name", "type", "nullable", "description"}


def _columns(raw: list[dict[str, Any]]) -> tuple[ColumnSpec, ...]:
    return tuple(
        ColumnSpec(
            name=str(c["name"]),
            type=c["type"],
            nullable=bool(c.get("nullable", False)),
            description=str(c.get("description", "")),
            checks={k: v for k, v in c.items() if k not in _RESERVED},
        )
        for c in raw
    )


def _table(name: str, raw: dict[str, Any]) -> TableSpec:
    key = raw.get("key", ())
    split_by = str(raw.get("split_by", "article"))
    if split_by not in ("article", "none"):
        raise ValueError(f"tables.yaml: {name}.split_by must be article or none, not {split_by!r}")
    return TableSpec(
        name=name,
        description=str(raw.get("description", "")),
        columns=_columns(raw["columns"]),
        key=(key,) if isinstance(key, str) else tuple(key),
        default=bool(raw.get("default", False)),
        split_by=split_by,
    )


@cache
def _load_cached(path: Path, mtime_ns: int) -> TableSpecs:
    del mtime_ns
    data = read_yaml_mapping(path)
    try:
        return TableSpecs(
            source={n: _table(n, t) for n, t in data["source_tables"].items()},
            configs={n: _table(n, t) for n, t in data["configs"].items()},
            structs={n: _columns(cols) for n, cols in data["structs"].items()},
            unsplit=str(data.get("unsplit", "full")),
        )
    except (AttributeError, KeyError, TypeError) as exc:  # a part missing or of another shape
        raise ValueError(f"{path}: not a table spec file ({type(exc).__name__}: {exc})") from None


def load_table_specs(path: Path) -> TableSpecs:
    """Load schemas/tables.yaml (cached per file version)."""
    return _load_cached(path.resolve(), path.stat().st_mtime_ns)


class ShapeBuilder:
    """Builds Arrow types and HF features for column types of one TableSpecs."""

    def __init__(self, specs: TableSpecs, taxonomy: Taxonomy) -> None:
        self.specs = specs
        self.taxonomy = taxonomy

    def arrow_type(self, type_: Any, *, published: bool) -> pa.DataType:
        if isinstance(type_, str):
            if type_ in _SCALARS:
                return _SCALARS[type_]
            return pa.struct(
                [
                    pa.field(c.name, self.arrow_type(c.type, published=published))
                    for c in self.specs.structs[type_]
                ]
            )
        if "class_label" in type_:
            # datasets stores ClassLabel as int64 in Arrow/Parquet.
            return pa.int64() if published else pa.string()
        if "list" in type_:
            return pa.list_(self.arrow_type(type_["list"], published=published))
        raise ValueError(f"unknown column type {type_!r}")

    def arrow_schema(self, table: TableSpec, *, published: bool) -> pa.Schema:
        return pa.schema(
            [
                pa.field(c.name, self.arrow_type(c.type, published=published), nullable=c.nullable)
                for c in table.columns
            ]
        )

    def feature(self, type_: Any) -> Any:
        # Imported here, not at the top: `datasets` is ≈0.6 s of every command's start
        # (validate, agreement, ingest…) and only the published features need it.
        import datasets

        if isinstance(type_, str):
            if type_ in _SCALARS:
                return datasets.Value(type_ if type_ != "float64" else "float64")
            return {c.name: self.feature(c.type) for c in self.specs.structs[type_]}
        if "class_label" in type_:
            return datasets.ClassLabel(names=list(self.taxonomy.class_names(type_["class_label"])))
        if "list" in type_:
            return datasets.List(self.feature(type_["list"]))
        raise ValueError(f"unknown column type {type_!r}")

    def features(self, config: TableSpec) -> datasets.Features:
        import datasets

        return datasets.Features({c.name: self.feature(c.type) for c in config.columns})


def polars_schema(table: TableSpec) -> dict[str, Any]:
    """The polars shape of a flat source table: labels (class_label) are strings there."""
    schema: dict[str, Any] = {}
    for c in table.columns:
        if isinstance(c.type, str) and c.type in _POLARS_SCALARS:
            schema[c.name] = _POLARS_SCALARS[c.type]
        elif isinstance(c.type, dict) and "class_label" in c.type:
            schema[c.name] = pl.Utf8
        else:
            raise ValueError(f"{table.name}.{c.name}: {c.type!r} is not a flat column type")
    return schema
