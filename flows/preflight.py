"""The preflight: everything a render can check before it starts, without Prefect.

``castline validate`` and ``castline render`` run it before any flow starts, so a bad
manifest, voice, book or storage location fails in a second or two with one line; a flow run
by a deployment runs it first thing. Its result, a *plan*, is what the flow works from. The
CLI hands its plan over to the flow it starts (:func:`hand_over`), so the book is not read
and the voices are not cast twice; the flow takes it only if no input file changed since.

Each manifest kind has its preflight in :data:`PREFLIGHTS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from castline.errors import InputError, ManifestError, OutputPathError
from castline.ffmpeg import check_image
from castline.layout import inside
from castline.lock import output_lock
from castline.manifest import AudiobookManifest
from castline.model import Book, Chapter, Utterance
from castline.project import Project, load_project
from castline.settings import STORAGE_ENV, shared_location
from castline.storage import LocalStorage, Storage, open_storage
from castline.tempfiles import remove_stale_temp_files
from castline.text.lexicon import Lexicon, parse_pls, read_lexicon
from tasks.cast import NARRATOR, Cast, find_voice
from tasks.credits import closing_credits, opening_credits
from tasks.ingest import read_source
from tasks.script import language_mismatch, select_chapters, split_long_chapters, unspoken_content
from voices.engines import engine_class

__all__ = [
    "Plan", "AudiobookPlan", "PREFLIGHTS", "preflight", "hand_over", "plan_for", "CACHE_SETTING", "cast_voices",
    "cache_storage", "chapter_storage", "check_output_tree", "holding_output", "voice_language_warnings",
    "cast_sheet_path", "narrator_name",
]

CACHE_SETTING = "--cache-dir / CASTLINE_CACHE_DIR"
"""Where the utterance cache location comes from, for error messages."""


@dataclass(frozen=True)
class Plan:
    """What the preflight of any kind establishes."""

    project: Project
    cast: Cast
    cache: Storage
    """The utterance cache."""
    warnings: list[str]
    """Problems that do not stop a render, said before it starts and listed in its report."""

    def storages(self) -> list[Storage]:
        """The stores the render writes besides its output directory."""
        return [self.cache]

    def summary(self) -> str:
        cast = ", ".join(f"{role}={v.name} ({v.engine})" for role, v in self.cast.roles.items())
        return f"voices {cast}"

    def _stamps(self) -> tuple[tuple[str, int, int], ...]:
        """(path, size, mtime) of every file the plan was made from."""
        files = [self.project.manifest_path, *self.project.inputs.values()]
        files += [p.path for p in self.cast.roles.values() if p.path]
        sheet = cast_sheet_path(self.project)
        files += [sheet] if self.project.manifest.kind == "audiobook" and sheet.is_file() else []
        return tuple((str(f), (st := os.stat(f)).st_size, st.st_mtime_ns) for f in files)


@dataclass(frozen=True)
class AudiobookPlan(Plan):
    """An audiobook's plan: the book, read once, the chapters to render, the checked cover."""

    book: Book
    chapters: list[Chapter]
    cover: bytes | None
    """The manifest's cover file, else the book's own cover; decoded once to be sure it is an image."""
    chapter_store: Storage
    """The mastered chapters."""
    lexicon: Lexicon = Lexicon()
    """The manifest's pronunciation lexicon, then the book's own."""
    written: list[tuple[list[Utterance], list[str]]] = field(default_factory=list, init=False, compare=False, repr=False)
    """The script and its notes once :mod:`flows.audiobook_plan` has written them. A plan is
    made from its input files (the cast sheet among them: see ``_stamps``) and is only reused
    while they are unchanged, so its script is written once: not again by the preflight's
    notes, the up-to-date check and the flow."""

    def storages(self) -> list[Storage]:
        return [*super().storages(), self.chapter_store]

    @property
    def manifest(self) -> AudiobookManifest:
        m = self.project.manifest
        assert isinstance(m, AudiobookManifest)
        return m

    @property
    def source(self) -> Path:
        return self.project.inputs["source"]

    def summary(self) -> str:
        words = sum(c.word_count for c in self.chapters)
        return f"{len(self.chapters)} of {len(self.book.chapters)} chapters, {words} words; {super().summary()}"


def narrator_name(manifest: AudiobookManifest, cast: Cast) -> str:
    """Who the tags and the credits say narrates: the manifest's ``narrator``, else the narrator voice's name."""
    return manifest.narrator or cast.voice_for(NARRATOR).name


def cast_sheet_path(project: Project) -> Path:
    """Where an audiobook's cast sheet is: ``dialogue.cast_sheet``, else ``<manifest name>.cast.csv``
    beside the manifest; it must lie in the project directory (``castline cast`` writes it)."""
    m = project.manifest
    named = getattr(getattr(m, "dialogue", None), "cast_sheet", None)
    path = (project.root / (named or f"{project.manifest_path.stem}.cast.csv")).resolve()
    if not inside(path, project.root):
        raise ManifestError(project.manifest_path, "dialogue.cast_sheet", f"{named!r} is outside the project directory {project.root}")
    return path


def _lexicon(project: Project, book: Book) -> Lexicon:
    """The manifest's lexicon with the book's own PLS lexicons after it (its entries win)."""
    lexicon = read_lexicon(project.inputs["lexicon"]) if "lexicon" in project.inputs else Lexicon()
    for where, document in book.pronunciation_lexicons:
        lexicon = lexicon.merged(parse_pls(document, f"{project.inputs['source'].name}: {where}"))
    return lexicon


def _check_phonemes(lexicon: Lexicon, cast: Cast) -> None:
    """Refuse a lexicon entry whose phonemes a cast voice that would read them cannot say
    (the engine would skip or misread them), naming the entry's file and line."""
    for profile in {p.name: p for p in cast.roles.values()}.values():
        engine = engine_class(profile)
        alphabet = engine.phoneme_alphabet
        if alphabet is None:
            continue
        entries = [e for e in lexicon.entries if alphabet in e.phonemes]
        for entry, bad in zip(entries, engine.unknown_phonemes(profile, [e.phonemes[alphabet] for e in entries])):
            if bad:
                symbols = " ".join(f"{s!r} (U+{ord(s[0]):04X})" for s in bad)
                raise InputError(entry.where, f"voice {profile.name!r} cannot say the phonemes {symbols} of {entry.grapheme!r}")


def cast_voices(project: Project, default_role: str = NARRATOR) -> Cast:
    """The manifest's ``voices``, each found and checked by its engine; an error names the role."""
    roles = {}
    for role, ref in project.manifest.voices.items():
        try:
            roles[role] = find_voice(ref, (project.root,))
        except Exception as exc:  # any failure of a profile or its engine's check names the role
            raise ManifestError(project.manifest_path, f"voices.{role}", str(exc)) from None
    characters = getattr(project.manifest, "characters", {})
    return Cast(roles, default_role, {name: c.role for name, c in characters.items() if c.role})


CACHE_ENV = "CASTLINE_CACHE_DIR"
"""The utterance cache of every render that names none: set once for a worker (a deployment run
reads it too, not only the CLI)."""


def cache_storage(project: Project, cache: str | None) -> Storage:
    """The utterance cache: ``cache``, else ``CASTLINE_CACHE_DIR``, else ``$CASTLINE_STORAGE/utterances``,
    else the project's own. A user's location is checked now; the default is made when first written."""
    cache = cache or os.environ.get(CACHE_ENV) or None
    if cache:
        return open_storage(cache, setting=CACHE_SETTING)
    if shared := shared_location("utterances"):
        return open_storage(shared, setting=STORAGE_ENV)
    return LocalStorage(project.layout.utterance_cache)


def chapter_storage(project: Project) -> Storage:
    """The mastered chapters: ``$CASTLINE_STORAGE/chapters``, else the project's own. Chapters
    are content-addressed like takes, so every project may share one store."""
    if shared := shared_location("chapters"):
        return open_storage(shared, setting=STORAGE_ENV)
    return LocalStorage(project.layout.chapters)


MAX_COVER_BYTES = 50 << 20
"""A cover file larger than this is refused (retail covers are a few megabytes)."""


def _cover(project: Project, book: Book) -> tuple[bytes | None, list[str]]:
    """The cover to deliver, decoded by ffmpeg now: a bad manifest cover is an error, a bad
    cover inside the book a warning (the book is delivered without it)."""
    file = project.inputs.get("cover")
    if file is not None:
        if file.stat().st_size > MAX_COVER_BYTES:
            raise ManifestError(project.manifest_path, "cover", f"{file}: larger than {MAX_COVER_BYTES >> 20} MiB")
        data = file.read_bytes()
        try:
            check_image(data, file)
        except InputError as exc:
            raise ManifestError(project.manifest_path, "cover", str(exc)) from None
        return data, []
    if book.cover is None:
        return None, []
    try:
        check_image(book.cover.data, book.source)
    except InputError as exc:
        return None, [f"{exc.path.name}: its cover image is unusable ({exc.problem}); the audiobook gets no cover"]
    return book.cover.data, []


def check_output_tree(project: Project) -> None:
    """No path under the output directory (``.castline/`` and every store included) may be a
    symbolic link that leads outside the project: castline would write through it.

    Checked before anything is written. The project is the manifest's folder, or the output
    directory itself when the command line chose one elsewhere.
    """
    out = project.output_dir
    root = project.root if inside(out, project.root) else out
    folders: list[str | Path] = [out] if out.is_dir() else []
    while folders:
        with os.scandir(folders.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    if not inside(Path(entry.path), root):
                        target = os.readlink(entry.path)
                        raise OutputPathError(Path(entry.path), root, f"a symbolic link to {target}, outside the project")
                elif entry.is_dir(follow_symlinks=False):
                    folders.append(entry.path)


def voice_language_warnings(cast: Cast, language: str, text_is: str) -> list[str]:
    """A warning for each cast voice that speaks another language than the text (``text_is``:
    "the book is", "the subtitles are") is in, compared on the primary tag (``en-GB`` is ``en``)."""
    primary = language.split("-")[0].split("_")[0].lower()
    return [
        f"voice {p.name!r} ({role}) speaks {p.language!r} but {text_is} in {language!r}"
        for role, p in cast.roles.items()
        if p.language.split("-")[0].lower() != primary
    ]


def _warnings(plan_language: str, cast: Cast, book: Book, chapters: list[Chapter], speak_titles: bool, source: Path) -> list[str]:
    notes = [f"{source.name}: {w}" for w in book.warnings]
    notes += voice_language_warnings(cast, plan_language, "the book is")
    notes += language_mismatch(book.language, chapters, plan_language)
    notes += unspoken_content(chapters, plan_language, speak_titles=speak_titles)
    return notes


def preflight_audiobook(project: Project, cache: str | None = None) -> AudiobookPlan:
    """Cast the voices, read the book, choose the chapters, check the cache location."""
    m = project.manifest
    assert isinstance(m, AudiobookManifest)
    check_output_tree(project)
    cast = cast_voices(project)
    source = project.inputs["source"]
    book = read_source(source)
    try:
        chapters = select_chapters(
            book, m.chapters.select, front_matter=m.chapters.front_matter, back_matter=m.chapters.back_matter
        )
    except ValueError as exc:
        raise ManifestError(project.manifest_path, "chapters.select", str(exc)) from None
    cover, cover_warnings = _cover(project, book)
    warnings = _warnings(m.language, cast, book, chapters, m.chapters.speak_titles, source) + cover_warnings
    if m.output.readalong and not book.epub_version.startswith("3"):
        warnings.append(f"{source.name} is an EPUB {book.epub_version or '2'}: the read-along is delivered as WebVTT files "
                        "only (Media Overlays need an EPUB 3 source)")
    chapters = split_long_chapters(chapters, m.output.max_chapter_minutes)
    if m.credits.opening:
        narration = m.credits.narration.replace("{narrator}", narrator_name(m, cast))
        chapters.insert(0, opening_credits(m.title, m.author, narration))
    if m.credits.closing:
        chapters.append(closing_credits(m.credits.copyright))
    lexicon = _lexicon(project, book)
    _check_phonemes(lexicon, cast)
    plan = AudiobookPlan(
        project, cast, cache_storage(project, cache), warnings, book, chapters, cover, chapter_storage(project), lexicon
    )
    if plan.lexicon.entries or cast_sheet_path(project).is_file():
        from flows.audiobook_plan import script_notes  # it builds on this module

        warnings += script_notes(plan)
    return plan


def _preflight_dub(project: Project, cache: str | None = None) -> Plan:
    from flows.dub_plan import preflight_dub  # it builds on this module

    return preflight_dub(project, cache)


PREFLIGHTS: dict[str, Callable[[Project, str | None], Plan]] = {"audiobook": preflight_audiobook, "dub": _preflight_dub}
"""Manifest ``kind`` -> its preflight."""


def preflight(project: Project, cache: str | None = None) -> Plan:
    """The plan for ``project``; raises :class:`~castline.errors.CastlineError` for anything wrong."""
    return PREFLIGHTS[project.manifest.kind](project, cache)


_handed_over: dict[tuple[str, str, str | None], tuple[tuple[tuple[str, int, int], ...], Plan]] = {}


def hand_over(plan: Plan, cache: str | None) -> None:
    """Keep ``plan`` for the next flow of this process that renders the same project."""
    _handed_over.clear()
    _handed_over[(str(plan.project.manifest_path), str(plan.project.output_dir), cache)] = (plan._stamps(), plan)


def plan_for(manifest: str | Path, output_dir: str | Path | None, cache: str | None) -> Plan:
    """The plan handed over for this render if its input files are unchanged, else a new preflight."""
    project = load_project(manifest, output_dir)
    handed = _handed_over.pop((str(project.manifest_path), str(project.output_dir), cache), None)
    if handed is not None:
        stamps, plan = handed
        try:
            if stamps == plan._stamps() and plan.project == project:
                return plan
        except OSError:  # a file it was made from is gone: check everything again
            pass
    return preflight(project, cache)


SHARED_TEMP_AGE_S = 3600.0
"""A temporary file this old in a cache shared with other renders is a dead writer's."""


@contextmanager
def holding_output(plan: Plan) -> Iterator[None]:
    """The plan's output directory, locked for this render and cleared of what dead renders
    left there (and, in stores shared with other renders, of their old temporary files)."""
    layout = plan.project.layout
    with output_lock(layout.lock, layout.output_dir):
        layout.remove_leftovers()
        for storage in plan.storages():
            if isinstance(storage, LocalStorage) and not inside(storage.root, layout.work_dir):
                remove_stale_temp_files(storage.root, older_than_s=SHARED_TEMP_AGE_S)  # other renders may share it
        yield


def engine_max_chars(plan: Plan) -> int:
    """The longest utterance every cast voice's engine accepts."""
    return min(engine_class(p).max_chars for p in plan.cast.roles.values())
