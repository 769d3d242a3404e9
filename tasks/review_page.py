"""The review page: the render report as one self-contained HTML file, for people to look at.

A reviewer wants to see, not read: how loud the book is over time, how the takes' word error
rates spread, and for each take the quality gate flagged, the script beside what ASR heard and
a player to hear it. So the page holds:

- key figures, warnings and the report's tables (chapters, files, cues);
- loudness over time: RMS in dBFS over 3 s windows every 1 s, all chapters on one time axis
  with their boundaries marked and the ACX RMS range (-23 to -18 dBFS) shaded; each file is
  read in blocks with soundfile, so memory stays flat for a 20-hour book, and a long book is
  drawn with a coarser step so the plot stays a few thousand points;
- the dub's timeline (:mod:`tasks.timeline_plot`), embedded as it is;
- the WER distribution, a histogram with the median and the worst take marked;
- one card per flagged take: its problems and figures, the script text beside what ASR heard
  (words that differ are marked), and an ``<audio controls>`` player whose source is the take
  encoded to Ogg Opus (mono, 32 kbit/s) in a ``data:`` URI. Players stop at
  :attr:`ReviewPage.max_players`, so the page stays a few megabytes; the rest are listed.

Self-contained means it fetches nothing: CSS, plots (matplotlib's SVG, inline) and sound are
in the file, and a Content-Security-Policy forbids any other source, so the page looks the
same offline, attached to a ticket or years later. Every text from a book, a subtitle file or
ASR is escaped, and the CSP allows only the page's own script (by its hash) even if a text
slipped through. That script sets ``data-duration`` on each player once its metadata loads,
so a headless browser can tell that the players really decode.

matplotlib, numpy and soundfile are imported inside the functions that use them: ``castline
review`` imports this module only to find the page.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import html
import logging
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from castline.errors import CastlineError
from castline.layout import OutputLayout
from castline.model import Decibels, Seconds
from castline.tempfiles import write_text_atomic

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

__all__ = [
    "FlaggedTake",
    "ReviewPage",
    "write_review_page",
    "latest_review_page",
    "PUBLISHED_PAGE_NAME",
    "ACX_RMS_RANGE_DB",
]

log = logging.getLogger(__name__)

PUBLISHED_PAGE_NAME = "report.html"
"""The page a render publishes next to its deliverables (``report.md``, ``report.json``)."""
ACX_RMS_RANGE_DB: tuple[Decibels, Decibels] = (-23.0, -18.0)
"""The RMS range ACX asks of every file, in dBFS: shaded on the loudness plot."""

_WINDOW_S: Seconds = 3.0
"""Length of one loudness window (short-term, like EBU R128's 3 s)."""
_HOP_S: Seconds = 1.0
"""Step between loudness windows."""
_MAX_PLOT_POINTS = 3000
"""Beyond this many steps over all chapters, the step grows (a 20-hour book: 24 s)."""
_READ_HOPS = 64
"""Hops read from a file per block (about a minute of audio)."""
_FLOOR_DB: Decibels = -90.0
"""Where the plot's y axis ends; digital silence is drawn here."""
_OPUS_BITRATE = "32k"
"""Opus bitrate of the players: plain speech, about 4 kB a second."""

_SCRIPT = """\
(function () {
  function mark(audio) {
    if (isFinite(audio.duration)) { audio.setAttribute("data-duration", String(audio.duration)); }
  }
  document.querySelectorAll("audio").forEach(function (audio) {
    audio.addEventListener("loadedmetadata", function () { mark(audio); });
    audio.addEventListener("error", function () {
      audio.setAttribute("data-error", String(audio.error ? audio.error.code : "unknown"));
    });
    if (audio.readyState >= 1) { mark(audio); }
  });
})();
"""
"""Records each player's decoded duration (``data-duration``, seconds) once its metadata loads."""

_CSS = """\
body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1100px; padding: 1em 1.5em 4em; color: #212121; }
h1 { margin-bottom: 0.1em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.subtitle { color: #616161; margin-top: 0; }
nav a { margin-right: 1em; }
dl.summary { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1.5em; }
dl.summary dt { color: #616161; } dl.summary dd { margin: 0; font-weight: 600; }
.warnings li { color: #8d4b00; }
figure { margin: 1em 0; } figcaption { color: #616161; font-size: 0.9em; }
figure svg { max-width: 100%; height: auto; }
.scroll { overflow-x: auto; border: 1px solid #eee; }
ol.chapters { columns: 3; font-size: 0.9em; color: #424242; }
table { border-collapse: collapse; margin: 0.5em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; vertical-align: top; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
th { background: #f5f5f5; }
.take { border: 1px solid #ddd; border-left: 4px solid #c62828; border-radius: 4px; padding: 0.6em 1em; margin: 1em 0; }
.take h3 { margin: 0 0 0.3em; font-size: 1em; }
.take .problems { margin: 0.2em 0; color: #b71c1c; }
.take dl { display: flex; flex-wrap: wrap; gap: 0.2em 1.5em; margin: 0.4em 0; }
.take dl div { display: flex; gap: 0.4em; } .take dt { color: #616161; } .take dd { margin: 0; }
.texts { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
.texts h4 { margin: 0.3em 0 0.1em; font-size: 0.85em; color: #616161; font-weight: normal; }
.texts p { margin: 0; white-space: pre-wrap; }
mark.miss { background: #ffcdd2; } mark.extra { background: #fff59d; }
.take audio { width: 100%; margin-top: 0.5em; }
.note { color: #616161; font-style: italic; }
"""


@dataclass(frozen=True)
class FlaggedTake:
    """A take the quality gate still rejects after its retakes: what a person must look at."""

    utterance_id: str
    text: str
    """What the script says."""
    heard: str
    """What ASR heard."""
    problems: tuple[str, ...]
    """One line per failed check, e.g. ``"word error rate 0.62 > 0.35"``."""
    figures: Mapping[str, str]
    """Label -> formatted value, e.g. ``{"WER": "0.62", "attempts": "3"}``."""
    audio: Path
    """The take's audio file (FLAC, mono, any rate)."""


@dataclass(frozen=True)
class ReviewPage:
    """Everything the page shows; built by the report, written by :func:`write_review_page`."""

    title: str
    subtitle: str
    """E.g. ``"audiobook by A. Writer, rendered 2026-12-02 07:30 UTC"``."""
    summary: Sequence[tuple[str, str]]
    """Key figures, label -> value."""
    warnings: Sequence[str]
    tables: Sequence[tuple[str, Sequence[Mapping[str, Any]]]]
    """Heading and rows (chapters, files, cues); the columns are the first row's keys."""
    loudness: Sequence[tuple[str, Path]]
    """Per chapter (or one: the dub's mix): label and audio file; empty: no loudness plot."""
    wers: Sequence[float]
    """Every checked take's word error rate; empty (QA off): no histogram."""
    flagged: Sequence[FlaggedTake]
    timeline_svg: str | None = None
    """The dub's timeline (:func:`tasks.timeline_plot.timeline_svg`), embedded as it is."""
    max_players: int = 200
    """Flagged takes after this many are listed without a player (each costs ~4 kB a second)."""


def latest_review_page(layout: OutputLayout) -> Path | None:
    """The newer of the published page and the one a QA-stopped render left, or None.

    A render that passes the gate publishes ``report.html``; one that fails publishes nothing
    and leaves :attr:`OutputLayout.review_page`. Whichever was written last describes the last
    render.
    """
    found: list[tuple[float, Path]] = []
    for path in (layout.output_dir / PUBLISHED_PAGE_NAME, layout.review_page):
        try:
            if path.is_file():
                found.append((path.stat().st_mtime, path))
        except OSError:  # removed between the two calls, or unreadable: not a page to open
            continue
    return max(found)[1] if found else None


def write_review_page(page: ReviewPage, path: Path) -> None:
    """Write the page atomically: a reader (or ``castline review``) never sees half a page."""
    started = time.monotonic()
    text = _render(page)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)
    log.info("review page %s: %.1f MB in %.1f s", path, len(text.encode("utf-8")) / 1e6, time.monotonic() - started)


# --- the page -----------------------------------------------------------------------------


def _e(text: object) -> str:
    """Escape any text for HTML, quotes included (it may end up in an attribute)."""
    return html.escape(str(text), quote=True)


def _render(page: ReviewPage) -> str:
    sections: list[tuple[str, str, str]] = []  # anchor, heading, body
    if page.summary:
        figures = "".join(f"<dt>{_e(label)}</dt><dd>{_e(value)}</dd>" for label, value in page.summary)
        sections.append(("summary", "Summary", f'<dl class="summary">{figures}</dl>'))
    if page.warnings:
        items = "".join(f"<li>{_e(w)}</li>" for w in page.warnings)
        sections.append(("warnings", f"Warnings ({len(page.warnings)})", f'<ul class="warnings">{items}</ul>'))
    if page.wers:
        sections.append(("wer", "Word error rate", _wer_section(page.wers)))
    if page.flagged:
        sections.append(("flagged", f"Flagged takes ({len(page.flagged)})", _flagged_section(page.flagged, page.max_players)))
    if page.loudness:
        sections.append(("loudness", "Loudness over time", _loudness_section(page.loudness)))
    if page.timeline_svg:
        sections.append(("timeline", "Dub timeline", f'<div class="scroll">{page.timeline_svg}</div>'))
    for n, (heading, rows) in enumerate(page.tables, 1):
        sections.append((f"table-{n}", heading, _table(rows)))
    nav = "".join(f'<a href="#{anchor}">{_e(heading)}</a>' for anchor, heading, _ in sections)
    body = "\n".join(f'<section id="{anchor}">\n<h2>{_e(heading)}</h2>\n{content}\n</section>' for anchor, heading, content in sections)
    script = "\n" + _SCRIPT  # exactly what stands between <script> and </script>: the CSP hashes that
    script_hash = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    policy = (f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; media-src data:; "
              f"script-src 'sha256-{script_hash}'; base-uri 'none'; form-action 'none'")
    return (
        "<!doctype html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="castline">\n'
        f"<title>{_e(page.title)}: review</title>\n<style>\n{_CSS}</style>\n</head>\n<body>\n"
        f'<header>\n<h1>{_e(page.title)}</h1>\n<p class="subtitle">{_e(page.subtitle)}</p>\n<nav>{nav}</nav>\n</header>\n'
        f"<main>\n{body}\n</main>\n<script>{script}</script>\n</body>\n</html>\n"
    )


def _cell(value: Any) -> tuple[str, bool]:
    """A table value as text, and whether it is a number (right-aligned)."""
    if value is None:
        return "", False
    if isinstance(value, bool):
        return ("yes" if value else "no"), False
    if isinstance(value, float):
        if math.isnan(value):
            return "", True
        return ("-inf" if value < 0 else "inf") if math.isinf(value) else f"{value:.2f}", True
    return str(value), isinstance(value, int)


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return '<p class="note">none</p>'
    columns = list(rows[0].keys())
    head = "".join(f"<th>{_e(c)}</th>" for c in columns)
    lines = []
    for row in rows:
        cells = []
        for column in columns:
            text, number = _cell(row.get(column))
            cells.append(f'<td class="number">{_e(text)}</td>' if number else f"<td>{_e(text)}</td>")
        lines.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(lines) + "\n</tbody>\n</table>"


# --- flagged takes ------------------------------------------------------------------------


def _flagged_section(takes: Sequence[FlaggedTake], max_players: int) -> str:
    cards = [_take_card(take, with_player=n < max_players) for n, take in enumerate(takes)]
    unplayable = len(takes) - min(len(takes), max(0, max_players))
    note = (f'<p class="note">{unplayable} more flagged takes are only listed, without a player '
            f"(the page embeds at most {max(0, max_players)} takes' audio).</p>\n") if unplayable else ""
    return note + "\n".join(cards)


def _take_card(take: FlaggedTake, *, with_player: bool) -> str:
    problems = "".join(f"<li>{_e(p)}</li>" for p in take.problems)
    figures = "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in take.figures.items())
    script_html, heard_html = _marked_difference(take.text, take.heard)
    if with_player:
        player = _player(take.audio)
    else:
        player = f'<p class="note">no player (over the cap): {_e(take.audio)}</p>'
    return (
        f'<article class="take" data-utterance="{_e(take.utterance_id)}">\n'
        f"<h3><code>{_e(take.utterance_id)}</code></h3>\n"
        f'<ul class="problems">{problems}</ul>\n<dl>{figures}</dl>\n'
        f'<div class="texts"><div><h4>script</h4><p>{script_html}</p></div>'
        f"<div><h4>ASR heard</h4><p>{heard_html}</p></div></div>\n{player}\n</article>"
    )


_NOT_WORD = re.compile(r"[^\w']+")


def _marked_difference(text: str, heard: str) -> tuple[str, str]:
    """Both texts as escaped HTML, the words missing from what ASR heard and the words it heard
    instead marked; words are compared without case and punctuation, as the WER counts them."""
    said_words, heard_words = text.split(), heard.split()
    matcher = difflib.SequenceMatcher(
        None, [_NOT_WORD.sub("", w.lower()) for w in said_words], [_NOT_WORD.sub("", w.lower()) for w in heard_words],
        autojunk=False,
    )
    said_parts: list[str] = []
    heard_parts: list[str] = []
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        said, got = " ".join(said_words[a0:a1]), " ".join(heard_words[b0:b1])
        if op == "equal":
            said_parts.append(_e(said))
            heard_parts.append(_e(got))
            continue
        if said:
            said_parts.append(f'<mark class="miss">{_e(said)}</mark>')
        if got:
            heard_parts.append(f'<mark class="extra">{_e(got)}</mark>')
    return " ".join(said_parts), " ".join(heard_parts) or '<span class="note">(nothing)</span>'


def _player(audio: Path) -> str:
    """An ``<audio>`` with the take as Ogg Opus in a data URI, or a note saying why there is none."""
    from castline.ffmpeg import ffmpeg_stdout

    if not Path(audio).is_file():
        return f'<p class="note">no player: {_e(audio)} is missing</p>'
    try:
        ogg = ffmpeg_stdout([
            "-i", str(audio), "-map", "0:a:0", "-vn", "-map_metadata", "-1", "-ac", "1",
            "-c:a", "libopus", "-b:a", _OPUS_BITRATE, "-f", "ogg", "pipe:1",
        ])
    except CastlineError as exc:  # a damaged take must not cost the reviewer the whole page
        log.warning("review page: cannot encode %s: %s", audio, exc)
        return f'<p class="note">no player: ffmpeg could not encode {_e(audio)}</p>'
    data = base64.b64encode(ogg).decode("ascii")
    return f'<audio controls preload="metadata" title="{_e(Path(audio).name)}" src="data:audio/ogg;base64,{data}"></audio>'


# --- plots --------------------------------------------------------------------------------


def _figure_svg(figure: Figure, prefix: str) -> str:
    """A matplotlib figure as inline SVG: no XML prolog or DOCTYPE, no metadata, text as text,
    and every id prefixed so that several plots on one page never share one."""
    import io

    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "castline"}):
        figure.savefig(buffer, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r'\s+xmlns(:xlink)?="[^"]*"', "", svg, count=2)  # HTML gives inline SVG its namespace
    svg = svg.replace(' id="', f' id="{prefix}-').replace("url(#", f"url(#{prefix}-").replace('href="#', f'href="#{prefix}-')
    return svg.replace("<svg ", f'<svg role="img" aria-label="{prefix} plot" ', 1)


def _new_figure(width_in: float, height_in: float) -> Figure:
    """A figure on the Agg canvas, outside pyplot (no global state, nothing kept alive)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _wer_section(wers: Sequence[float]) -> str:
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    values = np.array([w for w in wers if math.isfinite(w)], dtype=np.float64)
    if values.size == 0:
        return '<p class="note">no finite word error rates</p>'
    median, worst = float(np.median(values)), float(values.max())
    upper = max(1.0, worst)
    width = 0.05 if upper <= 2.0 else upper / 40.0
    figure = _new_figure(8.0, 2.8)
    axes = figure.subplots()
    axes.hist(values, bins=np.arange(0.0, upper + width, width).tolist(), color="#5c6bc0", edgecolor="white")
    axes.axvline(median, color="#2e7d32", linestyle="--", label=f"median {median:.2f}")
    axes.axvline(worst, color="#c62828", label=f"worst {worst:.2f}")
    axes.set_xlabel("word error rate")
    axes.set_ylabel("takes")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))  # a count of takes
    axes.legend(loc="upper right")
    caption = f"{values.size} checked takes; median {median:.2f}, worst {worst:.2f}."
    return f"<figure>{_figure_svg(figure, 'wer')}<figcaption>{_e(caption)}</figcaption></figure>"


@dataclass(frozen=True)
class _HopEnergy:
    """A file's power summed per hop: enough to compute RMS over any window of whole hops."""

    sums: np.ndarray
    """Sum of squared samples (averaged over channels) in each hop."""
    counts: np.ndarray
    """Samples in each hop (the last may be short)."""
    duration_s: Seconds


def _hop_energy(path: Path, hop_s: Seconds) -> _HopEnergy:
    """Read ``path`` a block at a time (never whole) and sum its power per hop."""
    import numpy as np
    import soundfile

    sums: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    with soundfile.SoundFile(str(path)) as sound:
        rate, frames = sound.samplerate, sound.frames
        hop = max(1, round(hop_s * rate))
        for block in sound.blocks(blocksize=hop * _READ_HOPS, dtype="float32", always_2d=True):
            power = np.mean(np.square(block, dtype=np.float64), axis=1)
            edges = np.arange(0, power.size, hop)
            sums.append(np.add.reduceat(power, edges))
            counts.append(np.diff(np.append(edges, power.size)))
    if not sums:
        return _HopEnergy(np.zeros(0), np.zeros(0, dtype=np.int64), 0.0)
    return _HopEnergy(np.concatenate(sums), np.concatenate(counts), frames / rate)


def _windowed_db(energy: _HopEnergy, group: int, window_steps: int) -> np.ndarray:
    """RMS in dBFS over ``window_steps`` steps of ``group`` hops each, one value per step
    (centred), digital silence at :data:`_FLOOR_DB`."""
    import numpy as np

    edges = np.arange(0, energy.sums.size, group)
    sums, counts = np.add.reduceat(energy.sums, edges), np.add.reduceat(energy.counts, edges)
    kernel = np.ones(min(window_steps, sums.size))
    mean_power = np.convolve(sums, kernel, mode="same") / np.maximum(np.convolve(counts, kernel, mode="same"), 1)
    with np.errstate(divide="ignore"):
        return np.maximum(10.0 * np.log10(mean_power), _FLOOR_DB)


def _loudness_section(files: Sequence[tuple[str, Path]]) -> str:
    import numpy as np

    energies: list[tuple[str, _HopEnergy]] = []
    notes: list[str] = []
    for label, path in files:
        try:
            energies.append((label, _hop_energy(path, _HOP_S)))
        except (OSError, RuntimeError) as exc:  # soundfile's LibsndfileError is a RuntimeError
            notes.append(f"{label}: cannot read {path}: {exc}")
    total_hops = sum(e.sums.size for _, e in energies)
    if total_hops == 0:
        return "".join(f'<p class="note">{_e(n)}</p>' for n in notes) or '<p class="note">no audio</p>'
    group = max(1, math.ceil(total_hops / _MAX_PLOT_POINTS))
    step_s = _HOP_S * group
    window_steps = max(1, round(_WINDOW_S / step_s))
    total_s = sum(e.duration_s for _, e in energies)
    unit_s, unit = (3600.0, "h") if total_s >= 2 * 3600 else (60.0, "min") if total_s >= 120 else (1.0, "s")

    figure = _new_figure(10.0, 3.4)
    axes = figure.subplots()
    low, high = ACX_RMS_RANGE_DB
    axes.axhspan(low, high, color="#66bb6a", alpha=0.25, linewidth=0, label=f"ACX RMS {low:.0f} to {high:.0f} dBFS")
    start_s = 0.0
    label_every = max(1, math.ceil(len(energies) / 30))
    for n, (_label, energy) in enumerate(energies):
        if energy.sums.size:
            rms_db = _windowed_db(energy, group, window_steps)
            times_s = np.minimum(start_s + (np.arange(rms_db.size) + 0.5) * step_s, start_s + energy.duration_s)
            axes.plot(times_s / unit_s, rms_db, color="#1565c0" if n % 2 == 0 else "#00838f", linewidth=0.9)
        if n > 0:
            axes.axvline(start_s / unit_s, color="#9e9e9e", linestyle=":", linewidth=0.8)
        if len(energies) > 1 and n % label_every == 0:
            axes.text(start_s / unit_s, 1.01, str(n + 1), transform=axes.get_xaxis_transform(), fontsize=7, color="#616161")
        start_s += energy.duration_s
    axes.set_xlim(0.0, total_s / unit_s)
    axes.set_ylim(_FLOOR_DB, 0.0)
    axes.set_xlabel(f"time ({unit})")
    axes.set_ylabel("RMS (dBFS)")
    axes.legend(loc="lower right", fontsize=8)
    window_s = window_steps * step_s
    caption = (f"RMS over {window_s:g} s windows every {step_s:g} s"
               + (", chapters numbered at their start (dotted lines)." if len(energies) > 1 else "."))
    key = ""
    if len(energies) > 1:
        key = '<ol class="chapters">' + "".join(f"<li>{_e(label)}</li>" for label, _ in energies) + "</ol>"
    notes_html = "".join(f'<p class="note">{_e(n)}</p>' for n in notes)
    return f"<figure>{_figure_svg(figure, 'loudness')}<figcaption>{_e(caption)}</figcaption></figure>{key}{notes_html}"
