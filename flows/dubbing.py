"""The dubbing flow: a video and its subtitles in, the video with a dubbed track out.

    preflight -> write the cue script -> synthesize what the cache lacks -> fit each cue's
    speech to its window -> lay the dialogue stem on the video's timeline -> duck the original
    under it and master the mix to the loudness target -> mux the mix into the video as one
    more audio track -> publish the video, the stems and the report at once

Each stage is a plain function in ``tasks/``; this module runs them in order (synthesis as
Prefect tasks, one per batch, retried when the engine fails). The takes are the audiobook's:
same cache, same keys (voice, text, seed), so editing one cue's text synthesizes that cue
again and nothing else, and moving cues in time synthesizes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from prefect import flow
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from castline import lifeline, progress
from castline.cache import AudioStore, StoredAudio
from castline.errors import ManifestError
from castline.language import iso639_2
from castline.model import Utterance, to_table
from castline.tempfiles import scratch_dir
from flows.dub_plan import DubPlan, cue_track, write_the_cue_script
from flows.preflight import holding_output, plan_for
from flows.run_log import announce, log_to_the_flow_run
from flows.synthesis import gate_verdict, speak
from tasks.dialogue import write_dialogue_stem, write_wav
from tasks.dub_report import CueReport, DubReport, SkippedCueReport, cues_csv, to_json, to_markdown
from tasks.fit import CueWindow, Fit, FitSettings, fit_cues, fit_take
from tasks.gate import REVIEW_CSV, review_csv
from tasks.ingest.subtitles import Cue
from tasks.master import resample
from tasks.mix import Ducking, LoudnessTarget, loudness_on_target, master_loudness, mix_dub
from tasks.mux import choose_container, mux_dub
from tasks.publish import Staging, safe_filename
from tasks.review import dub_page, write_page
from tasks.synthesize import plan_batches, with_durations
from tasks.timeline_plot import timeline_svg

__all__ = ["dub", "render_dub", "STEM_RATE_HZ", "CUE_FILES"]

STEM_RATE_HZ = 48000
"""The dub's sample rate: video's usual one."""
TAKE_GAP_S = 0.2
"""Silence between the takes of a cue that was too long for one utterance."""
CUE_FILES = ("cues.csv", "timeline.svg")


@dataclass(frozen=True)
class CueSpeech:
    """A cue and the takes that speak it, in order."""

    cue: Cue
    utterances: list[Utterance]

    @property
    def window(self) -> CueWindow:
        return CueWindow(self.cue.start_s, self.cue.end_s)

    @property
    def speech_s(self) -> float:
        """Its takes end to end, from the script's durations (filled in once, after synthesis)."""
        lengths = [u.duration for u in self.utterances]
        if any(length is None for length in lengths):
            raise RuntimeError(f"cue {self.cue.index}: a take's length is unknown (it is not in the cache)")
        return sum(length or 0.0 for length in lengths) + TAKE_GAP_S * (len(lengths) - 1)


def _stored(store: AudioStore, u: Utterance) -> StoredAudio:
    stored = store.get(u.cache_key or "")
    if stored is None:
        raise RuntimeError(f"take {u.cache_key} of {u.id} is not in the cache")
    return stored


def group_cues(cues: Sequence[Cue], script: Sequence[Utterance]) -> list[CueSpeech]:
    """The cues that have something to say, in time order, each with its utterances."""
    spoken: dict[str, list[Utterance]] = {}
    for u in script:
        spoken.setdefault(u.chapter, []).append(u)
    return [CueSpeech(cue, spoken[cue_track(cue)]) for cue in cues if cue_track(cue) in spoken]


def _cue_audio(cue: CueSpeech, store: AudioStore) -> tuple[np.ndarray, int]:
    """A cue's takes end to end (at the first take's rate; others resampled to it)."""
    parts: list[np.ndarray] = []
    rate = 0
    for u in cue.utterances:
        stored = _stored(store, u)
        audio = stored.load()
        rate = rate or stored.sample_rate
        if stored.sample_rate != rate:
            audio = resample(audio, stored.sample_rate, rate)
        if parts:
            parts.append(np.zeros(round(TAKE_GAP_S * rate), dtype=np.float32))
        parts.append(audio)
    return np.concatenate(parts), rate


def placed_speech(cues: Sequence[CueSpeech], fits: Sequence[Fit], store: AudioStore, settings: FitSettings) -> Iterator[tuple[float, np.ndarray]]:
    """Each cue's speech as it goes on the timeline: sped up, trimmed, at the stem's rate."""
    for n, (cue, fit) in enumerate(zip(cues, fits), 1):
        audio, rate = _cue_audio(cue, store)
        audio = fit_take(audio, rate, fit, settings)
        progress.report("fit", n, len(cues))
        yield fit.start_s, resample(audio, rate, STEM_RATE_HZ)


def fit_settings(plan: DubPlan) -> FitSettings:
    t = plan.manifest.timing
    return FitSettings(min_gap_s=t.min_gap, max_tempo=t.max_tempo, overflow=t.overflow, fade_s=t.fade)


def _cue_reports(cues: Sequence[CueSpeech], fits: Sequence[Fit]) -> list[CueReport]:
    rows = []
    for cue, fit in zip(cues, fits):
        first = cue.utterances[0]
        rows.append(CueReport(
            cue=cue.cue.index, speaker=first.speaker, voice=first.voice,
            text=" ".join(u.text for u in cue.utterances), start_s=fit.start_s, end_s=cue.window.end_s,
            speech_s=fit.speech_s, tempo=fit.tempo, placed_s=fit.placed_s, shift_s=fit.shift_s,
            overflow_s=fit.overflow_s, action=fit.action,
        ))
    return rows


def output_name(plan: DubPlan) -> str:
    """The dubbed video's file name stem: ``output.name``, else the video's with the language."""
    m = plan.manifest
    return safe_filename(m.output.name or f"{plan.video.path.stem}.{m.language}")


def render_dub(plan: DubPlan) -> DubReport:
    """Render what ``plan`` describes: the body of the :func:`dub` flow."""
    started = time.monotonic()
    m = plan.manifest
    layout = plan.project.layout
    with holding_output(plan):
        store = AudioStore(plan.cache)
        script = write_the_cue_script(plan)
        keys = {u.cache_key or "" for u in script}
        hits = sum(k in store for k in keys)
        synthesized = speak(plan_batches(script, plan.cast.voices, store, m.engine.batch_size), plan.cast.voices,
                            m.language, store, retries=m.engine.retries, gate=m.qa)
        synthesis_s = time.monotonic() - started
        script = with_durations(script, store)

        container = choose_container(plan.video, m.output.container)
        name = output_name(plan)
        settings = fit_settings(plan)
        cues = group_cues(plan.subtitles.cues, script)
        fits = fit_cues([c.window for c in cues], [c.speech_s for c in cues], plan.video.duration_s, settings)
        with Staging(layout) as staging, scratch_dir("dub") as scratch:
            work = Path(scratch)
            mark = time.monotonic()
            stem = write_dialogue_stem(placed_speech(cues, fits, store, settings), plan.video.duration_s, STEM_RATE_HZ,
                                       work / "dialogue.f32")
            dialogue_wav = staging.path(f"{name}.dialog.wav")
            write_wav(stem, dialogue_wav)
            fit_s, mark = time.monotonic() - mark, time.monotonic()

            progress.report("mix", 0, 1)
            mixed = work / "mix.wav"
            mix_dub(dialogue_wav, plan.video if m.mix.original == "duck" else None, mixed, mode=m.mix.original,
                    ducking=Ducking(depth_db=m.mix.duck_depth_db, attack_s=m.mix.attack, release_s=m.mix.release),
                    sample_rate=STEM_RATE_HZ)
            target = LoudnessTarget(integrated_lufs=m.loudness.integrated_lufs, true_peak_dbtp=m.loudness.true_peak_db)
            mix_wav = staging.path(f"{name}.mix.wav")
            loudness = master_loudness(mixed, mix_wav, target)
            progress.report("mix", 1, 1)
            mix_s, mark = time.monotonic() - mark, time.monotonic()

            video_name = f"{name}.{container}"
            mux_dub(plan.video, mix_wav, staging.path(video_name), container=container, language=iso639_2(m.language),
                    title=m.output.track_title or f"Dub ({m.language})", audio_bitrate=m.output.audio_bitrate,
                    subtitles=plan.subtitles.source if m.output.embed_subtitles and plan.subtitles.source.is_file() else None,
                    subtitle_language=iso639_2(m.language))
            mux_s = time.monotonic() - mark

            rows = _cue_reports(cues, fits)
            staging.path("cues.csv").write_text(cues_csv(rows), encoding="utf-8")
            timeline = timeline_svg(fits, [c.window for c in cues], [f"{r.cue} {r.speaker}" for r in rows], plan.video.duration_s)
            staging.path("timeline.svg").write_text(timeline, encoding="utf-8")
            table = to_table(script)
            table.to_parquet(staging.path("utterances.parquet"), index=False)
            table.to_csv(staging.path("utterances.csv"), index=False)
            report = DubReport(
                title=m.title or plan.video.path.name, video=plan.video.path.name, subtitles=plan.subtitles.source.name,
                manifest=plan.project.manifest_path.name, language=m.language, duration_s=plan.video.duration_s,
                cues=rows, skipped=[SkippedCueReport(s.line, s.problem) for s in plan.subtitles.skipped],
                integrated_lufs=loudness.integrated_lufs, true_peak_dbtp=loudness.true_peak_dbtp or float("nan"),
                target_lufs=target.integrated_lufs,
                files=[video_name, dialogue_wav.name, mix_wav.name, *CUE_FILES, "utterances.parquet", "utterances.csv"],
                utterances=len(script), cache_hits=hits, synthesized=synthesized, synthesis_s=synthesis_s,
                fit_s=fit_s, mix_s=mix_s, mux_s=mux_s, wall_s=0.0, warnings=plan.warnings,
            )
            missed = not loudness_on_target(loudness, target)
            gate = gate_verdict(plan, script, store, [video_name] if missed else [],
                                where={u.id: f"cue {c.cue.index}" for c in cues for u in c.utterances})
            report = replace(report, gate=gate, wall_s=time.monotonic() - started)
            write_page(dub_page(report, mix_wav, timeline, store), gate, staging, layout)
            staging.path(REVIEW_CSV).write_text(review_csv(gate), encoding="utf-8")
            staging.path("report.json").write_text(to_json(report), encoding="utf-8")
            staging.path("report.md").write_text(to_markdown(report), encoding="utf-8")
            staging.publish()
            return report


@flow(name="dub", flow_run_name="dub: {manifest}")
def dub(manifest: str, output_dir: str | None = None, cache_dir: str | None = None) -> dict[str, Any]:
    """Dub the video that ``manifest`` describes; returns a summary of the report."""
    lifeline.start()  # ffmpeg children die with this process, however it dies
    log_to_the_flow_run()
    plan = plan_for(manifest, output_dir, cache_dir)
    if not isinstance(plan, DubPlan):
        raise ManifestError(manifest, "kind", f"{plan.project.manifest.kind!r} is not a dub")
    announce(plan)
    report = render_dub(plan)
    create_markdown_artifact(to_markdown(report), key="dub-report", description=f"Dub report: {report.title}")
    create_table_artifact([asdict(c) for c in report.cues], key="dub-cues", description=f"Cues: {report.title}")
    return {"title": report.title, "duration_s": report.duration_s, "files": report.files,
            "synthesized": report.synthesized, "cache_hits": report.cache_hits}
