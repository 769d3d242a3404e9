"""The render report: what was delivered, how long, how loud, and how much was cached.

Written as ``report.json`` (for machines) and ``report.md`` (for people) next to the
deliverables, and published as Prefect artifacts when running inside a flow.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from castline.model import Decibels, Seconds
from tasks.gate import GateReport, gate_markdown

__all__ = ["ChapterReport", "FileReport", "RenderReport", "to_markdown", "to_json", "json_number", "json_figures"]


@dataclass(frozen=True)
class ChapterReport:
    id: str
    title: str
    duration_s: Seconds
    utterances: int
    rms_db: Decibels
    peak_db: Decibels
    noise_floor_db: Decibels
    remastered: bool


@dataclass(frozen=True)
class FileReport:
    """A delivered file, with levels measured by ffmpeg (astats, ebur128) on the file itself."""

    path: str
    duration_s: Seconds
    rms_db: Decibels
    peak_db: Decibels
    noise_floor_db: Decibels
    integrated_lufs: Decibels
    acx_ok: bool
    encoded: bool
    """False when the file from the previous render was kept unchanged."""


@dataclass(frozen=True)
class RenderReport:
    title: str
    author: str
    source: str
    manifest: str
    chapters: list[ChapterReport]
    files: list[FileReport]
    utterances: int
    unique_takes: int
    cache_hits: int
    synthesized: int
    synthesis_s: Seconds
    wall_s: Seconds
    warnings: list[str] = field(default_factory=list)
    gate: GateReport | None = None
    """The quality gate's verdict (None until the render has one)."""
    packaged: list[str] = field(default_factory=list)
    """The store packages' and the read-along's files (paths in the output directory): made of
    the delivered audio, not measured again."""

    @property
    def duration_s(self) -> float:
        return sum(c.duration_s for c in self.chapters)


def json_number(value: float, digits: int = 2) -> float | None:
    """A figure for JSON: rounded, and null where it is infinite or NaN (JSON has neither)."""
    return None if math.isinf(value) or math.isnan(value) else round(value, digits)


def json_figures(value: Any, digits: int = 2) -> Any:
    """``value`` (dicts and lists of figures, as ``asdict`` gives them) with every float made
    a :func:`json_number`."""
    if isinstance(value, float):
        return json_number(value, digits)
    if isinstance(value, dict):
        return {k: json_figures(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [json_figures(v, digits) for v in value]
    return value


def to_json(report: RenderReport) -> str:
    data: dict[str, Any] = asdict(report)
    data["duration_s"] = report.duration_s
    return json.dumps(json_figures(data), indent=2, ensure_ascii=False)


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _db(value: float) -> str:
    return "-inf" if math.isinf(value) else f"{value:.1f}"


def to_markdown(report: RenderReport) -> str:
    lines = [
        f"# {report.title}",
        "",
        f"{report.author}, from `{report.source}`. Total {_hms(report.duration_s)} in {len(report.chapters)} chapters.",
        "",
        f"Utterances: {report.utterances} ({report.unique_takes} distinct takes); "
        f"cache hits: {report.cache_hits}; synthesized now: {report.synthesized} "
        f"in {report.synthesis_s:.1f} s; render wall time {report.wall_s:.1f} s.",
        "",
        "## Chapters",
        "",
        "| # | title | duration | utterances | RMS dBFS | peak dBFS | noise floor dBFS | mastered now |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, c in enumerate(report.chapters, 1):
        title = c.title.replace("|", "\\|")
        lines.append(
            f"| {i} | {title} | {_hms(c.duration_s)} | {c.utterances} | {_db(c.rms_db)} | {_db(c.peak_db)} "
            f"| {_db(c.noise_floor_db)} | {'yes' if c.remastered else 'no'} |"
        )
    lines += [
        "",
        "## Delivered files (levels measured by ffmpeg on the file)",
        "",
        "| file | duration | RMS dBFS | peak dBFS | noise floor dBFS | LUFS | ACX | encoded now |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for f in report.files:
        lines.append(
            f"| `{f.path}` | {_hms(f.duration_s)} | {_db(f.rms_db)} | {_db(f.peak_db)} | {_db(f.noise_floor_db)} "
            f"| {_db(f.integrated_lufs)} | {'pass' if f.acx_ok else 'FAIL'} | {'yes' if f.encoded else 'no'} |"
        )
    if report.packaged:
        lines += ["", "## Packages and read-along", ""] + [f"- `{name}`" for name in report.packaged]
    if report.gate is not None:
        lines += ["", *gate_markdown(report.gate)]
    if report.warnings:
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in report.warnings]
    return "\n".join(lines) + "\n"
