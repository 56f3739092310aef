"""Colours: one per job status, one per task in a timeline; all checked for contrast.

Status colours are JupyterLab's theme variables (what ipywidgets' own bar styles use, so
a static bar and a widget bar look alike and both follow the light and dark themes),
each with a fallback for pages without Lab's stylesheet (nbconvert, GitHub, a report
file). The fallbacks reach WCAG's 4.5:1 against white, so a status word is readable
as text, and 3:1 against the empty track of a bar.

Measured in Lab 4 (light / dark page background): bar fills use the ``color1`` shades
ipywidgets uses (completed 4.1 / 6.8, failed 5.0 / 5.1, running 4.6 / 6.0), except a
cancelled bar, whose ``--jp-warn-color1`` is 2.7:1 on white: it uses ``warn-color0``
(3.8 / 7.0). Status *words* need 4.5:1 as text, so they take the shade that reaches it
in both themes (:data:`STATUS_TEXT`): ``success-color0`` (7.9 / 4.6), ``error-color1``
(5.0 / 5.1), ``brand-color1`` (4.6 / 6.0), ``ui-font-color2`` for pending, and for
cancelled ``warn-color0`` mixed a fifth with the text colour (5.1 / 7.9).

The task palette has ten mid-tone hues without a pure red (red means "failed"), each at
least 3:1 against white and against Lab's dark background: a mark stays visible in both
themes. Task ``i`` (in order of first appearance) gets colour ``i % 10``, so a task
keeps its colour while a live timeline redraws.

Example:
    >>> status_colour("failed")
    'var(--jp-error-color1,#c62828)'
    >>> round(contrast_ratio(STATUS_FALLBACK["failed"], "#ffffff"), 1)
    5.6
"""

from __future__ import annotations

__all__ = [
    "FAILED_MARK",
    "STATUS_FALLBACK",
    "STATUS_TEXT",
    "STATUS_VAR",
    "TASK_PALETTE",
    "TRACK",
    "TRACK_FALLBACK",
    "contrast_ratio",
    "status_colour",
    "status_fill",
    "status_text_colour",
    "task_colour",
]

# Status -> (Lab theme variable, fallback). ipywidgets: bar_style "success" uses
# --jp-success-color1, "danger" --jp-error-color1, "warning" --jp-warn-color1, "info"
# --jp-info-color1, and a plain bar --jp-brand-color1.
STATUS_VAR = {
    "pending": "--jp-layout-color4",
    "running": "--jp-brand-color1",
    "completed": "--jp-success-color1",
    "failed": "--jp-error-color1",
    "cancelled": "--jp-warn-color0",
    "unknown": "--jp-info-color1",  # running without a known total
}
STATUS_FALLBACK = {
    "pending": "#757575",
    "running": "#1976d2",
    "completed": "#2e7d32",
    "failed": "#c62828",
    "cancelled": "#b45309",
    "unknown": "#00838f",
}
# Status words (text): a shade that reads at 4.5:1 in both themes (see the module doc).
STATUS_TEXT = {
    "pending": "var(--jp-ui-font-color2,#616161)",
    "running": "var(--jp-brand-color1,#1976d2)",
    "completed": "var(--jp-success-color0,#2e7d32)",
    "failed": "var(--jp-error-color1,#c62828)",
    "cancelled": "color-mix(in srgb,var(--jp-warn-color0,#b45309) 80%,"
                 "var(--jp-ui-font-color1,#000))",
    "unknown": "var(--jp-brand-color1,#1976d2)",
}
# The empty part of a bar (ipywidgets: .progress background).
TRACK = "var(--jp-layout-color2,#eeeeee)"
TRACK_FALLBACK = "#eeeeee"
# How a failed run is marked in a timeline (outline and tick), whatever its task colour.
FAILED_MARK = "var(--jp-error-color1,#c62828)"

TASK_PALETTE = (
    "#4e79a7",  # blue
    "#c27d0e",  # ochre
    "#59a14f",  # green
    "#b07aa1",  # purple
    "#2a9d8f",  # teal
    "#9c755f",  # brown
    "#d37295",  # pink
    "#7f7fbf",  # lavender
    "#8c8c3a",  # olive
    "#4f8fbf",  # sky
)


def status_colour(status: str) -> str:
    """The CSS colour of a status (a job's ``status.value``): a theme variable with a
    fallback."""
    key = status if status in STATUS_VAR else "pending"
    return f"var({STATUS_VAR[key]},{STATUS_FALLBACK[key]})"


def status_text_colour(status: str) -> str:
    """The CSS ``color`` declarations of a status word (a fallback first, for a browser
    without ``color-mix``)."""
    key = status if status in STATUS_TEXT else "pending"
    return f"color:{STATUS_FALLBACK[key]};color:{STATUS_TEXT[key]}"


def status_fill(status: str) -> str:
    """``background-color`` declarations of a status's bar fill: a plain colour first.

    JupyterLab sanitizes the HTML of an untrusted notebook (one reopened from disk) and
    drops a declaration whose value is not a plain colour, such as ``var(...)``; with a
    plain colour first, the bar keeps a colour there and follows the theme elsewhere.
    """
    key = status if status in STATUS_VAR else "pending"
    return f"background-color:{STATUS_FALLBACK[key]};background-color:{status_colour(key)}"


def task_colour(index: int) -> str:
    """The colour of the ``index``-th task (in order of first appearance)."""
    return TASK_PALETTE[index % len(TASK_PALETTE)]


def _luminance(colour: str) -> float:
    h = colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    channels = [int(h[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    a, b = _luminance(foreground), _luminance(background)
    return (max(a, b) + 0.05) / (min(a, b) + 0.05)
