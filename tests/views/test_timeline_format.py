"""The task-stream chart as strings: lanes, marks, merging, bounds, text strips."""

from __future__ import annotations

import random
import re
from array import array
from datetime import UTC, datetime

from godnb.views.palette import TASK_PALETTE
from godnb.views.timeline import (
    CANCELLED,
    COMPLETED,
    FAILED,
    MAX_ELEMENTS,
    RETRIED,
    RUNNING,
    TimelineData,
    format_timeline_html,
    format_timeline_svg,
    format_timeline_text,
    lane_order,
    timeline_summary,
)


def data(runs: list[tuple[int, float, float, int, int]], lanes: tuple[str, ...] =
         ("thread-1", "thread-2"), tasks: tuple[str, ...] = ("fit", "load"),
         packed: frozenset[int] = frozenset(), now: float | None = None) -> TimelineData:
    return TimelineData(
        lanes=lanes, tasks=tasks, start=[r[1] for r in runs], end=[r[2] for r in runs],
        lane=[r[0] for r in runs], task=[r[3] for r in runs], status=[r[4] for r in runs],
        now=max(r[2] for r in runs) if now is None else now, packed=packed,
        origin=0.0, wall=datetime(2024, 5, 1, 12, 0, tzinfo=UTC), title="timeline t")


def rects(svg: str) -> list[dict[str, str]]:
    out = []
    for m in re.finditer(r"<rect class=\"godnb-run\"([^>]*)>(?:<title>([^<]*)</title>)?", svg):
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', m.group(1)))
        attrs["title"] = m.group(2) or ""
        out.append(attrs)
    return out


def test_one_mark_per_run_coloured_by_task_with_a_hover_title() -> None:
    svg = format_timeline_svg(data([(0, 0.0, 1.0, 0, COMPLETED), (1, 0.5, 2.0, 1, COMPLETED),
                                    (0, 1.2, 1.9, 1, COMPLETED)]))
    marks = rects(svg)
    assert len(marks) == 3
    # lane by lane: thread-1's two runs, then thread-2's
    assert [m["fill"] for m in marks] == [TASK_PALETTE[0], TASK_PALETTE[1], TASK_PALETTE[1]]
    assert marks[0]["title"].startswith("fit\n1.00 s · completed\nthread-1")
    assert marks[2]["title"].startswith("load\n1.50 s · completed\nthread-2")
    widths = [float(m["width"]) for m in marks]
    assert abs(widths[0] / widths[2] - 1.0 / 1.5) < 0.01  # marks scale with duration
    assert ">thread-1</text>" in svg and ">thread-2</text>" in svg
    assert "fit (1)" in svg and "load (2)" in svg  # the legend counts runs per task


def test_failed_cancelled_and_running_runs_are_marked() -> None:
    svg = format_timeline_svg(data([(0, 0.0, 1.0, 0, FAILED), (0, 1.0, 2.0, 0, CANCELLED),
                                    (1, 0.0, 1.0, 1, RETRIED), (1, 1.5, 0.0, 1, RUNNING)],
                                   now=3.0))
    marks = {m["data-status"]: m for m in rects(svg)}
    assert "stroke-width" in marks["failed"] and "error-color1" in marks["failed"]["stroke"]
    assert marks["cancelled"]["stroke-dasharray"] == "3 2"
    assert "running" in marks
    assert float(marks["running"]["width"]) > 0  # a running run ends "now"
    assert svg.count('class="godnb-tick"') == 2  # a red tick under each failure
    assert "url(#godnb-tl-stripes)" in svg
    assert "failed (2)" in svg and "cancelled (1)" in svg and "running (1)" in svg


def test_lanes_in_reading_order_and_overlapping_lanes_in_sub_rows() -> None:
    assert lane_order(["async", "thread-10", "process-1", "thread-2", "dask"]) == [3, 1, 2, 0, 4]
    lanes = ("async", "thread-1")
    runs = [(0, 0.0, 2.0, 0, COMPLETED), (0, 0.5, 2.5, 0, COMPLETED),
            (0, 1.0, 3.0, 0, COMPLETED), (1, 0.0, 3.0, 1, COMPLETED)]
    svg = format_timeline_svg(data(runs, lanes=lanes, packed=frozenset({0})))
    ys = sorted({m["y"] for m in rects(svg) if m["fill"] == TASK_PALETTE[0]})
    assert len(ys) == 3  # three overlapping async runs: three sub-rows
    assert ">3 at once</text>" in svg
    many = [(0, 0.0, 1.0 + i / 100, 0, COMPLETED) for i in range(40)]
    crowded = format_timeline_svg(data(many, lanes=("async",), packed=frozenset({0})))
    assert ">40 at once</text>" in crowded  # more than the sub-rows: the label says so
    assert len({m["y"] for m in rects(crowded)}) <= 6
    assert "up to 40 at once" in format_timeline_text(
        data(many, lanes=("async",), packed=frozenset({0})))
    assert svg.index(">thread-1</text>") < svg.index(">async</text>")


def _many(n: int, lanes: int = 6, seed: int = 7) -> TimelineData:
    rng = random.Random(seed)
    t = [0.0] * lanes
    start, end, lane, task, status = (array("d"), array("d"), array("H"), array("H"),
                                      array("B"))
    for i in range(n):
        k = i % lanes
        d = rng.expovariate(2000)
        start.append(t[k])
        end.append(t[k] + d)
        t[k] += d + rng.expovariate(20000)
        lane.append(k)
        task.append(rng.randrange(4))
        status.append(FAILED if i % 25 == 0 else COMPLETED)
    return TimelineData(lanes=tuple(f"thread-{k + 1}" for k in range(lanes)),
                        tasks=("a", "b", "c", "d"), start=start, end=end, lane=lane,
                        task=task, status=status, now=max(t), recorded=n + 5)


def test_100k_runs_stay_bounded_and_failures_stay_where_they_happened() -> None:
    d = _many(100_000)
    svg = format_timeline_svg(d)
    elements = int(re.search(r'data-elements="(\d+)"', svg).group(1))  # type: ignore[union-attr]
    assert elements <= MAX_ELEMENTS
    assert svg.count("<rect") <= MAX_ELEMENTS + 40  # + lane backgrounds, legend swatches
    merged = [m for m in rects(svg) if m["data-status"] == "merged"]
    assert merged and all(" runs in " in m["title"] for m in merged)
    assert sum(int(m["data-runs"]) for m in rects(svg)) == 100_000  # every run is drawn
    assert 0 < svg.count('class="godnb-tick"') <= MAX_ELEMENTS
    # 4% failures must not paint the chart red: merged marks keep their task colours
    assert all("error" not in m.get("stroke", "") for m in merged)
    assert len(svg) < 1_000_000
    small = format_timeline_svg(d, max_elements=300)
    assert int(re.search(r'data-elements="(\d+)"', small).group(1)) <= 300  # type: ignore[union-attr]
    html = format_timeline_html(d)
    assert "the last 100,000 of 100,005 runs" in html


def test_text_strips_per_lane() -> None:
    d = data([(0, 0.0, 1.0, 0, COMPLETED), (0, 1.0, 2.0, 0, FAILED),
              (1, 0.0, 0.5, 1, COMPLETED)])
    text = format_timeline_text(d, width=8)
    lines = text.splitlines()
    assert lines[0].startswith("timeline t: 3 runs on 2 lanes over 2.00 s, from ")
    assert lines[1] == "  thread-1 |███████✗| 2 runs · 1 failed · busy 100%"
    assert lines[2] == "  thread-2 |██      | 1 run · busy 25%"
    assert lines[3] == "  tasks: fit 2, load 1"
    assert timeline_summary(d) == [("thread-1", 2, 1, 2.0), ("thread-2", 1, 0, 0.5)]


def test_empty_and_escaped() -> None:
    empty = TimelineData.empty("timeline e")
    assert format_timeline_text(empty) == "timeline e: no runs recorded yet"
    assert "no runs recorded yet" in format_timeline_svg(empty)
    evil = data([(0, 0.0, 1.0, 0, COMPLETED)], lanes=("<b>",), tasks=("<script>",))
    svg = format_timeline_svg(evil)
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&lt;b&gt;" in svg
