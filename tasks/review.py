"""What the review page (:mod:`tasks.review_page`) shows of a render: the report's figures and
tables, loudness over time, the takes' word error rates and the takes still on the review
list, each with its audio from the cache.

The page is published as ``report.html`` beside ``report.md`` and ``report.json``; a render that
the quality gate fails leaves it in ``.castline/review.html`` instead (:func:`write_page`),
where ``castline review`` finds it too.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from castline.cache import AudioStore
from castline.layout import OutputLayout
from tasks.chapters import MasteredChapter
from tasks.dub_report import DubReport
from tasks.gate import GateReport, QualityGateError
from tasks.publish import Staging
from tasks.report import RenderReport
from tasks.review_page import PUBLISHED_PAGE_NAME, FlaggedTake, ReviewPage, write_review_page

__all__ = ["audiobook_page", "dub_page", "write_page"]


def _flagged(gate: GateReport | None, takes: AudioStore) -> list[FlaggedTake]:
    flagged = []
    for row in gate.review if gate else []:
        entry = takes.get(row.key)
        figures = {"WER": f"{row.wer:.2f}", "duration": f"{row.duration_s:.2f} s ({row.expected_s:.2f} s expected)",
                   "takes spoken": str(row.attempts), "seed": str(row.seed), "voice": row.voice, "where": row.where}
        audio = entry.local_path() if entry is not None else Path(row.key)
        flagged.append(FlaggedTake(row.utterance, row.text, row.heard, tuple(row.problems.split("; ")), figures, audio))
    return flagged


def _gate_summary(gate: GateReport | None) -> list[tuple[str, str]]:
    if gate is None or gate.mode == "off":
        return [("quality gate", "off")]
    return [("quality gate", gate.mode), ("takes checked", str(gate.checked)), ("retaken", str(gate.retaken)),
            ("to review", str(len(gate.review))),
            ("word error rate", f"median {gate.wer_median:.2f}, worst {gate.wer_worst:.2f}")]


def _stamp() -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def audiobook_page(report: RenderReport, mastered: Sequence[MasteredChapter], takes: AudioStore) -> ReviewPage:
    minutes = report.duration_s / 60
    summary = [("duration", f"{minutes:.1f} min in {len(report.chapters)} chapters"),
               ("utterances", f"{report.utterances} ({report.unique_takes} distinct takes)"),
               ("synthesized now", f"{report.synthesized} (cache hits {report.cache_hits})"),
               *_gate_summary(report.gate), ("wall time", f"{report.wall_s:.1f} s")]
    return ReviewPage(
        title=report.title, subtitle=f"audiobook by {report.author}, from {report.source}, rendered {_stamp()}",
        summary=summary, warnings=report.warnings,
        tables=[("Chapters", [asdict(c) for c in report.chapters]), ("Delivered files", [asdict(f) for f in report.files])],
        loudness=[(f"{n} {c.title}", c.path) for n, c in enumerate(mastered, 1)],
        wers=report.gate.wers if report.gate else [], flagged=_flagged(report.gate, takes),
    )


def dub_page(report: DubReport, mix: Path, timeline_svg: str, takes: AudioStore) -> ReviewPage:
    summary = [("video", f"{report.video}, {report.duration_s:.1f} s, {len(report.cues)} cues"),
               ("mix", f"{report.integrated_lufs:.1f} LUFS (target {report.target_lufs:.1f}), "
                       f"true peak {report.true_peak_dbtp:.1f} dBTP"),
               ("did not fit", str(len(report.not_fitted))),
               ("synthesized now", f"{report.synthesized} (cache hits {report.cache_hits})"),
               *_gate_summary(report.gate), ("wall time", f"{report.wall_s:.1f} s")]
    return ReviewPage(
        title=report.title, subtitle=f"dub of {report.video} in {report.language}, rendered {_stamp()}",
        summary=summary, warnings=report.warnings, tables=[("Cues", [asdict(c) for c in report.cues])],
        loudness=[("mix", mix)], wers=report.gate.wers if report.gate else [], flagged=_flagged(report.gate, takes),
        timeline_svg=timeline_svg,
    )


def write_page(page: ReviewPage, gate: GateReport | None, staging: Staging, layout: OutputLayout) -> None:
    """Stage the page to be published, or, when the gate fails the render, leave it in
    ``.castline/review.html`` and raise :class:`QualityGateError` (nothing is published)."""
    if gate is not None and gate.failed:
        write_review_page(page, layout.review_page)
        raise QualityGateError(len(gate.review), gate.failed_files, layout.review_page)
    write_review_page(page, staging.path(PUBLISHED_PAGE_NAME))
    layout.review_page.unlink(missing_ok=True)  # a failed render's page: this one is newer
