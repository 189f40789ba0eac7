"""Tables as aligned text (terminal), Markdown and CSV."""

from __future__ import annotations

import csv
import io


def fixed(value: float | None, digits: int = 4) -> str:
    """``value`` with ``digits`` decimals, or an em dash for a figure never measured (a sweep trial's test accuracy)."""
    return "—" if value is None else f"{value:.{digits}f}"


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns separated by two spaces."""
    table = [list(map(str, headers)), *[list(map(str, row)) for row in rows]]
    widths = [max(len(row[i]) for row in table) for i in range(len(headers))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table)


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    return "\n".join(lines + ["| " + " | ".join(map(str, row)) + " |" for row in rows]) + "\n"


def csv_table(headers: list[str], rows: list[list[str]]) -> str:
    """CSV, with thousands separators dropped from whole numbers so they parse as numbers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    writer.writerows([[c.replace(",", "") if c.replace(",", "").isdigit() else c for c in map(str, row)] for row in rows])
    return buffer.getvalue()
