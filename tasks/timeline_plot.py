"""The dub report's timeline: each cue's window against where its speech was placed, as SVG.

Plain strings, no plotting library: the report must not pay matplotlib's import for one
picture, and an SVG opens in any browser. One row per cue; the light bar is the cue's window,
the dark bar the placed speech coloured by what the fit did, a tick mark the latest the speech
may end. Width grows with the timeline (:data:`PX_PER_S`) up to :data:`MAX_WIDTH_PX`; a wider
plot scrolls in the report.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from tasks.fit import CueWindow, Fit

__all__ = ["timeline_svg", "ACTION_COLOURS", "PX_PER_S", "MAX_WIDTH_PX"]

ACTION_COLOURS = {"fits": "#2e7d32", "borrowed": "#1565c0", "stretched": "#ef6c00", "trimmed": "#c62828", "overlaps": "#6a1b9a"}
"""Colour of the placed speech by :attr:`Fit.action`."""
PX_PER_S = 20.0
"""Horizontal scale, until the plot would be wider than :data:`MAX_WIDTH_PX`."""
MAX_WIDTH_PX = 4000.0
_LABEL_PX, _ROW_PX, _TOP_PX, _AXIS_PX = 160, 18, 28, 24


def _tick_step_s(px_per_s: float) -> int:
    """Seconds between labelled ticks, so that labels stay at least ~50 px apart."""
    return next(step for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600) if step * px_per_s >= 50 or step == 3600)


def _clock(t_s: int, end_s: float) -> str:
    """``m:ss``, or ``h:mm:ss`` on a timeline of an hour or more."""
    return f"{t_s // 3600}:{t_s // 60 % 60:02d}:{t_s % 60:02d}" if end_s >= 3600 else f"{t_s // 60}:{t_s % 60:02d}"


def timeline_svg(fits: Sequence[Fit], windows: Sequence[CueWindow], labels: Sequence[str], timeline_s: float) -> str:
    """A self-contained SVG of the fits, one row per cue labelled with ``labels[i]``."""
    if not len(fits) == len(windows) == len(labels):
        raise ValueError(f"{len(fits)} fits, {len(windows)} windows and {len(labels)} labels")
    end_s = max([timeline_s, *(f.end_s for f in fits)], default=timeline_s) or 1.0
    scale = min(PX_PER_S, MAX_WIDTH_PX / end_s)
    width, height = _LABEL_PX + end_s * scale + 10, _TOP_PX + len(fits) * _ROW_PX + _AXIS_PX

    def x(t_s: float) -> str:
        return f"{_LABEL_PX + max(0.0, t_s) * scale:.1f}"

    def bar(y: float, start_s: float, stop_s: float, height_px: int, fill: str, title: str) -> str:
        size = f'width="{max(0.0, stop_s - start_s) * scale:.1f}" height="{height_px}"'
        return f'<rect x="{x(start_s)}" y="{y}" {size} fill="{fill}"><title>{escape(title)}</title></rect>'

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}" '
        f'viewBox="0 0 {width:.0f} {height}" font-family="sans-serif" font-size="11">',
        '<rect width="100%" height="100%" fill="white"/>',
    ]
    legend_x = _LABEL_PX
    for action, colour in ACTION_COLOURS.items():
        parts.append(f'<rect x="{legend_x}" y="8" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="17">{action}</text>')
        legend_x += 90
    for i, (fit, window, label) in enumerate(zip(fits, windows, labels)):
        y = _TOP_PX + i * _ROW_PX
        text = escape(label if len(label) <= 24 else label[:23] + "…")
        parts.append(f'<text x="4" y="{y + 12}">{text}<title>{escape(label)}</title></text>')
        parts.append(bar(y + 2, window.start_s, window.end_s, 14, "#e0e0e0", f"cue {window.start_s:.2f}-{window.end_s:.2f} s"))
        tip = f"{fit.action}: {fit.start_s:.2f}-{fit.end_s:.2f} s, tempo {fit.tempo:.2f}, overflow {fit.overflow_s:.2f} s"
        parts.append(bar(y + 5, fit.start_s, fit.end_s, 8, ACTION_COLOURS.get(fit.action, "black"), tip))
        parts.append(f'<line x1="{x(fit.limit_s)}" x2="{x(fit.limit_s)}" y1="{y + 1}" y2="{y + 17}" stroke="#616161"/>')
    axis_y = _TOP_PX + len(fits) * _ROW_PX + 4
    parts.append(f'<line x1="{x(0)}" x2="{x(end_s)}" y1="{axis_y}" y2="{axis_y}" stroke="black"/>')
    step = _tick_step_s(scale)
    for t in range(0, int(end_s) + 1, 1 if scale >= 4 else step):  # a tick a second while they are 4 px apart
        major = t % step == 0
        parts.append(f'<line x1="{x(t)}" x2="{x(t)}" y1="{axis_y}" y2="{axis_y + (6 if major else 3)}" stroke="black"/>')
        if major:
            parts.append(f'<text x="{x(t)}" y="{axis_y + 17}" text-anchor="middle">{_clock(t, end_s)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
