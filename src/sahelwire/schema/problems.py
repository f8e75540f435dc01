"""A validation or rejection finding: what a maintainer needs to find and fix the record."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


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
        data["value"] = value
        return data

    def __str__(self) -> str:
        where = self.file + (f" record {self.record}" if self.record is not None else "")
        field = f" field {self.field}" if self.field else ""
        value = "" if self.value is None else f" value {self.to_json()['value']!r}"
        message = f": {self.message}" if self.message else ""
        return f"{where}{field}: rule {self.rule}{value}{message}"
