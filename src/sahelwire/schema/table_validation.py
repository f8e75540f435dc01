"""Run a generated pandera schema lazily and turn its failures into Problems.

Lazy validation collects every failure in one pass; each becomes a Problem naming the
file, the record (the table's key value), the field, the rule and the offending value.
"""

from __future__ import annotations

import dataclasses

import pandera.errors
import polars as pl

from sahelwire.schema.pandera_schemas import (
    dataframe_schema,
    flat_columns,
    nested_frames,
    struct_table,
)
from sahelwire.schema.problems import Problem
from sahelwire.schema.table_specs import TableSpec, TableSpecs
from sahelwire.schema.taxonomy import Taxonomy


def _record(df: pl.DataFrame, key: tuple[str, ...], index: int | None) -> str | None:
    if index is None or not key or index >= df.height:
        return None if index is None else f"row {index}"
    row = df.row(index, named=True)
    return "/".join(str(row.get(k)) for k in key if k in row) or f"row {index}"


UNIQUE = "field_uniqueness"  # pandera's name of a column's `unique` check


def _rows_named(problem: Problem, shared: dict[tuple[str | None, object], list[int]]) -> Problem:
    rows = shared.get((problem.field, problem.value)) if problem.rule == UNIQUE else None
    if not rows:
        return problem
    where = ", ".join(str(i + 1) for i in sorted(rows))
    return dataclasses.replace(problem, message=f"the value is on {len(rows)} rows ({where})")


def validate_frame(
    df: pl.DataFrame,
    table: TableSpec,
    taxonomy: Taxonomy,
    *,
    file: str,
    published: bool = False,
    record_key: tuple[str, ...] | None = None,
) -> list[Problem]:
    """Problems of ``df`` against ``table`` (empty list when valid)."""
    schema = dataframe_schema(table, taxonomy, published=published)
    key = record_key if record_key is not None else table.key
    try:
        schema.validate(df, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        problems = []
        # pandera lists a value that must be unique once per row holding it: one Problem per
        # value, naming the rows (two identical lines said nothing about where they were).
        shared: dict[tuple[str | None, object], list[int]] = {}
        for case in exc.failure_cases.iter_rows(named=True):
            index = case.get("index")
            rule = str(case.get("check"))
            if (
                rule == UNIQUE
                and index is not None
                and isinstance(case.get("failure_case"), str | int)
            ):
                rows = shared.setdefault((case.get("column"), case.get("failure_case")), [])
                rows.append(index)
                if len(rows) > 1:
                    continue
            problems.append(
                Problem(
                    file=file,
                    record=_record(df, key, index),
                    field=case.get("column"),
                    rule=rule,
                    value=case.get("failure_case"),
                    # pandera's own text ("Column check failed") says nothing the rule does not
                    message="",
                )
            )
        return [_rows_named(p, shared) for p in problems]
    except pandera.errors.SchemaError as exc:  # non-lazy failure (e.g. unknown column)
        return [Problem(file=file, record=None, field=None, rule="schema", message=str(exc))]
    return []


def validate_published(
    df: pl.DataFrame, table: TableSpec, specs: TableSpecs, taxonomy: Taxonomy, *, file: str
) -> list[Problem]:
    """A published table: flat columns with pandera, each list<struct> column exploded."""
    # Problems name the row by the config's key (schemas/tables.yaml), else by its position.
    key = table.key or ("article_id", "start", "end")
    problems = validate_frame(
        df.select(list(flat_columns(table, df).column_names)),
        flat_columns(table, df),
        taxonomy,
        file=file,
        published=True,
        record_key=tuple(k for k in key if k in df.columns),
    )
    missing = set(table.column_names) - set(df.columns)
    extra = set(df.columns) - set(table.column_names)
    for name in sorted(missing):
        problems.append(Problem(file, None, name, "column_present", message="column missing"))
    for name in sorted(extra):
        problems.append(
            Problem(
                file, None, name, "no_extra_columns", message="column not in schemas/tables.yaml"
            )
        )
    for column, flat in nested_frames(df, table, specs).items():
        sub = struct_table(specs, table, column)
        assert sub is not None
        sub = flat_columns(sub, flat)
        problems += validate_frame(
            flat.select(list(sub.column_names)),
            sub,
            taxonomy,
            file=f"{file}:{column}",
            published=True,
            record_key=("start", "end"),
        )
    return problems
