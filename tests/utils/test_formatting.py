"""The one number formatter every display uses, pinned as strings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from godnb.utils.formatting import (
    ellipsize,
    eta_seconds,
    first_line,
    fit_name,
    format_ago,
    format_bytes,
    format_clock,
    format_count,
    format_duration,
    format_elapsed,
    format_number,
    format_percent,
    format_rate,
    format_si,
    format_time,
    format_when,
    text_bar,
)


@pytest.mark.parametrize(("n", "text"), [
    (0, "0"), (7, "7"), (2944, "2,944"), (1_000_000, "1,000,000"), (4000.0, "4,000"),
    (2.5, "2.5"), (1234.567, "1,234.57"), (None, "-"), (float("nan"), "-")])
def test_counts_have_thousands_separators(n: float | None, text: str) -> None:
    assert format_count(n) == text


@pytest.mark.parametrize(("x", "text"), [
    (36934.2, "36,934"), (100, "100"), (49.24, "49.2"), (3.3249, "3.32"), (0.01234, "0.0123"),
    (0, "0"), (None, "-"), (-250.4, "-250")])
def test_numbers_for_tables(x: float | None, text: str) -> None:
    assert format_number(x) == text


@pytest.mark.parametrize(("x", "text"), [
    (3.3249, "3.32"), (9.999, "10.0"), (49.24, "49.2"), (99.96, "100"), (333.3, "333"),
    (999.4, "999"), (999.6, "1.00k"), (1234, "1.23k"), (36934, "36.9k"), (2.5e6, "2.50M"),
    (7.1e9, "7.10G")])
def test_si_prefixes_keep_three_digits(x: float, text: str) -> None:
    assert format_si(x) == text


@pytest.mark.parametrize(("rate", "unit", "text"), [
    (3.3249, "it", "3.32it/s"), (49.2, "it", "49.2it/s"), (333.33, "it", "333it/s"),
    (36934, "it", "36.9kit/s"), (0.4, "it", "2.50s/it"), (0.01, "it", "100s/it"),
    (0.9999, "it", "1.00s/it"), (30, "jobs", "30.0 jobs/s"), (0.25, "jobs", "4.00 s/job"),
    (1500, "items", "1.50k items/s"), (None, "it", "-"), (0, "it", "-"), (-1, "it", "-")])
def test_rates_like_tqdm(rate: float | None, unit: str, text: str) -> None:
    assert format_rate(rate, unit) == text


@pytest.mark.parametrize(("fraction", "text"), [
    (0, "  0%"), (0.004, "  0%"), (0.4, " 40%"), (0.07, "  7%"), (0.996, " 99%"),
    (0.9999, " 99%"), (1.0, "100%"), (1.2, "100%"), (-0.1, "  0%"), (None, "")])
def test_percent_is_floored_and_four_wide(fraction: float | None, text: str) -> None:
    assert format_percent(fraction) == text


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "00:00"), (4.99, "00:04"), (59.9, "00:59"), (60, "01:00"), (725, "12:05"),
    (3599, "59:59"), (3600, "1:00:00"), (3723, "1:02:03"), (90061, "25:01:01"),
    (-3, "00:00"), (None, "-"), (float("inf"), "∞")])
def test_clock_like_tqdm(seconds: float | None, text: str) -> None:
    assert format_clock(seconds) == text


def test_elapsed_and_eta() -> None:
    assert format_elapsed(4.2, 7.2) == "00:04<00:07"
    assert format_elapsed(4.2) == "00:04"
    assert format_elapsed(None) == "00:00"
    assert eta_seconds(16, 40, 24 / 7.2) == pytest.approx(7.2)
    assert eta_seconds(40, 40, 3.0) == 0.0
    assert eta_seconds(50, 40, 3.0) == 0.0  # overshoot: nothing left, never negative
    for done, total, rate in [(16, None, 3.0), (16, 0, 3.0), (0, 40, None), (0, 40, 0.0)]:
        assert eta_seconds(done, total, rate) is None


@pytest.mark.parametrize(("seconds", "text"), [
    (4e-10, "0 ns"), (850e-9, "850 ns"), (12.34e-6, "12.3 µs"), (0.0012, "1.2 ms"),
    (0.25, "250.0 ms"), (0.99996, "1.00 s"), (3.4, "3.40 s"), (125, "2m 05s"),
    (7322, "2h 02m"), (0, "0 s"), (None, "-")])
def test_durations_for_tables(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_profile_module_keeps_its_name_for_format_duration() -> None:
    from godnb.utils import profile

    assert profile.format_duration is format_duration


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "just now"), (0.3, "just now"), (1, "1 s ago"), (59.9, "59 s ago"),
    (60, "1 min ago"), (150, "2 min ago"), (3600, "1 h ago"), (86400, "1 day ago"),
    (3 * 86400, "3 days ago")])
def test_ago_in_words(seconds: float, text: str) -> None:
    assert format_ago(seconds) == text


def test_local_time_today_and_on_another_day() -> None:
    noon = datetime(2024, 5, 1, 12, 0, 5, tzinfo=UTC)
    paris = timezone(timedelta(hours=2))
    assert format_time(noon, noon, tz=UTC) == "12:00:05"
    assert format_time(noon, noon, tz=paris) == "14:00:05"  # local time, not UTC
    assert format_time(noon, noon + timedelta(days=2), tz=UTC) == "2024-05-01 12:00"
    assert format_time(noon.replace(tzinfo=None), noon, tz=UTC) == "12:00:05"  # naive = UTC
    assert format_when(noon, noon + timedelta(seconds=150), tz=paris) == \
        "14:00:05 (2 min ago)"
    assert "T" not in format_time(noon) and "+00:00" not in format_time(noon)


def test_bytes() -> None:
    assert [format_bytes(n) for n in (0, 999, 1000, 12_345, 4_560_000, 2.5e9)] == \
        ["0 B", "999 B", "1.00 KB", "12.3 KB", "4.56 MB", "2.50 GB"]


def test_names_fit_a_fixed_column() -> None:
    names = ["fit", "score-a-very-long-task-name", "flat_map[3]:<lambda>", "x" * 12]
    fitted = [fit_name(n, 12) for n in names]
    assert {len(f) for f in fitted} == {12}
    assert fitted[0] == "fit         "
    assert fitted[1] == "score-a-ver…" and fitted[2] == "flat_map[3]…"
    assert fitted[3] == "x" * 12  # exactly the width: no ellipsis
    assert ellipsize("abc", 0) == "" and ellipsize("abc", 1) == "…"


def test_first_line_of_an_error() -> None:
    assert first_line("KeyError: 'id'") == "KeyError: 'id'"
    assert first_line("\nValueError: bad\n  detail\n") == "ValueError: bad …"
    assert first_line("") == ""


@pytest.mark.parametrize(("fraction", "width", "text"), [
    (0.0, 10, " " * 10), (0.4, 10, "████      "), (0.42, 10, "████▏     "),
    (0.45, 10, "████▌     "), (0.999, 10, "█████████▉"), (1.0, 10, "█" * 10),
    (1.7, 4, "████"), (None, 4, "    "), (0.5, 0, "")])
def test_text_bar_in_eighths(fraction: float | None, width: int, text: str) -> None:
    assert text_bar(fraction, width) == text
    assert len(text) == width


def test_text_bar_fill() -> None:
    assert text_bar(None, 5, "░") == "░░░░░"
    assert text_bar(0.2, 3, "█") == "███"
