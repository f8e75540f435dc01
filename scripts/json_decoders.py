"""How fast can a Label Studio export list be decoded on one core, by each decoder a user
could reach for? The ceiling of ``parse + validate`` (issue 17's target: 200 MB/s on this
2-core machine) is the decoder's: every rule runs on what it returns.

    .venv/bin/python scripts/json_decoders.py EXPORT.json
    # the export list a bench run wrote: --keep DIR, then DIR/*/corpus/export.json
    # (--stages ingest,json_load,parse_export writes it). Pin it to one core for a per-core
    # figure: taskset -c 1 ...

Each decoder decodes the whole file three times (GC off, the best time kept) and prints MB/s
and its speed as a multiple of ``json.loads``'s (steadier than MB/s on a shared machine).
``StrictDecoder`` is ours (duplicate keys, NaN, huge numbers, lone surrogates refused). The
others are measured only if installed (they are not dependencies: ``pip install orjson msgspec
pysimdjson`` in a scratch venv with this project on ``PYTHONPATH``); none refuses a duplicate
key, which the fresh-server issue's rules require. ``msgspec typed`` decodes into Structs of
the fields the parser reads. ``simdjson lazy`` only indexes the document (no Python objects);
``simdjson as_list`` makes them. DuckDB ``read_json`` unnests every result item in C++:
inferring the columns, with the parser's columns declared, and with the keys checked in SQL.
Nothing is asserted: the figures go into docs/benchmarks.md.
"""

from __future__ import annotations

import gc
import importlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sahelwire.labelstudio.export_json import StrictDecoder


def best_seconds(decode: Callable[[], Any], runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        clock = time.perf_counter()
        decode()
        best = min(best, time.perf_counter() - clock)
    return best


def msgspec_typed(msgspec: Any) -> Callable[[bytes], Any]:
    """A decoder of the task list into Structs of the fields the export parser reads."""

    def struct(name: str, fields: list[tuple[str, Any]]) -> Any:
        return msgspec.defstruct(name, [(field, kind, None) for field, kind in fields])

    labels = list[str] | None
    value = struct(
        "Value",
        [
            ("start", int | None),
            ("end", int | None),
            ("text", str | list[str] | None),
            ("labels", labels),
            ("choices", labels),
        ],
    )
    names = ("id", "from_name", "to_name", "type", "origin", "from_id", "to_id", "direction")
    item = struct("Item", [*((n, str | None) for n in names), ("value", value | None)])
    item_fields = [("result", list[item] | None)]  # type: ignore[valid-type]
    annotation = struct(
        "Annotation",
        [("id", int | None), ("completed_by", Any), ("lead_time", float | None), *item_fields],
    )
    task = struct(
        "Task",
        [
            ("id", int | None),
            ("data", Any),
            ("annotations", list[annotation] | None),  # type: ignore[valid-type]
            ("predictions", list[Any] | None),
        ],
    )
    return msgspec.json.Decoder(list[task]).decode  # type: ignore[valid-type]


def duckdb_query(duckdb: Any, sql: str, params: dict[str, Any]) -> Callable[[], Any]:
    """One query on one thread, its own connection each time (no cache between runs)."""

    def run() -> Any:
        con = duckdb.connect(config={"threads": 1})
        try:
            return con.sql(sql, params=params).fetchall()
        finally:
            con.close()

    return run


def duckdb_unnest(duckdb: Any, path: Path) -> Callable[[], Any]:
    return duckdb_query(
        duckdb,
        "SELECT count(*) FROM (SELECT unnest(a.result) AS r FROM (SELECT "
        "unnest(annotations) AS a FROM read_json($p, format = 'array', "
        "maximum_object_size = 100000000)))",
        {"p": str(path)},
    )


# The columns the parser reads, declared so DuckDB infers nothing; ``value`` stays JSON text
# because its ``text`` is a string in a span and a list in a textarea (no one column type).
TYPED_COLUMNS = {
    "id": "BIGINT",
    "data": "JSON",
    "predictions": "JSON",
    "annotations": "STRUCT(id BIGINT, completed_by JSON, lead_time DOUBLE, result STRUCT("
    "id VARCHAR, from_name VARCHAR, to_name VARCHAR, type VARCHAR, origin VARCHAR, "
    "from_id VARCHAR, to_id VARCHAR, direction VARCHAR, value JSON)[])[]",
}


def duckdb_typed(duckdb: Any, path: Path) -> Callable[[], Any]:
    """Declared columns: refuses duplicate keys of a declared object, NaN, lone surrogates and
    integers past int64, but casts 1.5, "7" and true to an int and drops unknown keys."""
    return duckdb_query(
        duckdb,
        "SELECT count(*), sum(CAST(r.value->>'$.start' AS BIGINT)) FROM (SELECT "
        "unnest(a.result) AS r FROM (SELECT unnest(annotations) AS a FROM "
        "read_json($p, format = 'array', columns = $c, maximum_object_size = 100000000)))",
        {"p": str(path), "c": TYPED_COLUMNS},
    )


def duckdb_keys_checked(duckdb: Any, path: Path) -> Callable[[], Any]:
    """What declared columns miss, in SQL: each task and result item read as JSON, its keys
    listed (duplicates and unknown keys counted) and its leaves typed by ``json_type``."""
    return duckdb_query(
        duckdb,
        "WITH t AS (SELECT json AS task FROM read_json_objects($p, format = 'array', "
        "maximum_object_size = 100000000)), "
        "a AS (SELECT unnest(CAST(task->'$.annotations' AS JSON[])) AS a FROM t), "
        "r AS (SELECT unnest(CAST(a->'$.result' AS JSON[])) AS r FROM a), "
        "k AS (SELECT r, json_keys(r) AS k, json_keys(r->'$.value') AS kv FROM r) "
        "SELECT count(*), sum(CAST(r->>'$.value.start' AS BIGINT)), "
        "sum((len(k) <> len(list_distinct(k)) OR len(kv) <> len(list_distinct(kv)) "
        "OR json_type(r, '$.id') <> 'VARCHAR')::INT) FROM k",
        {"p": str(path)},
    )


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    path = Path(argv[0])
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    mb = len(raw) / 2**20
    decoders: dict[str, Callable[[], Any]] = {
        "json.loads": lambda: json.loads(text),
        "StrictDecoder (ours)": lambda: StrictDecoder().raw_decode(text, 0),
    }
    optional: dict[str, Callable[[Any], Callable[[], Any]]] = {
        "orjson": lambda m: lambda: m.loads(raw),
        "msgspec": lambda m: lambda: m.json.decode(raw),
        "msgspec typed": lambda m: (lambda d: lambda: d(raw))(msgspec_typed(m)),
        "simdjson lazy": lambda m: (lambda p: lambda: p.parse(raw))(m.Parser()),
        "simdjson as_list": lambda m: lambda: m.Parser().parse(raw).as_list(),
        "duckdb read_json + unnest": lambda m: duckdb_unnest(m, path),
        "duckdb declared columns": lambda m: duckdb_typed(m, path),
        "duckdb keys checked": lambda m: duckdb_keys_checked(m, path),
    }
    for name, make in optional.items():
        module = name.split()[0]
        try:
            decoders[name] = make(importlib.import_module(module))
        except ImportError:
            print(f"{name:28s} not installed")
    print(f"{path.name}: {mb:.1f} MB")
    gc.disable()
    base = 0.0
    for name, decode in decoders.items():
        seconds = best_seconds(decode)
        base = base or seconds  # json.loads, measured first: the ratios are to it
        print(
            f"{name:28s} {seconds:7.2f} s {mb / seconds:8.0f} MB/s {base / seconds:6.2f} x json.loads",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
