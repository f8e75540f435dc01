"""Measure how much of the Parquet output a small annotation edit rewrites.

Usage: .venv/bin/python scripts/measure_cdc.py [--scale 2000] [--edit-fraction 0.01]

1. Copies the committed project into a temp folder, builds twice and checks the second
   build is byte-identical to the first (every file: Parquet, card, croissant, plots).
2. Removes ``--edit-fraction`` (1%) of the gold entity regions from the Label Studio
   exports of that copy (a synthetic correction; regions that relations point to are
   left alone so the data stays valid), rebuilds, and reports which share of the Parquet
   bytes falls in changed chunks, at two granularities:
   - Xet-style content-defined chunks of the file bytes (gear hash, 64 KiB target,
     8 KiB min, 128 KiB max -- the parameters of the Hub's Xet storage; the gear table
     here is our own seeded one, so boundaries are statistically, not bit-for-bit, Xet's);
   - Parquet column chunks (their byte ranges from the footer), plus the footer.
3. Because the real corpus is tiny (files of a few KiB, one Xet chunk each), repeats the
   edit on a synthetic ``documents`` table of ``--scale`` articles (the real rows
   replicated with new ids), written with the project's Parquet options, with and without
   content-defined chunking: the ratio of changed bytes without CDC vs with CDC is the
   gain. Peak memory (ru_maxrss) and timings are printed.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sahelwire.io.config import Settings
from sahelwire.io.paths import ProjectPaths
from sahelwire.release.build import build
from sahelwire.release.parquet_files import parquet_bytes

ROOT = Path(__file__).resolve().parent.parent
TARGET, MIN_CHUNK, MAX_CHUNK = 64 * 1024, 8 * 1024, 128 * 1024
_GEAR = np.random.default_rng(20240316).integers(0, 2**63, size=256, dtype=np.uint64) * 2 + 1
_MASK = np.uint64((TARGET - 1) << (64 - 16))  # 16 high bits -> 1 boundary per 64 KiB on average


def cdc_chunks(data: bytes) -> list[bytes]:
    """Split ``data`` at gear-hash boundaries (vectorized: the hash only sees 64 bytes)."""
    if not data:
        return []
    arr = np.frombuffer(data, dtype=np.uint8)
    gear = _GEAR[arr]
    h = np.zeros(len(arr), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(64):  # h_i = sum_k gear[b_{i-k}] << k  (mod 2**64)
            h[k:] += gear[: len(arr) - k] << np.uint64(k)
    candidates = np.flatnonzero((h & _MASK) == 0) + 1
    chunks, start = [], 0
    for cut in [*candidates.tolist(), len(data)]:
        while cut - start > MAX_CHUNK:
            chunks.append(data[start : start + MAX_CHUNK])
            start += MAX_CHUNK
        if cut - start >= MIN_CHUNK or cut == len(data):
            chunks.append(data[start:cut])
            start = cut
    return [c for c in chunks if c]


def changed_cdc_bytes(old: bytes, new: bytes) -> int:
    known = {hashlib.sha256(c).digest() for c in cdc_chunks(old)}
    return sum(len(c) for c in cdc_chunks(new) if hashlib.sha256(c).digest() not in known)


def column_chunk_ranges(data: bytes) -> list[tuple[int, int]]:
    """(start, length) of every column chunk, then the footer, from the Parquet metadata."""
    meta = pq.ParquetFile(io.BytesIO(data)).metadata
    ranges = []
    for g in range(meta.num_row_groups):
        for c in range(meta.num_columns):
            col = meta.row_group(g).column(c)
            start = col.dictionary_page_offset or col.data_page_offset
            if col.dictionary_page_offset is not None:
                start = min(start, col.data_page_offset)
            ranges.append((start, col.total_compressed_size))
    end = max(s + n for s, n in ranges)
    ranges.append((end, len(data) - end))  # page indexes + footer: rewritten on any change
    return ranges


def changed_column_bytes(old: bytes, new: bytes) -> int:
    known = {hashlib.sha256(old[s : s + n]).digest() for s, n in column_chunk_ranges(old)}
    return sum(
        n
        for s, n in column_chunk_ranges(new)
        if hashlib.sha256(new[s : s + n]).digest() not in known
    )


def copy_project(dest: Path) -> Path:
    for name in ("pyproject.toml", "DATASET_CARD.md"):
        shutil.copy2(ROOT / name, dest / name)
    for folder in ("schemas", "dataset", "annotations"):
        shutil.copytree(ROOT / folder, dest / folder)
    return dest


def files_of(dist: Path) -> dict[str, bytes]:
    return {
        p.relative_to(dist).as_posix(): p.read_bytes()
        for p in sorted(dist.rglob("*"))
        if p.is_file()
    }


def drop_entity_regions(exports: Path, fraction: float, seed: int) -> tuple[int, int]:
    """Remove ``fraction`` of all entity regions (never one a relation uses); (removed, total)."""
    tasks = {p: json.loads(p.read_text(encoding="utf-8")) for p in sorted(exports.glob("*.json"))}
    candidates, total = [], 0
    for path, task in tasks.items():
        for ai, ann in enumerate(task["annotations"]):
            linked = {
                r.get(k)
                for r in ann["result"]
                if r.get("type") == "relation"
                for k in ("from_id", "to_id")
            }
            for r in ann["result"]:
                if r.get("from_name") == "entities" and r.get("type") == "labels":
                    total += 1
                    if r["id"] not in linked:
                        candidates.append((path, ai, r["id"]))
    chosen = random.Random(seed).sample(candidates, max(1, round(total * fraction)))
    for path, ai, region in chosen:
        ann = tasks[path]["annotations"][ai]
        ann["result"] = [r for r in ann["result"] if r.get("id") != region]
    for path, task in tasks.items():
        path.write_text(json.dumps(task, ensure_ascii=False, indent=2), encoding="utf-8")
    return len(chosen), total


def scaled_documents(documents: pa.Table, scale: int) -> pa.Table:
    """``scale`` articles: the real rows with new ids and their words shuffled per copy, so
    the copies are distinct text that compresses like text (plain copies would compress to
    almost nothing and make every file one chunk)."""
    rows = documents.to_pylist()
    out = []
    rng = random.Random(scale)
    for i in range(scale):
        row = dict(rows[i % len(rows)])
        row["id"] = f"{i:05d}_{row['id']}"
        for column in ("text", "clean_text"):
            words = row[column].split(" ")
            rng.shuffle(words)
            row[column] = " ".join(words)
        out.append(row)
    return pa.Table.from_pylist(out, schema=documents.schema)


def drop_one_span(table: pa.Table, fraction: float, seed: int) -> pa.Table:
    rows = table.to_pylist()
    picks = random.Random(seed).sample(range(len(rows)), max(1, round(len(rows) * fraction)))
    for i in picks:
        if rows[i]["entities"]:
            rows[i]["entities"] = rows[i]["entities"][1:]
    return pa.Table.from_pylist(rows, schema=table.schema)


def drop_rows(table: pa.Table, fraction: float, seed: int) -> pa.Table:
    n = table.num_rows
    gone = set(random.Random(seed).sample(range(n), max(1, round(n * fraction))))
    return table.take([i for i in range(n) if i not in gone])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=int, default=2000, help="articles in the synthetic table")
    parser.add_argument("--edit-fraction", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sahelwire-cdc-") as tmp:
        root = copy_project(Path(tmp))
        paths = ProjectPaths(root)
        settings = Settings.load(paths)
        t0 = time.perf_counter()
        build(paths, settings, root / "dist_a")
        t_build = time.perf_counter() - t0
        build(paths, settings, root / "dist_b")
        a, b = files_of(root / "dist_a"), files_of(root / "dist_b")
        identical = a == b
        print(
            f"no-change rebuild: {'byte-identical' if identical else 'DIFFERENT'} "
            f"({len(a)} files, {sum(map(len, a.values()))} bytes; build {t_build:.1f} s)"
        )
        if not identical:
            for name in sorted(set(a) | set(b)):
                if a.get(name) != b.get(name):
                    print(f"  differs: {name}")

        removed, total = drop_entity_regions(paths.exports_dir, args.edit_fraction, args.seed)
        build(paths, settings, root / "dist_c")
        c = files_of(root / "dist_c")
        parquet = sorted(n for n in c if n.endswith(".parquet"))
        total_bytes = sum(len(c[n]) for n in parquet)
        xet = sum(changed_cdc_bytes(a.get(n, b""), c[n]) for n in parquet)
        cols = sum(changed_column_bytes(a[n], c[n]) if n in a else len(c[n]) for n in parquet)
        files_changed = sum(1 for n in parquet if a.get(n) != c[n])
        print(
            f"\nreal corpus: removed {removed} of {total} gold entity regions "
            f"({removed / total:.1%}) from the exports and rebuilt"
        )
        print(
            f"  Parquet files changed: {files_changed}/{len(parquet)}; total Parquet bytes {total_bytes}"
        )
        print(f"  bytes in changed Xet-style chunks:   {xet:>9} = {xet / total_bytes:.1%}")
        print(f"  bytes in changed column chunks+footer: {cols:>7} = {cols / total_bytes:.1%}")

        docs = pq.read_table(io.BytesIO(a["data/documents/train-00000-of-00001.parquet"]))
        docs = docs.replace_schema_metadata(docs.schema.metadata)
        big = scaled_documents(docs, args.scale)
        n_edit = max(1, round(args.scale * args.edit_fraction))
        scenarios = {
            f"{n_edit} article(s) lose one entity span (1% annotation edit)": drop_one_span(
                big, args.edit_fraction, args.seed
            ),
            f"{n_edit} article(s) removed (takedown: rows shift)": drop_rows(
                big, args.edit_fraction, args.seed
            ),
            f"{n_edit} article(s) removed in one block (e.g. one outlet's takedown)": pa.concat_tables(
                [big.slice(0, args.scale // 2), big.slice(args.scale // 2 + n_edit)]
            ),
        }
        print(f"\nsynthetic documents table: {args.scale} articles (words shuffled per copy)")
        for title, edited in scenarios.items():
            print(f"  edit: {title}")
            results = {}
            for label, cdc in (("baseline (no CDC)", False), ("project options (CDC)", True)):
                t0 = time.perf_counter()
                old = parquet_bytes(big, use_content_defined_chunking=cdc)
                new = parquet_bytes(edited, use_content_defined_chunking=cdc)
                t_write = time.perf_counter() - t0
                changed = changed_cdc_bytes(old, new)
                results[label] = changed / len(new)
                print(
                    f"    {label:22} file {len(new):>9} bytes; changed Xet-style chunks "
                    f"{changed:>9} bytes = {changed / len(new):.1%}; column chunks+footer "
                    f"{changed_column_bytes(old, new) / len(new):.1%} (write x2 {t_write:.1f} s)"
                )
            base, ours = results["baseline (no CDC)"], results["project options (CDC)"]
            print(
                f"    ratio of changed bytes, baseline / CDC: {base / ours if ours else float('inf'):.2f}x"
            )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (ru_maxrss): {peak:.0f} MiB")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
