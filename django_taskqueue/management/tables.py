"""Plain-text tables for the ``taskqueue`` subcommands."""

from __future__ import annotations

from typing import Any

from django_taskqueue.validation import cut_at_word


def last_line(text: str, width: int = 80) -> str:
    """The last line of a traceback (the exception itself), cut to fit a table cell."""
    lines = text.strip().splitlines()
    return cut_at_word(lines[-1], width - 1) if lines else ""


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers, *[[str(value) for value in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    )
