"""One table look: numbers and their headers right-aligned, in text and in HTML."""

from __future__ import annotations

import re

from godnb.utils.tables import Column, Markup, html_table, text_table

COLUMNS = [Column("task"), Column("runs", numeric=True), Column("p50", numeric=True)]
ROWS = [["score", "12,000", "1.2 ms"], ["<fit>", "3", "500.0 ms"]]


def test_text_table_right_aligns_numbers_under_their_headers() -> None:
    lines = text_table(COLUMNS, ROWS)
    assert lines == ["task     runs       p50",
                     "-----  ------  --------",
                     "score  12,000    1.2 ms",
                     "<fit>       3  500.0 ms"]
    assert {len(x) for x in lines} == {len(lines[0])}
    assert text_table(COLUMNS, [], rule=False, indent="  ") == ["  task  runs  p50"]


def test_html_table_aligns_escapes_and_keeps_markup() -> None:
    html = html_table(COLUMNS, [*ROWS, [Markup("<b>ok</b>"), "1", "-"]], caption="at 12:00")
    heads = re.findall(r'<th [^>]*text-align:(\w+)[^>]*>([^<]*)</th>', html)
    assert heads == [("left", "task"), ("right", "runs"), ("right", "p50")]
    assert re.search(r'<td [^>]*text-align:right[^>]*>12,000</td>', html)
    assert "&lt;fit&gt;" in html and "<fit>" not in html
    assert "<b>ok</b>" in html
    assert "<caption" in html and "at 12:00</caption>" in html
    assert "padding:1px 10px" in html  # columns never run together
    empty = html_table(COLUMNS, [], empty="no tasks recorded yet")
    assert 'colspan="3"' in empty and "no tasks recorded yet" in empty
