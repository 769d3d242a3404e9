"""What an audiobook render will make, worked out without Prefect and without synthesizing
anything: the script with each take's key, the chapters with theirs, the deliverables with the
digests of what they are made of, and whether all of it is published already.

The flow (:mod:`flows.audiobook`) renders from these; ``castline render`` asks
:func:`up_to_date` first and, when nothing would change, says so without starting Prefect: an
unchanged re-render then costs reading the book and writing its script, not a flow run.
"""

from __future__ import annotations

from castline.cache import AudioStore
from castline.digest import digest
from castline.model import Utterance
from flows.preflight import AudiobookPlan, engine_max_chars
from tasks.cast import NARRATOR, cast_utterances
from tasks.chapters import find_mastered, group_takes
from tasks.deliver import BookTags
from tasks.deliverables import AudiobookFormats, audiobook_deliverables
from tasks.gate import REVIEW_CSV, all_checked
from tasks.master import MasteringSpec
from tasks.publish import published_state
from tasks.script import Pacing, write_script
from tasks.synthesize import plan_takes

__all__ = [
    "write_the_script",
    "mastering_spec",
    "delivery_formats",
    "book_tags",
    "script_digest",
    "up_to_date",
    "SCRIPT_FILES",
    "REPORT_FILES",
]

SCRIPT_FILES = ("utterances.parquet", "utterances.csv")
"""The script, delivered beside the audio; published with :func:`script_digest` as their content."""
REPORT_FILES = ("report.json", "report.md", "report.html", REVIEW_CSV)
"""The render report, written anew by every render."""


def write_the_script(plan: AudiobookPlan) -> list[Utterance]:
    """The utterances of the chosen chapters, cast, with their takes planned."""
    m = plan.manifest
    p = m.pauses
    script = write_script(
        plan.chapters, language=m.language, pacing=Pacing(p.sentence, p.paragraph, p.title),
        max_chars=m.engine.max_chars or engine_max_chars(plan), speak_titles=m.chapters.speak_titles,
    )
    return plan_takes(cast_utterances(script, plan.cast), plan.cast.voices, language=m.language, seed=m.engine.seed)


def mastering_spec(plan: AudiobookPlan) -> MasteringSpec:
    m = plan.manifest.mastering
    return MasteringSpec(target_rms_db=m.rms_db, peak_ceiling_db=m.peak_db, room_tone_db=m.room_tone_db)


def delivery_formats(plan: AudiobookPlan) -> AudiobookFormats:
    o = plan.manifest.output
    return AudiobookFormats(tuple(o.formats), o.name or plan.manifest.title, o.m4b_bitrate, o.mp3_bitrate)


def book_tags(plan: AudiobookPlan) -> BookTags:
    m = plan.manifest
    return BookTags(
        title=m.title, author=m.author, narrator=m.narrator or plan.cast.voice_for(NARRATOR).name,
        language=m.language, year=str(m.year) if m.year else None, publisher=m.publisher,
        description=m.description, genre=m.genre, cover=plan.cover,
    )


def script_digest(script: list[Utterance]) -> str:
    """What the delivered script says: every utterance's text, speaker, voice, pause and take."""
    return digest([(u.id, u.speaker, u.text, u.voice, u.pause_after, u.cache_key) for u in script])


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
    wanted = {d.name: d.content for d in audiobook_deliverables(delivery_formats(plan), mastered, book_tags(plan))}
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
