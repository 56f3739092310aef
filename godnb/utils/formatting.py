"""How godnb writes numbers, for every display: widgets, HTML, text and the CLI alike.

Pure functions of their arguments (no clock, no locale): the same count, duration or
rate reads the same in a progress bar, a profile table, a report and a terminal.

Two styles of duration, as users know them:

* **bars** use tqdm's clock: ``00:04``, ``12:05``, ``1:02:03`` (:func:`format_clock`),
  with the ETA after a ``<`` (``00:04<00:07``, :func:`format_elapsed`);
* **tables** use a number and a unit: ``850 ns``, ``12.3 µs``, ``1.2 ms``, ``3.40 s``,
  ``2m 05s`` (:func:`format_duration`).

Counts carry thousands separators (``2,944``); rates keep three significant digits with
an SI prefix when large (``3.32it/s``, ``49.2it/s``, ``36.9k it/s`` is written
``36.9kit/s`` as tqdm does) and turn into seconds per item when slower than one a second
(``2.50s/it``). Percentages are floored, so a bar reads 100% only once it is complete.

Example:
    >>> format_count(2944), format_clock(4.2), format_rate(3.3249), format_percent(0.4)
    ('2,944', '00:04', '3.32it/s', ' 40%')
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo

__all__ = [
    "BAR_BLOCKS",
    "ELLIPSIS",
    "ellipsize",
    "eta_seconds",
    "first_line",
    "fit_name",
    "format_ago",
    "format_bytes",
    "format_clock",
    "format_count",
    "format_duration",
    "format_elapsed",
    "format_number",
    "format_percent",
    "format_rate",
    "format_si",
    "format_time",
    "format_when",
    "text_bar",
]

ELLIPSIS = "…"
# tqdm's bar: full blocks, then one partial block in eighths.
BAR_BLOCKS = " ▏▎▍▌▋▊▉█"


# -- counts and plain numbers ----------------------------------------------------------------
def format_count(n: float | None) -> str:
    """A count with thousands separators; a fractional count keeps up to two decimals.

    Example:
        >>> format_count(1234567), format_count(2.5), format_count(None)
        ('1,234,567', '2.5', '-')
    """
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "-"
    if float(n).is_integer():
        return f"{int(n):,}"
    return f"{n:,.2f}".rstrip("0").rstrip(".")


def format_number(x: float | None) -> str:
    """A measured quantity for a table column: three significant digits, separators.

    Example:
        >>> [format_number(x) for x in (36934.2, 49.24, 3.3249, 0.01234, 0)]
        ['36,934', '49.2', '3.32', '0.0123', '0']
    """
    if x is None or math.isnan(x):
        return "-"
    if x == 0:
        return "0"
    size = abs(x)
    if size >= 100:
        return f"{x:,.0f}"
    if size >= 10:
        return f"{x:.1f}"
    if size >= 1:
        return f"{x:.2f}"
    return f"{x:.3g}"


_SI = ((1e9, "G"), (1e6, "M"), (1e3, "k"))


def format_si(x: float) -> str:
    """Three significant digits with a k/M/G prefix above 1,000 (tqdm's ``unit_scale``).

    Example:
        >>> [format_si(x) for x in (3.3249, 49.24, 333.3, 1234, 36934, 2.5e6)]
        ['3.32', '49.2', '333', '1.23k', '36.9k', '2.50M']
    """
    size = abs(x)
    for scale, prefix in _SI:
        if size >= scale * 0.9995:  # 999.6 reads "1.00k", never "1000"
            return _three_digits(x / scale) + prefix
    return _three_digits(x)


def _three_digits(x: float) -> str:
    size = abs(x)
    if round(size, 2) < 10:
        return f"{x:.2f}"
    if round(size, 1) < 100:
        return f"{x:.1f}"
    return f"{x:.0f}"


def format_rate(rate: float | None, unit: str = "it") -> str:
    """Items per second as a bar shows them: ``3.32it/s``, ``1.23kit/s``, ``2.50s/it``.

    tqdm's layout for the default unit ``"it"`` (no space); other units read better with
    one (``30.0 jobs/s``, ``4.00 s/job``). None or 0 reads ``"-"``.

    Example:
        >>> format_rate(3.3249), format_rate(0.4), format_rate(30, "jobs"), format_rate(None)
        ('3.32it/s', '2.50s/it', '30.0 jobs/s', '-')
    """
    if rate is None or math.isnan(rate) or rate <= 0:
        return "-"
    sep = "" if unit == "it" else " "
    if rate >= 1:
        return f"{format_si(rate)}{sep}{unit}/s"
    single = unit[:-1] if unit.endswith("s") and len(unit) > 2 else unit
    return f"{format_si(1 / rate)}{sep}s/{single}"


def format_percent(fraction: float | None) -> str:
    """A fraction as tqdm prints it, right-aligned in four characters: ``' 40%'``.

    Floored, so a bar that is 99.6% done reads ``99%`` until it is complete. None reads
    ``""`` (callers show a state instead of a placeholder like ``?%``).

    Example:
        >>> format_percent(0.4), format_percent(0.996), format_percent(1.0), format_percent(None)
        (' 40%', ' 99%', '100%', '')
    """
    if fraction is None or math.isnan(fraction):
        return ""
    pct = 100 if fraction >= 1 else max(0, min(99, math.floor(fraction * 100 + 1e-9)))
    return f"{pct:3d}%"


def format_bytes(n: float) -> str:
    """A size: ``512 B``, ``12.3 KB``, ``4.56 MB`` (powers of 1,000).

    Example:
        >>> format_bytes(512), format_bytes(12_345), format_bytes(4_560_000)
        ('512 B', '12.3 KB', '4.56 MB')
    """
    if abs(n) < 1000:
        return f"{int(n)} B"
    for scale, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= scale * 0.9995:
            return f"{_three_digits(n / scale)} {prefix}B"
    return f"{int(n)} B"  # pragma: no cover (unreachable)


# -- durations -------------------------------------------------------------------------------
def format_clock(seconds: float | None) -> str:
    """tqdm's clock: ``00:04``, ``12:05``, ``1:02:03`` (whole seconds, floored).

    Example:
        >>> format_clock(4.9), format_clock(725), format_clock(3723), format_clock(None)
        ('00:04', '12:05', '1:02:03', '-')
    """
    if seconds is None or math.isnan(seconds):
        return "-"
    if math.isinf(seconds):
        return "∞"
    whole = int(max(0.0, seconds))
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours:d}:{minutes:02d}:{secs:02d}"
    return f"{minutes:02d}:{secs:02d}"


def eta_seconds(done: float, total: float | None, rate: float | None) -> float | None:
    """Seconds left at ``rate`` items per second; None when it can not be known.

    Example:
        >>> eta_seconds(16, 40, 3.32), eta_seconds(16, None, 3.32), eta_seconds(0, 40, None)
        (7.228915662650603, None, None)
    """
    if not total or not rate or rate <= 0 or math.isnan(rate):
        return None
    return max(0.0, (total - done) / rate)


def format_elapsed(elapsed: float | None, eta: float | None = None) -> str:
    """The time part of a bar, as tqdm prints it: ``00:04<00:07`` (or ``00:04``).

    Example:
        >>> format_elapsed(4.2, 7.2), format_elapsed(12.5)
        ('00:04<00:07', '00:12')
    """
    text = format_clock(elapsed or 0.0)
    return text if eta is None else f"{text}<{format_clock(eta)}"


# Units of format_duration: (upper limit in seconds, scale, unit, decimals).
_UNITS = ((1e-6, 1e9, "ns", 0), (1e-3, 1e6, "µs", 1), (1.0, 1e3, "ms", 1), (60.0, 1.0, "s", 2))


def format_duration(seconds: float | None) -> str:
    """Seconds as a table shows them: ``"850 ns"``, ``"1.2 ms"``, ``"3.40 s"``, ``"2m 05s"``.

    None and nan read ``"-"``; zero reads ``"0 s"``.

    Example:
        >>> format_duration(0.0012), format_duration(3.4), format_duration(125)
        ('1.2 ms', '3.40 s', '2m 05s')
    """
    if seconds is None or math.isnan(seconds):
        return "-"
    if seconds == 0:
        return "0 s"
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    for limit, scale, unit, digits in _UNITS:
        # Compare the rounded value, so 0.99996 s moves up to "1.00 s", never "1000.0 ms".
        if round(seconds * scale, digits) < limit * scale:
            return f"{sign}{seconds * scale:.{digits}f} {unit}"
    whole = round(seconds)
    if whole < 3600:
        return f"{sign}{whole // 60}m {whole % 60:02d}s"
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{sign}{hours}h {rest:02d}m"


# -- moments ---------------------------------------------------------------------------------
def format_ago(seconds: float) -> str:
    """How long ago, in words: ``just now``, ``12 s ago``, ``2 min ago``, ``3 h ago``.

    Example:
        >>> [format_ago(s) for s in (0.4, 12, 150, 3 * 3600 + 5, 3 * 86400)]
        ['just now', '12 s ago', '2 min ago', '3 h ago', '3 days ago']
    """
    s = max(0.0, seconds)
    if s < 1:
        return "just now"
    if s < 60:
        return f"{int(s)} s ago"
    if s < 3600:
        return f"{int(s // 60)} min ago"
    if s < 86400:
        return f"{int(s // 3600)} h ago"
    days = int(s // 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"


def format_time(moment: datetime, now: datetime | None = None, tz: tzinfo | None = None
                ) -> str:
    """A moment in local time: ``14:03:05`` today, ``2024-05-01 14:03`` on another day.

    ``tz`` defaults to the machine's local zone; a naive ``moment`` is taken as UTC.

    Example:
        >>> noon = datetime(2024, 5, 1, 12, 0, 5, tzinfo=UTC)
        >>> later = datetime(2024, 6, 1, tzinfo=UTC)
        >>> format_time(noon, noon, tz=UTC), format_time(noon, later, tz=UTC)
        ('12:00:05', '2024-05-01 12:00')
    """
    moment = _aware(moment).astimezone(tz)
    today = _aware(now if now is not None else datetime.now(UTC)).astimezone(tz).date()
    if moment.date() == today:
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%Y-%m-%d %H:%M")


def format_when(moment: datetime, now: datetime | None = None, tz: tzinfo | None = None
                ) -> str:
    """Local time and how long ago: ``14:03:05 (2 min ago)``.

    Example:
        >>> t = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
        >>> format_when(t, datetime(2024, 5, 1, 12, 2, 30, tzinfo=UTC), tz=UTC)
        '12:00:00 (2 min ago)'
    """
    now = _aware(now if now is not None else datetime.now(UTC))
    ago = (now - _aware(moment)).total_seconds()
    return f"{format_time(moment, now, tz)} ({format_ago(ago)})"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# -- text ------------------------------------------------------------------------------------
def first_line(text: str) -> str:
    """The first non-empty line of ``text``, marked with an ellipsis if more followed.

    Example:
        >>> first_line("ValueError: bad\\nmore detail")
        'ValueError: bad …'
    """
    lines = [line for line in str(text).splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[0] + (f" {ELLIPSIS}" if len(lines) > 1 else "")


def ellipsize(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` characters, the cut marked with ``…``.

    Example:
        >>> ellipsize("flat_map[3]:<lambda>", 12), ellipsize("fit", 12)
        ('flat_map[3]…', 'fit')
    """
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    return text[: width - 1] + ELLIPSIS


def fit_name(name: str, width: int) -> str:
    """``name`` in a column exactly ``width`` characters wide: padded or ellipsised.

    Bars of different jobs then start at the same column.

    Example:
        >>> fit_name("fit", 6) + "|", fit_name("inference", 6) + "|"
        ('fit   |', 'infer…|')
    """
    return ellipsize(name, width).ljust(width)


def text_bar(fraction: float | None, width: int, fill: str | None = None) -> str:
    """A bar ``width`` characters wide in tqdm's blocks (eighths at the tip).

    ``fill`` draws the whole bar with one character instead (e.g. ``"░"`` for a job of
    unknown length, ``"█"`` for one that ended without reporting progress).

    Example:
        >>> text_bar(0.4, 10) + "|", text_bar(0.42, 10) + "|", text_bar(None, 4, "░")
        ('████      |', '████▏     |', '░░░░')
    """
    if width <= 0:
        return ""
    if fill is not None:
        return fill * width
    frac = 0.0 if fraction is None or math.isnan(fraction) else max(0.0, min(1.0, fraction))
    eighths = int(frac * width * 8 + 1e-9)
    full, part = divmod(eighths, 8)
    bar = "█" * full
    if full < width:
        bar += BAR_BLOCKS[part] if part else ""
    return bar.ljust(width)
