"""HTML pieces of a progress line: name column, percentage, bar, label, error.

A line reads like tqdm's (``score  40% ████▏     16/40 [00:04<00:07, 3.32it/s]``) and
is built from fixed-width parts, so the bars of different jobs, in different cells,
start at the same x: the name column is ``NAME_EM`` wide (about ``NAME_CH`` characters;
longer names are ellipsised, the full name in a tooltip), the percentage ``PERCENT_EM``.

Every style survives JupyterLab's sanitizer of untrusted output (a notebook reopened
from disk): lengths in px and em (not ch), margins (not gap), and each colour given
plainly before the theme variable that refines it.

Bars look like ipywidgets' own progress bar (same height, same theme colours, no
rounded corners) so a static fallback and a live widget read the same. A bar is one of:

* a fill of one colour (:func:`bar_html`): the share done, in the status's colour;
* stacked segments (:func:`stacked_bar_html`): a group's completed, failed and cancelled
  shares side by side, like Dask's progress bars;
* a striped fill (``striped=True``): running, with no known total.

Example:
    >>> 'width:40.0%' in bar_html(0.4, "running")
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from godnb.utils.formatting import first_line
from godnb.views.palette import TRACK, TRACK_FALLBACK, status_fill, status_text_colour

__all__ = [
    "BAR_HEIGHT_PX",
    "BAR_WIDTH_PX",
    "FONT",
    "LABEL_STYLE",
    "LINE_STYLE",
    "GAP",
    "NAME_CH",
    "NAME_EM",
    "PERCENT_EM",
    "STRIPES",
    "bar_html",
    "error_html",
    "name_html",
    "percent_html",
    "stacked_bar_html",
    "status_html",
]

NAME_CH = 20        # the name column of text lines, in characters
NAME_EM = 11.0      # ... of HTML lines: about 20 characters of the UI font
PERCENT_EM = 2.6    # " 40%"
BAR_WIDTH_PX = 240  # static bars; widgets use the same width
BAR_HEIGHT_PX = 16
# The UI font, as tqdm's bars use, with figures of equal width so numbers do not jitter.
FONT = ("font-family:var(--jp-ui-font-family,system-ui,sans-serif);"
        "font-size:var(--jp-ui-font-size1,13px);font-variant-numeric:tabular-nums")
# One line that never wraps: parts in a row, vertically centred, the label last.
LINE_STYLE = (f"{FONT};display:flex;flex-direction:row;flex-wrap:nowrap;align-items:center;"
              "white-space:nowrap;line-height:28px;min-height:28px;overflow:hidden")
# The label right of a bar: a row of its own whose last parts (message, error) shrink
# to an ellipsis instead of wrapping to a second line.
LABEL_STYLE = ("display:flex;flex-direction:row;flex-wrap:nowrap;align-items:center;"
               "min-width:0;white-space:nowrap;overflow:hidden")
GAP = "margin-right:8px"  # between the parts of a line
# Diagonal stripes over a fill: "running, length unknown" (animated in the widget).
STRIPES = ("background-image:linear-gradient(45deg,rgba(255,255,255,.3) 25%,transparent 25%,"
           "transparent 50%,rgba(255,255,255,.3) 50%,rgba(255,255,255,.3) 75%,transparent 75%,"
           "transparent);background-size:16px 16px")


def name_html(name: str, width_ch: int = NAME_CH) -> str:
    """The name in a column ``width_ch`` characters wide, ellipsised, full name on hover."""
    width = NAME_EM * width_ch / NAME_CH
    return (f'<span class="godnb-name" title="{escape(name)}" style="display:inline-block;'
            f"flex:none;width:{width:g}em;overflow:hidden;text-overflow:ellipsis;"
            f"white-space:nowrap;font-weight:600;vertical-align:middle;line-height:28px;"
            f'{GAP}">{escape(name)}</span>')


def percent_html(text: str) -> str:
    """The percentage column (``" 40%"``; empty keeps its width)."""
    return (f'<span class="godnb-percent" style="display:inline-block;flex:none;'
            f"width:{PERCENT_EM:g}em;text-align:right;vertical-align:middle;line-height:28px;"
            f'{GAP}">{escape(text.strip())}</span>')


def _track(inner: str, width_px: int, height_px: int, status: str, title: str | None,
           gap: bool = True) -> str:
    tip = f' title="{escape(title)}"' if title else ""
    return (f'<span class="godnb-bar" data-status="{escape(status)}"{tip} '
            f'style="display:inline-flex;flex:none;width:{width_px}px;height:{height_px}px;'
            f"background-color:{TRACK_FALLBACK};background-color:{TRACK};overflow:hidden;"
            f'vertical-align:middle{";" + GAP if gap else ""}">{inner}</span>')


def bar_html(fraction: float | None, status: str, *, width_px: int = BAR_WIDTH_PX,
             height_px: int = BAR_HEIGHT_PX, striped: bool = False,
             title: str | None = None) -> str:
    """A bar filled to ``fraction`` in the colour of ``status`` (a job status value, or
    ``"unknown"`` for running without a total). None fills nothing."""
    pct = 0.0 if fraction is None else max(0.0, min(1.0, fraction)) * 100
    stripes = ";" + STRIPES if striped else ""
    fill = (f'<span class="godnb-fill" data-status="{escape(status)}" style="display:block;'
            f'height:100%;width:{pct:.1f}%;{status_fill(status)}{stripes}"></span>')
    return _track(fill, width_px, height_px, status, title)


def stacked_bar_html(segments: Sequence[tuple[str, float, str]], status: str, *,
                     width_px: int = BAR_WIDTH_PX, height_px: int = BAR_HEIGHT_PX,
                     title: str | None = None, gap: bool = True) -> str:
    """One bar of side-by-side shares: ``(status, fraction, tooltip)`` per segment.

    ``status`` names the whole bar (its ``data-status``). Segments of zero width are left
    out; the rest of the track stays empty (jobs not ended yet).
    """
    parts = []
    for seg_status, fraction, tip in segments:
        pct = max(0.0, min(1.0, fraction)) * 100
        if pct <= 0:
            continue
        parts.append(f'<span class="godnb-seg" data-status="{escape(seg_status)}" '
                     f'title="{escape(tip)}" style="display:block;flex:none;height:100%;'
                     f'width:{pct:.2f}%;{status_fill(seg_status)}"></span>')
    return _track("".join(parts), width_px, height_px, status, title, gap)


def status_html(status: str, text: str | None = None) -> str:
    """A status word in its colour (bold, so the colour reads in both themes)."""
    return (f'<span class="godnb-status" data-status="{escape(status)}" '
            f'style="{status_text_colour(status)};font-weight:600;margin-right:6px">'
            f"{escape(text or status)}</span>")


def error_html(text: str, prefix: str = "", max_ch: int = 60) -> str:
    """An error that stays on its line: ellipsised by CSS at ``max_ch`` characters, the
    full text (every line of it) in the tooltip."""
    shown = prefix + first_line(text)
    return (f'<span class="godnb-error" title="{escape(str(text))}" style="display:inline-block;'
            f"flex:0 1 auto;min-width:0;max-width:{max_ch * 0.55:g}em;overflow:hidden;"
            f"text-overflow:ellipsis;white-space:nowrap;vertical-align:bottom;margin-right:6px;"
            f'{status_text_colour("failed")}">{escape(shown)}</span>')
