"""What each fault test measured, as one row of the soak table.

`record(row)` prints the row (pytest shows it with -s, or in the captured output of a failure) and, when the
environment names a report file (`RELIABILITY_REPORT`, set by tests/soak/conftest.py), appends it there as a
JSON line; the soak run prints every row as a table at the end (`table()`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

REPORT_ENV = "RELIABILITY_REPORT"
COLUMNS = ("fault", "injections", "calls affected", "expected", "made", "duplicated", "memory / figures")


@dataclass(frozen=True, slots=True)
class Row:
    """One fault: how often it was injected, how many calls it touched, deliveries expected / made / twice."""

    fault: str
    injections: int
    calls: int
    expected: int
    made: int
    duplicated: int
    figures: str = ""
    note: str = ""

    def cells(self) -> tuple[str, ...]:
        return (self.fault, str(self.injections), str(self.calls), str(self.expected), str(self.made),
                str(self.duplicated), self.figures)


def record(row: Row) -> None:
    print(f"reliability: {' | '.join(row.cells())}" + (f" ({row.note})" if row.note else ""))
    target = os.environ.get(REPORT_ENV)
    if target:
        with Path(target).open("a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(row)) + "\n")


def load(path: Path) -> list[Row]:
    if not path.is_file():
        return []
    return [Row(**json.loads(line)) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (pasted as is into docs/reliability.md)."""
    body = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(cells[i]) for cells in body) for i in range(len(COLUMNS))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)) + " |"
             for cells in body]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)
