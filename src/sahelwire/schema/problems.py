"""A validation or rejection finding: what a maintainer needs to find and fix the record."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class Problem:
    """One broken rule: which file, which record, which field, which rule, what value."""

    file: str
    record: str | None
    field: str | None
    rule: str
    value: Any = None
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        # Values from data frames may be numpy/polars scalars or long texts: keep the
        # report readable and JSON-serialisable.
        value = data["value"]
        if value is not None and not isinstance(value, (str, int, float, bool)):
            value = str(value)
        if isinstance(value, str) and len(value) > 200:
            value = value[:200] + "..."
        if isinstance(value, float) and not math.isfinite(value):
            value = str(value)  # NaN and Infinity are not JSON
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
            digits = len(str(abs(value)))
            value = f"{str(value)[:20]}... ({digits} digits)"
        data["value"] = value
        # A refused export may hold lone surrogates (unencodable as UTF-8): written as
        # \udXXX escapes so that the report can always be printed (validate --json).
        for key in ("file", "record", "field", "value", "message"):
            if isinstance(data[key], str):
                data[key] = _printable(data[key])
        return data

    def __str__(self) -> str:
        shown = self.to_json()
        record, message = shown["record"], shown["message"]
        where = shown["file"] + (f" record {record}" if record is not None else "")
        field = f" field {shown['field']}" if shown["field"] else ""
        value = "" if self.value is None else f" value {shown['value']!r}"
        message = f": {message}" if message else ""
        return f"{where}{field}: rule {_printable(self.rule)}{value}{message}"
