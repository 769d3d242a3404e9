"""The dub report: every cue's fit, the mix's loudness, what was delivered and how long it took.

Written as ``report.json`` and ``report.md`` beside the dubbed video, with the per-cue table
also as ``cues.csv`` (one row per cue: window, speech length, tempo, shift, overflow) for a
spreadsheet, and ``timeline.svg`` to see the cue windows against the placed speech.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field, fields

from castline.model import Decibels, Seconds
from tasks.gate import GateReport, gate_markdown
from tasks.report import json_figures

__all__ = ["CueReport", "SkippedCueReport", "DubReport", "to_json", "to_markdown", "cues_csv"]


@dataclass(frozen=True)
class CueReport:
    """How one cue's speech was fitted (see :mod:`tasks.fit`)."""

    cue: int
    speaker: str
    voice: str
    text: str
    start_s: Seconds
    end_s: Seconds
    """The cue's own end."""
    speech_s: Seconds
    """The synthesized speech, before any tempo change."""
    tempo: float
    placed_s: Seconds
    """Its length on the timeline, after tempo and trim."""
    shift_s: Seconds
    """How far it runs past the cue's end, into the gap before the next cue."""
    overflow_s: Seconds
    """What did not fit even at the tempo limit (trimmed, or run into the next cue)."""
    action: str
    """``fits``, ``borrowed``, ``stretched``, ``trimmed`` or ``overlaps``."""


@dataclass(frozen=True)
class SkippedCueReport:
    line: int
    problem: str


@dataclass(frozen=True)
class DubReport:
    title: str
    video: str
    subtitles: str
    manifest: str
    language: str
    duration_s: Seconds
    """The video's length (the dub track's)."""
    cues: list[CueReport]
    skipped: list[SkippedCueReport]
    integrated_lufs: Decibels
    """The delivered mix, measured by ffmpeg's ebur128."""
    true_peak_dbtp: Decibels
    target_lufs: Decibels
    files: list[str]
    utterances: int
    cache_hits: int
    synthesized: int
    synthesis_s: Seconds
    fit_s: Seconds
    """Building the dialogue stem: tempo changes, trims, placement."""
    mix_s: Seconds
    """Ducking, mixing and mastering the mix."""
    mux_s: Seconds
    wall_s: Seconds
    warnings: list[str] = field(default_factory=list)
    gate: GateReport | None = None
    """The quality gate's verdict (None until the render has one)."""

    @property
    def not_fitted(self) -> list[CueReport]:
        """Cues whose speech did not fit even at the tempo limit."""
        return [c for c in self.cues if c.overflow_s > 0]


def to_json(report: DubReport) -> str:
    return json.dumps(json_figures(asdict(report), 3), indent=2, ensure_ascii=False)


def cues_csv(cues: list[CueReport]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f.name for f in fields(CueReport)])
    for c in cues:
        writer.writerow([round(v, 3) if isinstance(v, float) else v for v in asdict(c).values()])
    return out.getvalue()


def _cell(text: str, limit: int = 60) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|")


def to_markdown(report: DubReport) -> str:
    r = report
    lines = [
        f"# {r.title}",
        "",
        f"`{r.video}` dubbed in `{r.language}` from `{r.subtitles}`: {len(r.cues)} cues over {r.duration_s:.1f} s.",
        "",
        f"Mix: {r.integrated_lufs:.1f} LUFS integrated (target {r.target_lufs:.1f}), true peak {r.true_peak_dbtp:.1f} dBTP.",
        "",
        f"Utterances: {r.utterances}; cache hits: {r.cache_hits}; synthesized now: {r.synthesized} in {r.synthesis_s:.1f} s; "
        f"fit {r.fit_s:.1f} s, mix {r.mix_s:.1f} s, mux {r.mux_s:.1f} s; render wall time {r.wall_s:.1f} s.",
        "",
        f"Cues that did not fit even at the tempo limit: {len(r.not_fitted)}"
        + (f" ({', '.join(str(c.cue) for c in r.not_fitted)})" if r.not_fitted else "") + ".",
        "",
        "## Cues",
        "",
        "| # | speaker | start | end | speech s | tempo | shift s | overflow s | fit | text |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in r.cues:
        lines.append(
            f"| {c.cue} | {_cell(c.speaker, 30)} | {c.start_s:.3f} | {c.end_s:.3f} | {c.speech_s:.2f} | {c.tempo:.3f} "
            f"| {c.shift_s:.2f} | {c.overflow_s:.2f} | {c.action} | {_cell(c.text)} |"
        )
    if r.skipped:
        lines += ["", "## Skipped cues", ""] + [f"- line {s.line}: {s.problem}" for s in r.skipped]
    lines += ["", "## Delivered files", ""] + [f"- `{f}`" for f in r.files]
    if r.gate is not None:
        lines += ["", *gate_markdown(r.gate)]
    if r.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in r.warnings]
    return "\n".join(lines) + "\n"
