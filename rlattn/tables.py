"""Result tables that show as HTML in a notebook (and so in the book) and as Markdown in a page.

A printed, space-padded table is cut at the page's edge in the HTML book; a ``Table`` is a real
``<table>`` that wraps and scrolls. No pandas: a few rows of strings and numbers need none.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field


def _cell(value, digits: int) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


@dataclass
class Table:
    header: Sequence[str]
    rows: list[Sequence] = field(default_factory=list)
    caption: str | None = None
    digits: int = 3
    numeric_right: bool = True

    def add(self, *row) -> None:
        if len(row) != len(self.header):
            raise ValueError(f"a row of {len(row)} cells for {len(self.header)} columns")
        self.rows.append(row)

    def cells(self) -> list[list[str]]:
        return [[_cell(v, self.digits) for v in row] for row in self.rows]

    def _align(self, j: int) -> str:
        numeric = all(isinstance(r[j], (int, float)) or r[j] is None for r in self.rows) and self.rows
        return "right" if numeric and self.numeric_right else "left"

    def _repr_html_(self) -> str:
        def cell(tag: str, j: int, text: str) -> str:
            return f"<{tag} style='text-align:{self._align(j)};padding:0.2em 0.7em'>{html.escape(text)}</{tag}>"

        head = "".join(cell("th", j, h) for j, h in enumerate(self.header))
        body = "".join("<tr>" + "".join(cell("td", j, c) for j, c in enumerate(row)) + "</tr>" for row in self.cells())
        cap = ""
        if self.caption:
            cap = f"<caption style='caption-side:top;text-align:left'>{html.escape(self.caption)}</caption>"
        return f"<table class='rlattn-table'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def to_markdown(self) -> str:
        def esc(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = ["| " + " | ".join(esc(h) for h in self.header) + " |"]
        lines.append(
            "|" + "|".join("---:" if self._align(j) == "right" else "---" for j in range(len(self.header))) + "|"
        )
        lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in self.cells()]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        cells = [list(self.header)] + self.cells()
        widths = [max(len(r[j]) for r in cells) for j in range(len(self.header))]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in cells)
