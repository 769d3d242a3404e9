"""The audiobook flow: an EPUB in, a mastered M4B (and per-chapter MP3s) out.

    preflight -> write the script -> cast -> synthesize -> master chapters -> deliver -> report

Each stage is a plain function in ``tasks/``; this module turns the manifest into the plain
values the stages take and runs them as Prefect tasks: synthesis one task per batch (retried
with backoff when the engine fails), mastering one task per chapter, delivery one task that
encodes the changed files in parallel.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any, cast
from uuid import UUID

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NONE
from prefect.context import FlowRunContext
from prefect.task_runners import ThreadPoolTaskRunner

from castline import lifeline, progress
from castline.cache import AudioStore
from castline.errors import ManifestError
from castline.layout import inside
from castline.lock import output_lock
from castline.model import Utterance, to_table
from castline.storage import LocalStorage
from castline.tempfiles import remove_stale_temp_files
from flows.preflight import AudiobookPlan, engine_max_chars, plan_for
from tasks.cast import NARRATOR, cast_utterances
from tasks.chapters import MasteredChapter, group_takes, render_chapter
from tasks.deliver import BookTags
from tasks.deliverables import AudiobookFormats, audiobook_deliverables, produce
from tasks.master import MasteringSpec
from tasks.publish import Staging
from tasks.report import ChapterReport, RenderReport, to_json, to_markdown
from tasks.script import Pacing, write_script
from tasks.synthesize import is_retryable, plan_batches, plan_takes, synthesize_batch, with_durations

__all__ = ["audiobook", "render_audiobook"]

SHARED_TEMP_AGE_S = 3600.0
"""A temporary file this old in a cache shared with other renders is a dead writer's."""


def _retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    return isinstance(state.data, BaseException) and is_retryable(state.data)


synthesize_batch_task = task(
    name="synthesize-batch",
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_jitter_factor=0.2,
    retry_condition_fn=_retry_if_transient,
    cache_policy=NONE,
)(synthesize_batch)
render_chapter_task = task(name="master-chapter", cache_policy=NONE)(render_chapter)
produce_task = task(name="deliver", cache_policy=NONE)(produce)


@dataclass(frozen=True)
class Stores:
    takes: AudioStore
    """Synthesized utterances."""
    chapters: AudioStore
    """Mastered chapters."""


def write_the_script(plan: AudiobookPlan) -> list[Utterance]:
    """The utterances of the chosen chapters, cast, with their takes planned."""
    m = plan.manifest
    p = m.pauses
    script = write_script(
        plan.chapters, language=m.language, pacing=Pacing(p.sentence, p.paragraph, p.title),
        max_chars=m.engine.max_chars or engine_max_chars(plan), speak_titles=m.chapters.speak_titles,
    )
    return plan_takes(cast_utterances(script, plan.cast), plan.cast.voices, language=m.language, seed=m.engine.seed)


def synthesize(plan: AudiobookPlan, script: list[Utterance], takes: AudioStore) -> int:
    """Speak every take the cache lacks; returns how many were synthesized."""
    m = plan.manifest
    batches = plan_batches(script, plan.cast.voices, takes, m.engine.batch_size)
    total = sum(len(b) for b in batches)
    # async_dispatch types the result as "UUID or a coroutine"; called from sync code it is the UUID
    artifact = cast(UUID, create_progress_artifact(0.0, description="Synthesis")) if FlowRunContext.get() else None
    run_batch = synthesize_batch_task.with_options(retries=m.engine.retries)
    done = 0
    progress.report("synthesize", 0, total)
    for batch in batches:
        run_batch(batch, plan.cast.voices, m.language, takes)
        done += len(batch)
        progress.report("synthesize", done, total)
        if artifact:
            update_progress_artifact(artifact, 100.0 * done / total)
    return total


def master(plan: AudiobookPlan, script: list[Utterance], stores: Stores) -> list[MasteredChapter]:
    """Each chapter assembled from its takes and mastered to ACX (or found mastered already)."""
    m = plan.manifest
    spec = MasteringSpec(target_rms_db=m.mastering.rms_db, peak_ceiling_db=m.mastering.peak_db, room_tone_db=m.mastering.room_tone_db)
    chapters = group_takes(plan.chapters, script)
    progress.report("master", 0, len(chapters))
    futures = [
        render_chapter_task.submit(c, stores.takes, stores.chapters, head_s=m.pauses.head, tail_s=m.pauses.tail, spec=spec)
        for c in chapters
    ]
    done = []
    for future in futures:
        done.append(future.result())
        progress.report("master", len(done), len(chapters))
    return done


def book_tags(plan: AudiobookPlan) -> BookTags:
    m = plan.manifest
    return BookTags(
        title=m.title, author=m.author, narrator=m.narrator or plan.cast.voice_for(NARRATOR).name,
        language=m.language, year=str(m.year) if m.year else None, publisher=m.publisher,
        description=m.description, genre=m.genre, cover=plan.cover,
    )


def deliver(
    plan: AudiobookPlan, script: list[Utterance], mastered: list[MasteredChapter], stores: Stores, report: RenderReport,
    started: float,
) -> RenderReport:
    """Encode what changed, write the script and the report, and publish them all at once.

    ``report`` lacks the delivered files and the wall time since ``started`` (monotonic).
    """
    m = plan.manifest
    formats = AudiobookFormats(tuple(m.output.formats), m.output.name or m.title, m.output.m4b_bitrate, m.output.mp3_bitrate)
    with Staging(plan.project.layout) as staging:
        files = produce_task(audiobook_deliverables(formats, mastered, book_tags(plan)), staging)
        table = to_table(with_durations(script, stores.takes))
        table.to_parquet(staging.path("utterances.parquet"), index=False)
        table.to_csv(staging.path("utterances.csv"), index=False)
        report = replace(report, files=files, wall_s=time.monotonic() - started)
        staging.path("report.json").write_text(to_json(report), encoding="utf-8")
        staging.path("report.md").write_text(to_markdown(report), encoding="utf-8")
        staging.publish()
    return report


def render_audiobook(plan: AudiobookPlan) -> RenderReport:
    """Render what ``plan`` describes: the body of the :func:`audiobook` flow."""
    started = time.monotonic()
    layout = plan.project.layout
    with output_lock(layout.lock, layout.output_dir):
        layout.remove_leftovers()
        if isinstance(plan.cache, LocalStorage) and not inside(plan.cache.root, layout.work_dir):
            remove_stale_temp_files(plan.cache.root, older_than_s=SHARED_TEMP_AGE_S)  # other renders may share it
        stores = Stores(takes=AudioStore(plan.cache), chapters=AudioStore(LocalStorage(layout.chapters)))
        script = write_the_script(plan)
        keys = {u.cache_key or "" for u in script}
        hits = sum(k in stores.takes for k in keys)
        synthesis_started = time.monotonic()
        synthesized = synthesize(plan, script, stores.takes)
        synthesis_s = time.monotonic() - synthesis_started
        mastered = master(plan, script, stores)
        m = plan.manifest
        report = RenderReport(
            title=m.title, author=m.author, source=plan.source.name, manifest=plan.project.manifest_path.name,
            chapters=[_chapter_report(c) for c in mastered], files=[], utterances=len(script), unique_takes=len(keys),
            cache_hits=hits, synthesized=synthesized, synthesis_s=synthesis_s, wall_s=0.0, warnings=plan.warnings,
        )
        return deliver(plan, script, mastered, stores, report, started)


def _chapter_report(c: MasteredChapter) -> ChapterReport:
    return ChapterReport(c.chapter_id, c.title, c.duration_s, c.utterances, c.levels.rms_db, c.levels.peak_db,
                         c.levels.noise_floor_db, c.remastered)


# Prefect types task_runner as TaskRunner[PrefectFuture], which its own ThreadPoolTaskRunner (of
# PrefectConcurrentFuture) does not match for mypy: the generic is invariant.
@flow(name="audiobook", flow_run_name="audiobook: {manifest}", task_runner=ThreadPoolTaskRunner(max_workers=2))  # type: ignore[arg-type]
def audiobook(manifest: str, output_dir: str | None = None, cache_dir: str | None = None) -> dict[str, Any]:
    """Render the audiobook that ``manifest`` describes; returns the report as a dict."""
    lifeline.start()  # ffmpeg children die with this process, however it dies
    plan = plan_for(manifest, output_dir, cache_dir)
    if not isinstance(plan, AudiobookPlan):
        raise ManifestError(manifest, "kind", f"{plan.project.manifest.kind!r} is not an audiobook")
    report = render_audiobook(plan)
    create_markdown_artifact(to_markdown(report), key="render-report", description=f"Render report: {report.title}")
    return {"title": report.title, "duration_s": report.duration_s, "files": [f.path for f in report.files],
            "synthesized": report.synthesized, "cache_hits": report.cache_hits}
