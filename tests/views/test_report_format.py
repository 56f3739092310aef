"""The report page and the bar pieces, as strings; colours checked for contrast."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from godnb.utils.profile import ProfileTable, TaskProfile
from godnb.views.bars import (
    NAME_EM,
    bar_html,
    error_html,
    name_html,
    stacked_bar_html,
    status_html,
)
from godnb.views.palette import (
    STATUS_FALLBACK,
    TASK_PALETTE,
    contrast_ratio,
    status_colour,
    status_text_colour,
)
from godnb.views.report import RunReport, format_report_html, outcome_segments
from godnb.views.timeline import COMPLETED, TimelineData

EVIL = "<script>alert('x')</script>"


def test_status_colours_are_readable_on_white_and_tasks_in_both_themes() -> None:
    for status in ("completed", "failed", "cancelled", "running", "pending"):
        assert contrast_ratio(STATUS_FALLBACK[status], "#ffffff") >= 4.5, status  # text
        assert contrast_ratio(STATUS_FALLBACK[status], "#eeeeee") >= 3.0, status  # on track
    for colour in TASK_PALETTE:
        assert contrast_ratio(colour, "#ffffff") >= 3.0, colour   # Lab light
        assert contrast_ratio(colour, "#111111") >= 3.0, colour   # Lab dark
        assert colour.lower() not in {"#ff0000", "#c62828", "#d32f2f"}  # red means failed
    assert status_colour("completed") == "var(--jp-success-color1,#2e7d32)"
    assert status_colour("nonsense") == status_colour("pending")
    # ipywidgets' warning orange is 2.7:1 on white: cancelled bars take the darker shade
    assert status_colour("cancelled") == "var(--jp-warn-color0,#b45309)"
    # status words: a plain fallback first, then the theme's readable shade
    assert status_text_colour("cancelled").startswith("color:#b45309;color:color-mix(")
    assert status_text_colour("completed") == \
        "color:#2e7d32;color:var(--jp-success-color0,#2e7d32)"
    # Lab 4's own shades used for words reach 4.5:1 in the light (white) and dark themes
    for light, dark in [("#1b5e20", "#388e3c"), ("#d32f2f", "#f44336"),
                        ("#1976d2", "#2196f3")]:
        assert contrast_ratio(light, "#ffffff") >= 4.5
        assert contrast_ratio(dark, "#111111") >= 4.5


def test_bar_pieces() -> None:
    assert "width:40.0%" in bar_html(0.4, "running")
    full = bar_html(None, "failed")
    assert "width:0.0%" in full and 'data-status="failed"' in full
    assert "linear-gradient" in bar_html(1.0, "unknown", striped=True)
    stacked = stacked_bar_html([("completed", 0.96, "96 ok"), ("failed", 0.04, "4 failed"),
                                ("cancelled", 0.0, "none")], "failed")
    assert re.findall(r'data-status="(\w+)"[^>]*width:([\d.]+)%', stacked) == [
        ("completed", "96.00"), ("failed", "4.00")]
    name = name_html(EVIL)
    assert f"width:{NAME_EM:g}em" in name and "text-overflow:ellipsis" in name
    # every colour is given plainly before its theme variable: JupyterLab's sanitizer
    # (untrusted output) drops var(...) and would leave the bar without colour
    assert "background-color:#c62828;background-color:var(--jp-error-color1" in full
    assert "background-color:#eeeeee;background-color:var(--jp-layout-color2" in full
    for unsafe in ("ch;", "gap:", "flex-flow:"):
        assert unsafe not in full + name + stacked
    assert "<script>" not in name and 'title="&lt;script&gt;' in name
    err = error_html("ValueError: bad\nline two", prefix="first error: ")
    assert ">first error: ValueError: bad …</span>" in err
    assert 'title="ValueError: bad\nline two"' in err and "white-space:nowrap" in err
    assert "font-weight:600" in status_html("failed")
    assert "ch;" not in err and "gap:" not in err


def _report() -> RunReport:
    timeline = TimelineData(lanes=("thread-1",), tasks=(EVIL,), start=[0.0], end=[1.0],
                            lane=[0], task=[0], status=[COMPLETED], now=1.0)
    return RunReport(
        title=f"run {EVIL}", source="engine e", counts={"completed": 96, "failed": 4},
        generated_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        summary=[("workers", "thread 4")],
        profile=ProfileTable(rows=[TaskProfile(task="fit", count=1, ok=1, total_time=0.5)]),
        timeline=timeline, failures=[("fit", "abc", f"ValueError: {EVIL}")],
        failures_total=4, notes=["approximate: from a store"], version="0.1.0")


def test_report_page_is_self_contained_and_escaped() -> None:
    html = format_report_html(_report())
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and "http" not in html and "<link" not in html
    assert "prefers-color-scheme: dark" in html  # follows the reader's theme
    assert "&lt;script&gt;" in html
    for text in ("<h2>Summary</h2>", "<h2>Timeline</h2>", "<h2>Profile</h2>",
                 "<h2>Failures (4)</h2>", "showing the first 1 of 4",
                 "approximate: from a store", "2024-05-01T12:00:00+00:00", "godnb 0.1.0"):
        assert text in html, text
    # the outcome bar: 96% green, 4% red, not a red bar
    assert re.findall(r'data-status="(\w+)"[^>]*width:([\d.]+)%', html)[:2] == [
        ("completed", "96.00"), ("failed", "4.00")]


def test_outcome_segments() -> None:
    assert outcome_segments({}) == []
    assert outcome_segments({"completed": 3, "failed": 1, "pending": 4}) == [
        ("completed", 3 / 8, "completed: 3"), ("failed", 1 / 8, "failed: 1")]
