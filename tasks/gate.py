"""The quality gate's verdict on a render: the figures of every take, the takes that still
fail after their retakes (the review list), the delivered files that miss their loudness
target, and what the manifest's ``qa.mode`` makes of them.

Takes synthesized through the gate carry their figures in their cache sidecar
(:mod:`tasks.qa`). Takes stored before the gate existed, or while it was off, are checked here
once and their figures added to the sidecar; they are not retaken, because anything already
made from them (a mastered chapter) is addressed by their key and must keep its audio.

The review list is ``review.csv`` beside the deliverables and a section of the render report.
With ``mode: fail`` a render with anything on it fails (:class:`QualityGateError`) and
publishes nothing; its review page stays in the output directory's ``.castline/``.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from castline.cache import AudioStore
from castline.errors import CastlineError
from castline.manifest.base import QualityGate
from castline.model import Seconds, Utterance
from tasks.qa import TakeQA, check_takes, gate_digest, wer_summary
from voices.profile import VoiceProfile

__all__ = ["ReviewRow", "GateReport", "gate_report", "review_csv", "gate_markdown", "QualityGateError", "REVIEW_CSV",
           "check_unchecked", "all_checked"]

REVIEW_CSV = "review.csv"
CHECK_GROUP = 64
"""Stored takes checked at once (their audio is in memory meanwhile)."""


class QualityGateError(CastlineError):
    """A render whose manifest says ``qa.mode: fail`` has takes or files that fail the gate."""

    def __init__(self, takes: int, files: Sequence[str], page: Path) -> None:
        parts = [f"{takes} take{'s' if takes != 1 else ''} failed the quality gate"] if takes else []
        if files:
            parts.append(f"{', '.join(files)} missed the loudness target")
        super().__init__(f"{' and '.join(parts)}; nothing was published (qa.mode: fail). Review: {page}")
        self.takes, self.files, self.page = takes, list(files), page


@dataclass(frozen=True)
class ReviewRow:
    """A take that still fails after its retakes, with its figures, for a person to hear."""

    utterance: str
    where: str
    """Its chapter (or cue)."""
    voice: str
    text: str
    heard: str
    problems: str
    wer: float
    duration_s: Seconds
    expected_s: Seconds
    attempts: int
    seed: int
    key: str


@dataclass(frozen=True)
class GateReport:
    mode: str
    checked: int
    """Distinct takes with figures."""
    retaken: int
    """Takes for which more than one take was spoken."""
    wer_median: float
    wer_worst: float
    review: list[ReviewRow] = field(default_factory=list)
    failed_files: list[str] = field(default_factory=list)
    """Delivered files that miss their loudness target (ACX, or the dub's R128 target)."""
    wers: list[float] = field(default_factory=list, repr=False)

    @property
    def failed(self) -> bool:
        return self.mode == "fail" and bool(self.review or self.failed_files)


def check_unchecked(
    script: Sequence[Utterance], store: AudioStore, voices: Mapping[str, VoiceProfile], language: str, gate: QualityGate,
) -> dict[str, TakeQA]:
    """The figures of every take of ``script`` (by key): read from the sidecars, or measured
    now for takes without them (and then stored there)."""
    figures: dict[str, TakeQA] = {}
    todo: dict[tuple[str, int], list[Utterance]] = defaultdict(list)
    seen: set[str] = set()
    gate_id = gate_digest(gate)
    for u in script:
        key = u.cache_key or ""
        if key in seen:
            continue
        seen.add(key)
        entry = store.get(key)
        if entry is None:
            continue
        found = TakeQA.from_meta(entry.meta, gate_id)
        if found is not None:
            figures[key] = found
        else:
            todo[(u.voice, entry.sample_rate)].append(u)
    for (_, rate_hz), utterances in todo.items():
        for start in range(0, len(utterances), CHECK_GROUP):
            group = utterances[start : start + CHECK_GROUP]
            entries = [store.get(u.cache_key or "") for u in group]
            present = [(u, e) for u, e in zip(group, entries) if e is not None]
            audios = [e.load() for _, e in present]
            seeds = [int(e.meta.get("seed", u.seed or 0)) for u, e in present]
            checked = check_takes([u for u, _ in present], audios, rate_hz, voices, language, gate, seeds=seeds)
            for (u, entry), qa in zip(present, checked):
                store.annotate(entry, qa=qa.to_meta(gate_id))
                figures[u.cache_key or ""] = qa
    return figures


def all_checked(script: Sequence[Utterance], store: AudioStore, gate: QualityGate) -> bool:
    """Whether every take of ``script`` has figures of this gate (always, with the gate off)."""
    if gate.mode == "off":
        return True
    gate_id = gate_digest(gate)
    for key in {u.cache_key or "" for u in script}:
        entry = store.get(key)
        if entry is None or TakeQA.from_meta(entry.meta, gate_id) is None:
            return False
    return True


def gate_report(
    script: Sequence[Utterance], figures: Mapping[str, TakeQA], gate: QualityGate, failed_files: Sequence[str],
    where: Mapping[str, str] | None = None,
) -> GateReport:
    """The verdict: one review row per failing take (the first utterance of each key, in script
    order); ``where`` names an utterance's place (default: its chapter id)."""
    rows, seen = [], set()
    for u in script:
        key = u.cache_key or ""
        qa = figures.get(key)
        if qa is None or key in seen:
            continue
        seen.add(key)
        if not qa.passed:
            rows.append(ReviewRow(u.id, (where or {}).get(u.id, u.chapter), u.voice, u.text, qa.heard, "; ".join(qa.problems),
                                  qa.wer, qa.duration_s, qa.expected_s, qa.attempts, qa.seed, key))
    wers = [qa.wer for qa in figures.values() if not math.isnan(qa.wer)]
    median_wer, worst_wer = wer_summary(wers)
    return GateReport(gate.mode, len(figures), sum(qa.attempts > 1 for qa in figures.values()), median_wer, worst_wer,
                      rows, list(failed_files), wers)


def review_csv(report: GateReport) -> str:
    """The review list, one row per failing take (only the header when none fails)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f.name for f in fields(ReviewRow)])
    for row in report.review:
        writer.writerow([round(v, 3) if isinstance(v, float) else v for v in asdict(row).values()])
    return out.getvalue()


def gate_markdown(report: GateReport) -> list[str]:
    """The render report's section on the gate."""
    g = report
    if g.mode == "off":
        return ["## Quality gate", "", "Off (`qa.mode: off`): no take was checked."]
    lines = [
        "## Quality gate",
        "",
        f"Mode `{g.mode}`: {g.checked} takes checked, {g.retaken} retaken, {len(g.review)} still failing "
        f"(listed in `{REVIEW_CSV}`). " + (f"Word error rate: median {g.wer_median:.2f}, worst {g.wer_worst:.2f}."
                                           if g.wers else "Not heard: the ASR model does not hear this language "
                                           "(set CASTLINE_ASR_MODEL to a multilingual faster-whisper model)."),
    ]
    if g.failed_files:
        lines += ["", "Files that missed their loudness target: " + ", ".join(f"`{f}`" for f in g.failed_files) + "."]
    if g.review:
        lines += ["", "| utterance | where | problems | WER | heard | text |", "|---|---|---|---|---|---|"]
        for r in g.review:
            lines.append(f"| {r.utterance} | {_cell(r.where)} | {_cell(r.problems)} | {r.wer:.2f} | {_cell(r.heard)} "
                         f"| {_cell(r.text)} |")
    return lines


def _cell(text: str, limit: int = 80) -> str:
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return text.replace("|", "\\|").replace("\n", " ")
