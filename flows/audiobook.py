"""The audiobook flow: an EPUB in, a mastered M4B (and per-chapter MP3s) out.

    read the book -> write the script -> synthesize -> master chapters -> deliver -> report

Each stage is a plain function in ``tasks/``; this module runs them as Prefect tasks:
synthesis one task per batch (retried with backoff when the engine fails), mastering one
task per chapter, delivery one task that encodes the changed files in parallel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NONE
from prefect.context import FlowRunContext
from prefect.task_runners import ThreadPoolTaskRunner

from castline import progress
from castline.cache import AudioStore
from castline.errors import ManifestError
from castline.manifest import Project, load_project
from castline.model import Book, Chapter, Utterance, to_table
from tasks.chapters import MasteredChapter, group_takes, render_chapter
from tasks.deliver import BookTags
from tasks.deliverables import audiobook_deliverables, produce
from tasks.ingest import read_source
from tasks.master import MasteringSpec
from tasks.publish import Staging
from tasks.report import ChapterReport, RenderReport, to_json, to_markdown
from tasks.script import NARRATOR, select_chapters, write_script
from tasks.synthesize import Take, is_retryable, plan_batches, plan_takes, synthesize_batch, with_durations
from voices.engines import engine_class
from voices.profile import VoiceProfile, find_profile

__all__ = ["audiobook", "render_audiobook", "cast_voices", "render_warnings"]


def _retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    return isinstance(state.data, BaseException) and is_retryable(state.data)


synthesize_batch_task = task(
    synthesize_batch,
    name="synthesize-batch",
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_jitter_factor=0.2,
    retry_condition_fn=_retry_if_transient,
    cache_policy=NONE,
)
read_book_task = task(read_source, name="read-book", cache_policy=NONE)
render_chapter_task = task(render_chapter, name="master-chapter", cache_policy=NONE)
produce_task = task(produce, name="deliver", cache_policy=NONE)


@dataclass(frozen=True)
class Script:
    """The book, the chapters chosen, and the utterances with their takes."""

    book: Book
    chapters: list[Chapter]
    utterances: list[Utterance]
    takes: list[Take]
    voices: dict[str, VoiceProfile]
    warnings: list[str]


def cast_voices(project: Project) -> dict[str, VoiceProfile]:
    """Role -> voice profile, each checked by its engine (nothing is loaded)."""
    cast = {}
    for role, ref in project.manifest.voices.items():
        try:
            profile = find_profile(ref, (project.root,))
            engine_class(profile).check(profile)
        except ManifestError:
            raise
        except Exception as exc:
            raise ManifestError(project.manifest_path, f"voices.{role}", str(exc)) from None
        cast[role] = profile
    return cast


def render_warnings(project: Project, book: Book, chapters: list[Chapter], cast: dict[str, VoiceProfile]) -> list[str]:
    language = project.manifest.language.split("-")[0].split("_")[0].lower()
    notes = [f"{project.source.name}: {w}" for w in book.warnings]
    notes += [
        f"voice {p.name!r} ({role}) speaks {p.language!r} but the book is in {project.manifest.language!r}"
        for role, p in cast.items() if p.language.split("-")[0].lower() != language
    ]
    empty = [c.title for c in chapters if not c.paragraphs]
    if empty and not project.manifest.chapters.speak_titles:
        notes.append(f"{len(empty)} chapters have no text and are left out: {', '.join(map(repr, empty[:5]))}")
    return notes


def _write_script(project: Project) -> Script:
    m = project.manifest
    cast = cast_voices(project)
    narrator = cast[NARRATOR]
    book = read_book_task(project.source)
    chapters = select_chapters(book, m.chapters, project.manifest_path)
    limit = m.engine.max_chars or engine_class(narrator).max_chars
    utterances = write_script(
        chapters, language=m.language, voice=narrator.name, pauses=m.pauses, max_chars=limit,
        speak_titles=m.chapters.speak_titles,
    )
    voices = {p.name: p for p in cast.values()}
    takes = plan_takes(utterances, voices, language=m.language, seed=m.engine.seed)
    return Script(book, chapters, utterances, takes, voices, warnings=render_warnings(project, book, chapters, cast))


def _synthesize(project: Project, script: Script, store: AudioStore) -> int:
    """Speak every take the cache lacks; returns how many were synthesized."""
    batches = plan_batches(script.takes, store, project.manifest.engine.batch_size)
    total = sum(len(b) for b in batches)
    artifact = create_progress_artifact(0.0, description="Synthesis") if FlowRunContext.get() else None
    runner = synthesize_batch_task.with_options(retries=project.manifest.engine.retries)
    done = 0
    progress.report("synthesize", 0, total)
    for batch in batches:
        runner(batch, store)
        done += len(batch)
        progress.report("synthesize", done, total)
        if artifact:
            update_progress_artifact(artifact, 100.0 * done / total)
    return total


def _master(project: Project, script: Script, takes: AudioStore, chapters: AudioStore) -> list[MasteredChapter]:
    m = project.manifest
    spec = MasteringSpec(target_rms_db=m.mastering.rms_db, peak_ceiling_db=m.mastering.peak_db, room_tone_db=m.mastering.room_tone_db)
    rows = [(u.chapter, t.key, u.pause_after) for u, t in zip(script.utterances, script.takes)]
    grouped = group_takes([c.id for c in script.chapters], {c.id: c.title for c in script.chapters}, rows)
    progress.report("master", 0, len(grouped))
    futures = [render_chapter_task.submit(c, takes, chapters, m.pauses, spec) for c in grouped]
    done = []
    for future in futures:
        done.append(future.result())
        progress.report("master", len(done), len(grouped))
    return done


def _tags(project: Project, script: Script) -> BookTags:
    m = project.manifest
    if project.cover:
        cover = project.cover.read_bytes()
    else:
        cover = script.book.cover.data if script.book.cover else None
    return BookTags(
        title=m.title, author=m.author, narrator=m.narrator or script.voices[script.utterances[0].voice].name,
        language=m.language, year=str(m.year) if m.year else None, publisher=m.publisher,
        description=m.description, genre=m.genre, cover=cover,
    )


def render_audiobook(project: Project, cache_dir: Path | None = None) -> RenderReport:
    """Render ``project``: the body of the :func:`audiobook` flow."""
    started = time.monotonic()
    takes = AudioStore((cache_dir or project.work_dir / "cache") / "utterances")
    chapters_store = AudioStore(project.work_dir / "chapters")
    script = _write_script(project)
    hits = len({t.key for t in script.takes if t.key in takes})
    t0 = time.monotonic()
    synthesized = _synthesize(project, script, takes)
    synthesis_s = time.monotonic() - t0
    mastered = _master(project, script, takes, chapters_store)
    with Staging(project.output_dir) as staging:
        deliverables = audiobook_deliverables(project.manifest.output, project.manifest.title, mastered, _tags(project, script))
        files = produce_task(deliverables, staging)
        table = to_table(with_durations(script.utterances, script.takes, takes))
        table.to_parquet(staging.path("utterances.parquet"), index=False)
        table.to_csv(staging.path("utterances.csv"), index=False)
        report = RenderReport(
            title=project.manifest.title, author=project.manifest.author, source=project.source.name,
            manifest=project.manifest_path.name, chapters=[_chapter_report(c) for c in mastered], files=files,
            utterances=len(script.utterances), unique_takes=len({t.key for t in script.takes}), cache_hits=hits,
            synthesized=synthesized, synthesis_s=synthesis_s, wall_s=time.monotonic() - started,
            warnings=script.warnings,
        )
        staging.path("report.json").write_text(to_json(report), encoding="utf-8")
        staging.path("report.md").write_text(to_markdown(report), encoding="utf-8")
        staging.publish()
    return report


def _chapter_report(c: MasteredChapter) -> ChapterReport:
    return ChapterReport(c.chapter_id, c.title, c.duration, c.utterances, c.levels.rms_db, c.levels.peak_db,
                         c.levels.noise_floor_db, c.remastered)


@flow(name="audiobook", flow_run_name="audiobook: {manifest}", task_runner=ThreadPoolTaskRunner(max_workers=2))
def audiobook(manifest: str, output_dir: str | None = None, cache_dir: str | None = None) -> dict[str, Any]:
    """Render the audiobook that ``manifest`` describes; returns the report as a dict."""
    project = load_project(Path(manifest), output_dir)
    report = render_audiobook(project, Path(cache_dir) if cache_dir else None)
    create_markdown_artifact(to_markdown(report), key="render-report", description=f"Render report: {report.title}")
    return {"title": report.title, "duration_s": report.duration_s, "files": [f.path for f in report.files],
            "synthesized": report.synthesized, "cache_hits": report.cache_hits}
