"""Markdown tables from rows: headers, one alignment per column, per-column number formats.

A cell is rendered by :func:`format_cell`: ``None`` and non-finite floats become the ``missing``
mark, strings stay as they are (so a row can hold a ready-made cell, or ``""`` for an empty one),
numbers go through the column's format. Rows are rendered one at a time too
(:func:`table_header`, :func:`table_row`), for tables printed while they are measured.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, Iterable, Optional, Sequence, Union

__all__ = ["INTERVAL_NOTE", "format_cell", "markdown_table", "table_header", "table_row",
           "with_interval"]

# What the brackets of :func:`with_interval` cells are (modeinterp.detect.intervals).
INTERVAL_NOTE = ("Brackets: bootstrap 95 % intervals (hallucinations and in-support samples "
                 "resampled apart).")

Format = Union[None, str, Callable[[object], str]]

_RULES = {"l": "---", "r": "---:", "c": ":---:"}


def format_cell(value, fmt: Format = None, missing: str = "–") -> str:
    """One table cell. ``fmt``: None (``str(value)``), a format spec (``","``, ``".4f"``,
    ``".1%"``), a template with braces (``"{:.1f} %"``) or a callable returning the text.
    ``None``, NaN and ±inf give ``missing``; a string is returned as it is."""
    if value is None:
        return missing
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral) \
            and not math.isfinite(value):
        return missing
    if fmt is None:
        return str(value)
    if callable(fmt):
        return fmt(value)
    return fmt.format(value) if "{" in fmt else format(value, fmt)


def with_interval(fmt: str, unit: str = "") -> Callable[[object], str]:
    """The format of a cell holding ``(value, (low, high))``, a number with its bootstrap
    interval: ``0.912 [0.881, 0.940]``, or ``95.3% [93.1, 97.0]`` with ``unit="%"`` (``fmt``
    applied to all three); the interval is left out when it is missing (None or NaN: too few
    samples to resample). A plain number is formatted alone."""
    def render(cell) -> str:
        value, interval = cell if isinstance(cell, tuple) else (cell, None)
        if value is None or not math.isfinite(value):
            return "–"
        text = format(value, fmt) + unit
        if interval is not None and all(v is not None and math.isfinite(v) for v in interval):
            text += f" [{format(interval[0], fmt)}, {format(interval[1], fmt)}]"
        return text
    return render


def _line(cells: Sequence[str]) -> str:
    """``| a | b |``; an empty cell is ``| |``."""
    return "|" + "|".join(f" {c} " if c else " " for c in cells) + "|"


def table_header(headers: Sequence[str], align: Optional[str] = None) -> list:
    """The header line and the alignment line. ``align``: one letter per column, ``l`` (left),
    ``r`` (right) or ``c`` (centre); default: the first column left, the others right."""
    align = align or "l" + "r" * (len(headers) - 1)
    if len(align) != len(headers) or set(align) - set(_RULES):
        raise ValueError(f"align must be one of l/r/c per column ({len(headers)}), got {align!r}")
    return [_line(list(headers)), "|" + "|".join(_RULES[a] for a in align) + "|"]


def table_row(cells: Sequence, formats: Optional[Sequence[Format]] = None,
              missing: str = "–") -> str:
    """One row: each cell through :func:`format_cell` with its column's format."""
    formats = list(formats) if formats is not None else [None] * len(cells)
    if len(formats) != len(cells):
        raise ValueError(f"{len(cells)} cells but {len(formats)} formats")
    return _line([format_cell(v, f, missing) for v, f in zip(cells, formats)])


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence], *,
                   align: Optional[str] = None, formats: Optional[Sequence[Format]] = None,
                   missing: str = "–") -> list:
    """The table's lines (header, alignment, one per row; no blank line after it)."""
    lines = table_header(headers, align)
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"a row has {len(row)} cells for {len(headers)} columns: {row!r}")
        lines.append(table_row(row, formats, missing))
    return lines
