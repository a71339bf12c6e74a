"""Comparison tables: measured numbers next to reference numbers (e.g. a paper's), row by row,
as Markdown and as a bar chart (:func:`weakhoi.plots.bar_pairs_png`).

The library knows nothing of where the numbers come from: ``pipeline/paper_tables.py`` fills
:class:`ComparisonRow` from ``dvc exp show --json`` and the experiment file.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from .plots import BarPair, bar_pairs_png, decimal_text

#: What an empty cell shows (no value measured / no reference).
EMPTY = "–"


@dataclass(frozen=True)
class Column:
    """A metric column: ``key`` indexes the rows' ``measured`` / ``reference`` mappings."""
    key: str
    label: str


@dataclass(frozen=True)
class ComparisonRow:
    """One table row: ``label`` (the reference's row name, e.g. "Exp 4"), ``setting`` (what the
    row is), ``sources`` (where the measured numbers come from, e.g. experiment names),
    ``measured`` / ``reference`` values by column key (None: no value), and ``status`` (e.g.
    "done", "not run", "missing: <asset>"; ``column_status`` overrides it per column, e.g. when
    the columns come from several runs). ``spread``: by column, the standard deviation of the
    runs ``measured`` is the mean of (e.g. over seeds), printed as ``mean ± sd``."""
    label: str
    setting: str
    sources: tuple[str, ...]
    measured: Mapping[str, float | None]
    reference: Mapping[str, float | None]
    status: str
    column_status: Mapping[str, str] | None = None   # per column, when columns come from several runs
    spread: Mapping[str, float | None] | None = None  # per column, sd of the runs averaged in measured


def format_value(value: float | None, digits: int = 2) -> str:
    """``value`` rounded half up to ``digits`` decimals (:func:`weakhoi.plots.decimal_text`);
    :data:`EMPTY` for None or NaN."""
    if value is None or not math.isfinite(float(value)):
        return EMPTY
    return decimal_text(float(value), digits)


def format_mean(value: float | None, spread: float | None, digits: int = 2) -> str:
    """``value ± spread`` (:func:`format_value` of each), or just ``value`` without a spread."""
    text = format_value(value, digits)
    if text == EMPTY or spread is None or not math.isfinite(float(spread)):
        return text
    return f"{text} ± {format_value(spread, digits)}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(columns: Sequence[Column], rows: Sequence[ComparisonRow], source_label: str = "experiment",
                   reference_label: str = "paper", digits: int = 2) -> str:
    """A GitHub Markdown table: row, setting, source, then per column the measured value and
    the reference value side by side, then the status."""
    head = ["row", "setting", source_label]
    for c in columns:
        head += [c.label, f"{c.label} ({reference_label})"]
    head.append("status")
    lines = ["| " + " | ".join(_cell(h) for h in head) + " |",
             "|" + "|".join(["---"] * 3 + ["---:"] * (2 * len(columns)) + ["---"]) + "|"]
    for r in rows:
        cells = [r.label, r.setting, ", ".join(f"`{s}`" for s in r.sources) or EMPTY]
        for c in columns:
            cells += [format_mean(r.measured.get(c.key), (r.spread or {}).get(c.key), digits),
                      format_value(r.reference.get(c.key), digits)]
        cells.append(r.status)
        lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    return "\n".join(lines) + "\n"


def comparison_markdown(title: str, columns: Sequence[Column], rows: Sequence[ComparisonRow],
                        intro: Sequence[str] = (), notes: Sequence[str] = (), **table_kwargs) -> str:
    """A Markdown section: ``## title``, the ``intro`` paragraphs, the table, then ``notes`` as a
    bullet list."""
    parts = [f"## {title}\n"]
    parts += [f"{p}\n" for p in intro]
    parts.append(markdown_table(columns, rows, **table_kwargs))
    if notes:
        parts.append("".join(f"- {n}\n" for n in notes))
    return "\n".join(parts)


def bar_pairs(columns: Sequence[Column], rows: Sequence[ComparisonRow]) -> list[BarPair]:
    """One bar pair per row and column (labelled "<row> <column>" when there are several
    columns); a row without a measured value carries its status as the note, one with a
    spread its whisker."""
    out = []
    for r in rows:
        for c in columns:
            label = r.label if len(columns) == 1 else f"{r.label} {c.label}"
            note = (r.column_status or {}).get(c.key, r.status)
            out.append(BarPair(label, r.measured.get(c.key), r.reference.get(c.key), note,
                               (r.spread or {}).get(c.key)))
    return out


def comparison_plot(path: Path | str, title: str, columns: Sequence[Column], rows: Sequence[ComparisonRow],
                    legend: tuple[str, str] = ("measured", "paper"), x_label: str = "%") -> None:
    """PNG of :func:`bar_pairs` (measured vs reference per row), written atomically."""
    bar_pairs_png(path, bar_pairs(columns, rows), title, x_label, legend)
