"""What an audiobook render will make, worked out without Prefect and without synthesizing
anything: the script with each take's key, the chapters with theirs, the deliverables with the
digests of what they are made of, and whether all of it is published already.

The flow (:mod:`flows.audiobook`) renders from these; ``castline render`` asks
:func:`up_to_date` first and, when nothing would change, says so without starting Prefect: an
unchanged re-render then costs reading the book and writing its script, not a flow run.
"""

from __future__ import annotations

from dataclasses import replace

from castline.cache import AudioStore
from castline.digest import digest
from castline.manifest import AudiobookManifest
from castline.model import Utterance
from castline.text.lexicon import Lexicon
from flows.preflight import AudiobookPlan, cast_sheet_path, engine_max_chars, narrator_name
from tasks.attribution import Character
from tasks.cast import NARRATOR, cast_utterances
from tasks.cast_sheet import apply_cast_sheet, read_cast_sheet
from tasks.chapters import ChapterTakes, MasteredChapter, find_mastered, group_takes
from tasks.deliver import BookTags
from tasks.deliverables import AudiobookFormats, Deliverable, audiobook_deliverables
from tasks.gate import REVIEW_CSV, all_checked
from tasks.master import MasteringSpec
from tasks.packages import package_contents
from tasks.publish import published_state
from tasks.readalong import readalong_contents, readalong_key
from tasks.sample import retail_sample
from tasks.script import Pacing, write_script
from tasks.synthesize import plan_takes
from voices.engines import engine_class
from voices.profile import VoiceProfile

__all__ = [
    "write_the_script",
    "script_notes",
    "characters_of",
    "sheet_speakers",
    "sample_takes",
    "mastering_spec",
    "delivery_formats",
    "book_tags",
    "script_digest",
    "readalong_files",
    "up_to_date",
    "SCRIPT_FILES",
    "REPORT_FILES",
]

SCRIPT_FILES = ("utterances.parquet", "utterances.csv")
"""The script, delivered beside the audio; published with :func:`script_digest` as their content."""
REPORT_FILES = ("report.json", "report.md", "report.html", REVIEW_CSV)
"""The render report, written anew by every render."""


def write_the_script(plan: AudiobookPlan) -> list[Utterance]:
    """The utterances of the chosen chapters, their speakers as the cast sheet corrects them,
    cast, pronounced as the lexicons say, with their takes planned."""
    return _script(plan)[0]


def script_notes(plan: AudiobookPlan) -> list[str]:
    """What the cast sheet and the lexicons say about the script: rows left out, entries that
    match nothing (for the preflight's warnings)."""
    return _script(plan)[1]


def characters_of(manifest: AudiobookManifest) -> dict[str, Character]:
    """The manifest's characters, for the attribution sieve."""
    return {name: Character(name, tuple(c.aliases), c.gender) for name, c in manifest.characters.items()}


def sheet_speakers(manifest: AudiobookManifest, script: list[Utterance]) -> dict[str, str]:
    """Every name a cast sheet row may give (as written and case-folded) -> the speaker it means."""
    names = {NARRATOR: NARRATOR, manifest.dialogue.default_speaker: manifest.dialogue.default_speaker}
    names |= {u.speaker: u.speaker for u in script}
    for name, c in manifest.characters.items():
        names |= dict.fromkeys([name, *c.aliases], name)
    return names | {k.casefold(): v for k, v in names.items()}


def _script(plan: AudiobookPlan) -> tuple[list[Utterance], list[str]]:
    if not plan.written:
        plan.written.append(_write(plan))
    script, notes = plan.written[0]
    return list(script), list(notes)


def _write(plan: AudiobookPlan) -> tuple[list[Utterance], list[str]]:
    m = plan.manifest
    p = m.pauses
    script = write_script(
        plan.chapters, language=m.language, pacing=Pacing(p.sentence, p.paragraph, p.title),
        max_chars=m.engine.max_chars or engine_max_chars(plan), speak_titles=m.chapters.speak_titles,
        characters=characters_of(m) if m.attributes_dialogue else None, default_speaker=m.dialogue.default_speaker,
    )
    notes: list[str] = []
    sheet = cast_sheet_path(plan.project)
    if sheet.is_file():
        script, notes = apply_cast_sheet(script, read_cast_sheet(sheet), sheet_speakers(m, script), sheet.name)
    cast = cast_utterances(script, plan.cast)
    pronounced, unused = _pronounce(cast, plan.lexicon, plan.cast.voices)
    return plan_takes(pronounced, plan.cast.voices, language=m.language, seed=m.engine.seed), notes + unused


def sample_takes(plan: AudiobookPlan, script: list[Utterance], takes: AudioStore) -> tuple[ChapterTakes | None, str | None]:
    """The retail sample's takes (all stored already), or None and why there is none."""
    m = plan.manifest
    if not m.sample.enabled:
        return None, None
    def duration_of(key: str) -> float:
        entry = takes.get(key)
        if entry is None:
            raise FileNotFoundError(f"take {key} of the retail sample is not in the cache {takes.storage.url}")
        return entry.duration_s

    return retail_sample(plan.chapters, script, duration_of, length_s=m.sample.length_s,
                         head_s=m.pauses.head, tail_s=m.pauses.tail)


def _pronounce(script: list[Utterance], lexicon: Lexicon, voices: dict[str, VoiceProfile]) -> tuple[list[Utterance], list[str]]:
    """The utterances with the text their engine is given where lexicon entries apply, and a
    message for each entry that applied nowhere."""
    if not lexicon.entries:
        return script, []
    alphabets = {name: engine_class(v).phoneme_alphabet for name, v in voices.items()}
    applied: set[str] = set()
    out = []
    for u in script:
        said, entries = lexicon.apply(u.text, alphabets[u.voice])
        applied.update(e.where for e in entries)
        out.append(replace(u, pronounced=said) if entries else u)
    unused = [e for e in lexicon.entries if e.where not in applied]
    matched = {e.where for u in script for e in lexicon.matches(u.text)} if unused else set()
    return out, [
        f"{e.where}: lexicon entry {e.grapheme!r} "
        + ("has no respelling or phonemes the cast's engines read" if e.where in matched else "matches nothing in the chapters rendered")
        for e in unused
    ]


def mastering_spec(plan: AudiobookPlan) -> MasteringSpec:
    m = plan.manifest.mastering
    return MasteringSpec(target_rms_db=m.rms_db, peak_ceiling_db=m.peak_db, room_tone_db=m.room_tone_db)


def delivery_formats(plan: AudiobookPlan) -> AudiobookFormats:
    o = plan.manifest.output
    formats = tuple(o.formats) + (("mp3",) if (o.packages or o.readalong) and "mp3" not in o.formats else ())
    return AudiobookFormats(formats, o.name or plan.manifest.title, o.m4b_bitrate, o.mp3_bitrate, tuple(o.packages),
                            o.readalong)


def book_tags(plan: AudiobookPlan) -> BookTags:
    m = plan.manifest
    return BookTags(
        title=m.title, author=m.author, narrator=narrator_name(m, plan.cast),
        language=m.language, year=str(m.year) if m.year else None, publisher=m.publisher,
        description=m.description, genre=m.genre, cover=plan.cover,
    )


def script_digest(script: list[Utterance]) -> str:
    """What the delivered script says: every utterance's text, speaker, voice, pause, take and
    where its sentence is in the book."""
    return digest([(u.id, u.speaker, u.text, u.voice, u.pause_after, u.cache_key, u.paragraph, u.sentence_start,
                    u.sentence_end) for u in script])


def readalong_files(plan: AudiobookPlan, script: list[Utterance], deliverables: list[Deliverable]) -> dict[str, str]:
    """The read-along's files (path in the output directory -> content digest); none unless asked for."""
    formats = delivery_formats(plan)
    if not formats.readalong:
        return {}
    return readalong_contents(formats.stem, deliverables, readalong_key(plan.source, script),
                              epub=plan.book.epub_version.startswith("3"))


def up_to_date(plan: AudiobookPlan) -> bool:
    """Whether a render would change nothing: every chapter is mastered already, every take has
    the quality gate's figures, and every deliverable, the script included, is published from
    the content it would be made from."""
    layout = plan.project.layout
    script = write_the_script(plan)
    m = plan.manifest
    store, spec = AudioStore(plan.chapter_store), mastering_spec(plan)
    mastered = []
    for chapter in group_takes(plan.chapters, script):
        found = find_mastered(chapter, store, head_s=m.pauses.head, tail_s=m.pauses.tail, spec=spec)
        if found is None:
            return False
        mastered.append(found)
    sample, _ = sample_takes(plan, script, AudioStore(plan.cache))
    found_sample: MasteredChapter | None = None
    if sample is not None:
        found_sample = find_mastered(sample, store, head_s=m.pauses.head, tail_s=m.pauses.tail, spec=spec)
        if found_sample is None:
            return False
    formats, tags = delivery_formats(plan), book_tags(plan)
    deliverables = audiobook_deliverables(formats, mastered, tags, found_sample)
    wanted = {d.name: d.content for d in deliverables} | package_contents(formats.packages, formats.stem, deliverables, tags)
    wanted |= readalong_files(plan, script, deliverables)
    wanted |= dict.fromkeys(SCRIPT_FILES, script_digest(script))
    published = published_state(layout)
    files = [*wanted, *REPORT_FILES]
    review = layout.output_dir / REVIEW_CSV
    if m.qa.mode == "fail" and review.is_file() and len(review.read_text(encoding="utf-8").splitlines()) > 1:
        return False  # published under another mode with takes to review: this one must fail
    return (
        all_checked(script, AudioStore(plan.cache), m.qa)
        and all(published.get(name) == content for name, content in wanted.items())
        and set(published) == set(files)
        and all((layout.output_dir / name).is_file() for name in files)
    )
