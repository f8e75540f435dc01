"""pandera (polars backend) schemas generated from schemas/tables.yaml and the taxonomy.

pandera cannot type nested list/struct columns (pandera #823, #656, #1941), so nested
columns of published tables are validated by exploding them into flat frames checked
against a schema generated from their struct spec (see ``nested_frames``).
"""

from __future__ import annotations

from typing import Any

import pandera.polars as pa
import polars as pl

from sahelwire.schema.table_specs import ColumnSpec, TableSpec, TableSpecs
from sahelwire.schema.taxonomy import Taxonomy

_POLARS: dict[str, Any] = {
    "string": pl.Utf8,
    "int32": pl.Int32,
    "int64": pl.Int64,
    "float64": pl.Float64,
    "bool": pl.Boolean,
}


def _label_check(taxonomy: Taxonomy, path: str, *, published: bool, nullable: bool) -> pa.Check:
    names = taxonomy.class_names(path)
    if not published:
        return pa.Check.isin(list(names), name=f"label_in_taxonomy:{path}")
    # ClassLabel integers; -1 is the datasets convention for "no label".
    low = -1 if nullable else 0
    return pa.Check.in_range(low, len(names) - 1, name=f"class_index:{path}")


def _layer_label_check(taxonomy: Taxonomy) -> pa.Check:
    allowed = {(layer.name, label) for layer in taxonomy.span_layers for label in layer.label_names}

    def check(data: pa.PolarsData) -> pl.LazyFrame:
        pairs = [f"{layer}\x1f{label}" for layer, label in sorted(allowed)]
        key = pl.concat_str([pl.col("layer"), pl.col(data.key)], separator="\x1f")
        return data.lazyframe.select(key.is_in(pairs))

    return pa.Check(check, name="label_in_layer_taxonomy")


def column_checks(col: ColumnSpec, taxonomy: Taxonomy, *, published: bool) -> list[pa.Check]:
    checks: list[pa.Check] = []
    c = col.checks
    if "pattern" in c:
        checks.append(pa.Check.str_matches(f"^(?:{c['pattern']})$", name=f"pattern:{c['pattern']}"))
    if "ge" in c:
        checks.append(pa.Check.ge(c["ge"]))
    if "le" in c:
        checks.append(pa.Check.le(c["le"]))
    if "isin" in c:
        checks.append(pa.Check.isin(list(c["isin"]), name=f"isin:{','.join(c['isin'])}"))
    if "isin_keys" in c:
        section = c["isin_keys"]
        keys = (
            taxonomy.layer_names
            if section == "span_layers"
            else tuple(f.name for f in taxonomy.document_fields)
        )
        checks.append(pa.Check.isin(list(keys), name=f"in_taxonomy:{section}"))
    if c.get("isin_layer_labels"):
        checks.append(_layer_label_check(taxonomy))
    if isinstance(col.type, dict) and "class_label" in col.type:
        checks.append(
            _label_check(
                taxonomy, col.type["class_label"], published=published, nullable=col.nullable
            )
        )
    return checks


def _dtype(col: ColumnSpec, *, published: bool) -> Any:
    if isinstance(col.type, str):
        return _POLARS.get(col.type)  # None for struct types: dtype left unchecked
    if "class_label" in col.type:
        return pl.Int64 if published else pl.Utf8
    return None  # lists: checked by exploding (nested_frames)


def dataframe_schema(
    table: TableSpec, taxonomy: Taxonomy, *, published: bool
) -> pa.DataFrameSchema:
    """A strict pandera schema for ``table`` (columns, dtypes, nullability, checks, unique)."""
    columns = {
        col.name: pa.Column(
            _dtype(col, published=published),
            checks=column_checks(col, taxonomy, published=published),
            nullable=col.nullable,
            unique=bool(col.checks.get("unique", False)),
            description=col.description,
        )
        for col in table.columns
    }
    unique = list(table.key) if len(table.key) > 1 else None
    return pa.DataFrameSchema(columns, strict=True, unique=unique, name=table.name)


def struct_table(specs: TableSpecs, parent: TableSpec, column: str) -> TableSpec | None:
    """The flat TableSpec of a list<struct> column (parent key + struct fields), or None."""
    col = parent.column(column)
    if not (
        isinstance(col.type, dict) and "list" in col.type and isinstance(col.type["list"], str)
    ):
        return None
    struct = col.type["list"]
    if struct not in specs.structs:
        return None
    return TableSpec(
        name=f"{parent.name}.{column}", description="", columns=specs.structs[struct], key=()
    )


def nested_frames(df: pl.DataFrame, table: TableSpec, specs: TableSpecs) -> dict[str, pl.DataFrame]:
    """Explode every list<struct> column of ``df`` into a flat frame of its struct fields."""
    out: dict[str, pl.DataFrame] = {}
    for col in table.columns:
        sub = struct_table(specs, table, col.name)
        if sub is None:
            continue
        flat = df.select(pl.col(col.name)).explode(col.name).drop_nulls().unnest(col.name)
        out[col.name] = flat.select([c for c in flat.columns if not _is_nested(flat.schema[c])])
    return out


def _is_nested(dtype: Any) -> bool:
    return isinstance(dtype, (pl.List, pl.Struct))


def flat_columns(table: TableSpec, df: pl.DataFrame) -> TableSpec:
    """``table`` restricted to the non-nested columns present in ``df``."""
    keep = tuple(
        c for c in table.columns if c.name in df.columns and not _is_nested(df.schema[c.name])
    )
    return TableSpec(table.name, table.description, keep, table.key, table.default)
