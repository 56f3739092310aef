"""Aligned tables as text and as HTML: one look for every godnb table.

Numeric columns are right-aligned *and so are their headers*, text columns left-aligned,
in text (padded, a dashed rule under the header) and in HTML (inline styles, so a table
keeps its look inside a widget, in JupyterLab's rendered HTML, in nbconvert output and in
a standalone report, whatever stylesheet is around it). Cell text is escaped; a cell
given as :class:`Markup` is inserted as is (a status in colour, a small bar).

Example:
    >>> cols = [Column("task"), Column("count", numeric=True)]
    >>> print("\\n".join(text_table(cols, [["fit", "1,200"], ["load", "3"]])))
    task  count
    ----  -----
    fit   1,200
    load      3
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

__all__ = ["CELL_STYLE", "Column", "Markup", "TABLE_STYLE", "html_table", "text_table"]

# Tabular figures keep the digits of a right-aligned column under each other.
TABLE_STYLE = ("border-collapse:collapse;margin:2px 0;font-size:12px;"
               "font-variant-numeric:tabular-nums;line-height:1.5")
CELL_STYLE = "padding:1px 10px;white-space:nowrap;vertical-align:middle;border:none"
# A plain colour first: JupyterLab's sanitizer (untrusted output) drops var(...) values.
_HEAD_STYLE = ("font-weight:600;border-bottom:1px solid #bdbdbd;"
               "border-bottom:1px solid var(--jp-border-color2,#bdbdbd)")
_CAPTION_STYLE = ("caption-side:top;text-align:left;padding:2px 10px 4px;"
                  "white-space:nowrap")


class Markup(str):
    """A cell whose text is HTML already (not escaped again)."""

    __slots__ = ()


@dataclass(frozen=True)
class Column:
    """A column: its header and whether it holds numbers (right-aligned, header too)."""

    name: str
    numeric: bool = False
    title: str | None = None  # the header's tooltip in HTML (what the column means)


def text_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], *,
               rule: bool = True, indent: str = "") -> list[str]:
    """The lines of an aligned text table: header, a dashed rule, the rows.

    Numbers (and their headers) are right-aligned, text left-aligned, two spaces apart.
    """
    grid = [[c.name for c in columns], *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    lines = [indent + _text_row(line, columns, widths) for line in grid]
    if rule:
        lines.insert(1, indent + "  ".join("-" * w for w in widths))
    return lines


def _text_row(cells: Sequence[str], columns: Sequence[Column], widths: Sequence[int]) -> str:
    parts = [cell.rjust(w) if col.numeric else cell.ljust(w)
             for cell, col, w in zip(cells, columns, widths, strict=True)]
    return "  ".join(parts).rstrip()


def _cell(tag: str, cell: str, col: Column, style: str = "") -> str:
    align = "right" if col.numeric else "left"
    body = cell if isinstance(cell, Markup) else escape(cell)
    title = f' title="{escape(col.title)}"' if tag == "th" and col.title else ""
    return f'<{tag}{title} style="{CELL_STYLE};text-align:{align}{style}">{body}</{tag}>'


def html_table(columns: Sequence[Column], rows: Sequence[Sequence[str]], *,
               caption: str | Markup | None = None, css_class: str = "godnb-table",
               empty: str = "nothing to show", attrs: str = "") -> str:
    """An HTML ``<table>`` with the same alignment as :func:`text_table`.

    ``empty`` is the one row shown when there are no rows; ``attrs`` adds attributes to
    the ``<table>`` tag (e.g. ``data-status="..."``).
    """
    head = "".join(_cell("th", c.name, c, ";" + _HEAD_STYLE) for c in columns)
    if rows:
        body = "".join("<tr>" + "".join(_cell("td", x, c) for x, c in
                                        zip(row, columns, strict=True)) + "</tr>"
                       for row in rows)
    else:
        body = (f'<tr><td colspan="{len(columns)}" style="{CELL_STYLE};text-align:left;'
                f'opacity:.7">{escape(empty)}</td></tr>')
    cap = ""
    if caption is not None:
        text = caption if isinstance(caption, Markup) else escape(caption)
        cap = f'<caption style="{_CAPTION_STYLE}">{text}</caption>'
    extra = f" {attrs}" if attrs else ""
    return (f'<table class="{css_class}"{extra} style="{TABLE_STYLE}">{cap}'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
