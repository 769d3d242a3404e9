"""The audiobook flow: an EPUB in, a mastered M4B (and per-chapter MP3s) out.

    preflight -> write the script -> synthesize, mastering each chapter (and encoding its
    MP3) as soon as its takes are in -> encode the M4B -> publish with the report

Each stage is a plain function in ``tasks/``, and :mod:`flows.audiobook_plan` turns the
manifest into the values they take; this module runs them as Prefect tasks: synthesis one task
per batch (retried with backoff when the engine fails), in book order; mastering one task per
chapter beside it on the task runner (threads, or Dask worker processes: the caller picks it, see
:mod:`flows.task_runners`), which gets only values that pickle and hands back what it made;
delivery one task that encodes what is left (the M4B) and measures it.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from castline import lifeline, progress
from castline.cache import AudioStore
from castline.errors import ManifestError
from castline.model import Seconds, Utterance, to_table
from flows.audiobook_plan import (
    SCRIPT_FILES,
    book_tags,
    delivery_formats,
    mastering_spec,
    readalong_files,
    sample_takes,
    script_digest,
    write_the_script,
)
from flows.preflight import AudiobookPlan, holding_output, plan_for
from flows.run_log import announce, log_to_the_flow_run
from flows.synthesis import gate_verdict, speak
from tasks.chapters import ChapterTakes, MasteredChapter, clip_spans, group_takes, render_chapter
from tasks.deliver import BookTags
from tasks.deliverables import (
    AudiobookFormats,
    Deliverable,
    Made,
    Maker,
    Production,
    audiobook_deliverables,
    chapter_mp3,
)
from tasks.gate import REVIEW_CSV, review_csv
from tasks.master import MasteringSpec
from tasks.packages import package_contents, write_packages
from tasks.publish import Staging
from tasks.readalong import timed_sentences, write_readalong
from tasks.report import ChapterReport, RenderReport, to_json, to_markdown
from tasks.review import audiobook_page, write_page
from tasks.synthesize import plan_batches, with_durations

__all__ = ["audiobook", "render_audiobook"]

@dataclass(frozen=True)
class Stores:
    takes: AudioStore
    """Synthesized utterances."""
    chapters: AudioStore
    """Mastered chapters."""


@dataclass(frozen=True)
class ChapterSettings:
    """What mastering a chapter (and encoding its MP3) takes from the plan: plain values that
    pickle, so that the task can run in another process; the plan itself holds the whole book
    and the loaded voices."""

    head_s: Seconds
    tail_s: Seconds
    """Room tone before and after the chapter."""
    spec: MasteringSpec
    formats: AudiobookFormats
    tags: BookTags
    total: int
    """Chapters in the book (the MP3s' track numbers count up to it)."""

    @classmethod
    def of(cls, plan: AudiobookPlan, total: int) -> ChapterSettings:
        pauses = plan.manifest.pauses
        return cls(pauses.head, pauses.tail, mastering_spec(plan), delivery_formats(plan), book_tags(plan), total)


@dataclass(frozen=True)
class ChapterDone:
    """What :func:`master_and_encode` made, for the flow to record."""

    mastered: MasteredChapter
    mp3: Made | None
    """The chapter's MP3, for :meth:`Production.record`; None when the book has no MP3s."""


def master_and_encode(chapter: ChapterTakes, track: int, book: ChapterSettings, stores: Stores, maker: Maker) -> ChapterDone:
    """Master one chapter and, when the book is delivered as MP3s too, encode its MP3 at once.

    It may run in another process (a Dask worker): its arguments pickle, and whatever it made
    comes back in its return value, never through an object the flow holds.
    """
    lifeline.start()  # a worker process's ffmpeg children die with it too (in the flow's process: started already)
    mastered = render_chapter(chapter, stores.takes, stores.chapters, head_s=book.head_s, tail_s=book.tail_s, spec=book.spec)
    mp3 = None
    if "mp3" in book.formats.formats:
        mp3 = maker.make(chapter_mp3(book.formats, mastered, track, book.total, book.tags))
    return ChapterDone(mastered, mp3)


master_chapter_task = task(name="master-chapter", cache_policy=NONE)(master_and_encode)
finish_task = task(name="deliver", cache_policy=NONE)(Production.finish)


class _Mastering:
    """Submits each chapter's mastering (and MP3) to the task runner as soon as its last take
    is stored, so that finished chapters are mastered while later ones are synthesized; records
    each MP3 in ``production`` as its chapter's result comes back."""

    def __init__(self, plan: AudiobookPlan, chapters: list[ChapterTakes], stores: Stores, production: Production) -> None:
        self.chapters, self.stores, self.production = chapters, stores, production
        self.book = ChapterSettings.of(plan, len(chapters))
        self.missing = {c.chapter_id: {key for key, _ in c.takes if key not in stores.takes} for c in chapters}
        self.waiting_on: dict[str, list[str]] = defaultdict(list)
        for chapter_id, keys in self.missing.items():
            for key in keys:
                self.waiting_on[key].append(chapter_id)
        self.futures: dict[str, PrefectFuture[ChapterDone]] = {}

    def stored(self, keys: list[str]) -> None:
        """``keys`` are in the cache now: master whatever chapter that completes."""
        for key in keys:
            for chapter_id in self.waiting_on.pop(key, []):
                self.missing[chapter_id].discard(key)
        for track, chapter in enumerate(self.chapters, 1):
            if not self.missing[chapter.chapter_id] and chapter.chapter_id not in self.futures:
                self.futures[chapter.chapter_id] = master_chapter_task.submit(
                    chapter, track, self.book, self.stores, self.production.maker()
                )

    def results(self) -> list[MasteredChapter]:
        """Every chapter mastered, in book order (and its MP3 recorded)."""
        done = []
        progress.report("master", 0, len(self.chapters))
        for chapter in self.chapters:
            result = self.futures[chapter.chapter_id].result()
            if result.mp3 is not None:
                self.production.record(result.mp3)
            done.append(result.mastered)
            progress.report("master", len(done), len(self.chapters))
        return done


@dataclass(frozen=True)
class Spoken:
    """What :func:`synthesize_and_master` did."""

    synthesized: int
    """Takes synthesized (the others came from the cache)."""
    synthesis_s: float
    """Wall time until the last take was stored."""
    mastered: list[MasteredChapter]


def synthesize_and_master(plan: AudiobookPlan, script: list[Utterance], stores: Stores, production: Production) -> Spoken:
    """Speak every take the cache lacks, in book order, mastering each chapter (and encoding
    its MP3) as soon as it is complete, on the task runner, beside the synthesis of later ones."""
    started = time.monotonic()
    m = plan.manifest
    batches = plan_batches(script, plan.cast.voices, stores.takes, m.engine.batch_size)
    mastering = _Mastering(plan, group_takes(plan.chapters, script), stores, production)
    mastering.stored([])  # chapters whose takes are all cached already
    total = speak(batches, plan.cast.voices, m.language, stores.takes, retries=m.engine.retries, gate=m.qa,
                  stored=mastering.stored)
    synthesis_s = time.monotonic() - started
    return Spoken(total, synthesis_s, mastering.results())


def master_sample(plan: AudiobookPlan, script: list[Utterance], stores: Stores) -> tuple[MasteredChapter | None, str | None]:
    """The retail sample, mastered like a chapter (or found mastered), or None and why there is none."""
    takes, why_not = sample_takes(plan, script, stores.takes)
    if takes is None:
        return None, why_not
    m = plan.manifest
    return render_chapter(takes, stores.takes, stores.chapters, head_s=m.pauses.head, tail_s=m.pauses.tail,
                          spec=mastering_spec(plan)), None


def deliver_readalong(plan: AudiobookPlan, script: list[Utterance], mastered: list[MasteredChapter], stores: Stores,
                      staging: Staging, deliverables: list[Deliverable], contents: dict[str, str]) -> list[str]:
    """Make the read-along's files (``contents``: :func:`~flows.audiobook_plan.readalong_files`)
    that are not published as they would be made (the sentences' timings are worked out only
    then); returns warnings."""
    stale = {name: content for name, content in contents.items() if staging.published_digest(name) != content}
    for name in contents.keys() - stale.keys():
        staging.keep(name, contents[name])
    if not stale:
        return []
    m = plan.manifest
    takes = {c.chapter_id: c for c in group_takes(plan.chapters, script)}
    clips = {c.chapter_id: c.clips_s or clip_spans(takes[c.chapter_id], stores.takes, mastering_spec(plan), m.pauses.head,
                                                   m.pauses.tail)
             for c in mastered}
    sentences = timed_sentences(plan.chapters, script, clips)
    return write_readalong(staging, stale, plan.source, plan.chapters, sentences, mastered, deliverables)


def deliver(
    plan: AudiobookPlan, script: list[Utterance], mastered: list[MasteredChapter], stores: Stores,
    production: Production, report: RenderReport, started: float,
) -> RenderReport:
    """Encode what is left to encode, take the quality gate's verdict, write the script, the
    review list and the report (Markdown, JSON, the review page), and publish them all at once;
    or, when the gate fails the render, publish nothing.

    ``report`` lacks the delivered files and the wall time since ``started`` (monotonic).
    """
    staging = production.staging
    sample, why_not = master_sample(plan, script, stores)
    if why_not:
        report = replace(report, warnings=[*report.warnings, why_not])
    formats, tags = delivery_formats(plan), book_tags(plan)
    deliverables = audiobook_deliverables(formats, mastered, tags, sample)
    files = finish_task(production, deliverables)
    if formats.packages:
        notes = write_packages(staging, formats.packages, formats.stem, deliverables, files, mastered, tags)
        report = replace(report, warnings=[*report.warnings, *notes])
    readalong = readalong_files(plan, script, deliverables)
    if readalong:
        notes = deliver_readalong(plan, script, mastered, stores, staging, deliverables, readalong)
        report = replace(report, warnings=[*report.warnings, *notes])
    packaged = [*package_contents(formats.packages, formats.stem, deliverables, tags), *readalong]
    gate = gate_verdict(plan, script, stores.takes, [f.path for f in files if not f.acx_ok])
    table = to_table(with_durations(script, stores.takes))
    parquet, csv = (staging.path(name, script_digest(script)) for name in SCRIPT_FILES)
    table.to_parquet(parquet, index=False)
    table.to_csv(csv, index=False)
    report = replace(report, files=files, gate=gate, packaged=packaged, wall_s=time.monotonic() - started)
    write_page(audiobook_page(report, mastered, stores.takes), gate, staging, plan.project.layout)
    staging.path(REVIEW_CSV).write_text(review_csv(gate), encoding="utf-8")
    staging.path("report.json").write_text(to_json(report), encoding="utf-8")
    staging.path("report.md").write_text(to_markdown(report), encoding="utf-8")
    staging.publish()
    return report


def render_audiobook(plan: AudiobookPlan) -> RenderReport:
    """Render what ``plan`` describes: the body of the :func:`audiobook` flow."""
    started = time.monotonic()
    layout = plan.project.layout
    with holding_output(plan):
        stores = Stores(takes=AudioStore(plan.cache), chapters=AudioStore(plan.chapter_store))
        script = write_the_script(plan)
        keys = {u.cache_key or "" for u in script}
        hits = sum(k in stores.takes for k in keys)
        with Staging(layout) as staging:
            production = Production(staging)
            spoken = synthesize_and_master(plan, script, stores, production)
            m = plan.manifest
            report = RenderReport(
                title=m.title, author=m.author, source=plan.source.name, manifest=plan.project.manifest_path.name,
                chapters=[_chapter_report(c) for c in spoken.mastered], files=[], utterances=len(script),
                unique_takes=len(keys), cache_hits=hits, synthesized=spoken.synthesized, synthesis_s=spoken.synthesis_s,
                wall_s=0.0, warnings=plan.warnings,
            )
            return deliver(plan, script, spoken.mastered, stores, production, report, started)


def _chapter_report(c: MasteredChapter) -> ChapterReport:
    return ChapterReport(c.chapter_id, c.title, c.duration_s, c.utterances, c.levels.rms_db, c.levels.peak_db,
                         c.levels.noise_floor_db, c.remastered)


# Prefect types task_runner as TaskRunner[PrefectFuture], which its own ThreadPoolTaskRunner (of
# PrefectConcurrentFuture) does not match for mypy: the generic is invariant.
@flow(name="audiobook", flow_run_name="audiobook: {manifest}", task_runner=ThreadPoolTaskRunner(max_workers=2))  # type: ignore[arg-type]
def audiobook(manifest: str, output_dir: str | None = None, cache_dir: str | None = None) -> dict[str, Any]:
    """Render the audiobook that ``manifest`` describes; returns the report as a dict."""
    lifeline.start()  # ffmpeg children die with this process, however it dies
    log_to_the_flow_run()
    plan = plan_for(manifest, output_dir, cache_dir)
    if not isinstance(plan, AudiobookPlan):
        raise ManifestError(manifest, "kind", f"{plan.project.manifest.kind!r} is not an audiobook")
    announce(plan)
    report = render_audiobook(plan)
    create_markdown_artifact(to_markdown(report), key="render-report", description=f"Render report: {report.title}")
    create_table_artifact([asdict(c) for c in report.chapters], key="render-chapters", description=f"Chapters: {report.title}")
    return {"title": report.title, "duration_s": report.duration_s, "files": [f.path for f in report.files],
            "packaged": report.packaged, "synthesized": report.synthesized, "cache_hits": report.cache_hits}
