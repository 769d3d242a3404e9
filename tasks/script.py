"""From chapters to the script: the utterances to speak, in order, each with its speaker.

The script is the utterance table (see :mod:`castline.model`): for each chapter, its title
(when titles are spoken), then every sentence of every paragraph, normalized for speech and
cut to the engine's maximum length, with the pause that follows it. An audiobook's text is
read by the narrator role, unless its characters speak: then each paragraph is first cut into
narration and quotations, and each quotation is spoken by the speaker the sieve of
:mod:`tasks.attribution` finds (the narrator still reads the speech tags). Casting
(:mod:`tasks.cast`) gives each speaker its voice.

Two checks for the preflight warn before anything is rendered: :func:`unspoken_content` (text
the script would leave unspoken: emoji-only paragraphs, chapters with nothing to speak, left out)
and :func:`language_mismatch` (a book whose ``dc:language`` or script is not the language it
is read in).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

from castline.errors import quoted
from castline.model import Book, Chapter, Seconds, Utterance, utterance_id
from castline.text import has_speech, script_sentences, script_title
from castline.text.scripts import expected_scripts, language_name, script_counts
from castline.text.sentences import grapheme_boundaries
from castline.text.typography import clean
from tasks.attribution import NARRATION, UNKNOWN_SPEAKER, Character, attribute_chapter
from tasks.cast import NARRATOR

__all__ = ["Pacing", "select_chapters", "split_long_chapters", "write_script", "unspoken_content", "language_mismatch"]

SPLIT_CHARS_PER_S = 12.0
"""Characters of book text a voice reads per second, at the slowest, for splitting long
chapters before they are spoken: joe reads 18.4 (the demo's 998 s of takes, pauses left out)."""


@dataclass(frozen=True)
class Pacing:
    """The silences between utterances."""

    sentence_s: Seconds = 0.45
    paragraph_s: Seconds = 0.9
    title_s: Seconds = 1.5
    """After a spoken chapter title."""

_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def _numbers(item: int | str, book: Book) -> list[int]:
    """1-based chapter numbers named by one ``chapters.select`` item."""
    count = len(book.chapters)
    if isinstance(item, int) or str(item).strip().isdigit():
        first = last = int(item)
    elif m := _RANGE.match(str(item)):
        first, last = int(m.group(1)), int(m.group(2))
    else:
        titles = [i for i, c in enumerate(book.chapters, 1) if c.title == item]
        if not titles:
            raise ValueError(f"no chapter titled {quoted(item)} in {book.source.name}")
        return titles
    if not (1 <= first <= last <= count):
        raise ValueError(f"{item!r} is not a chapter number or range within 1-{count} of {book.source.name}")
    return list(range(first, last + 1))


def select_chapters(
    book: Book, select: Sequence[int | str] | None = None, *, front_matter: bool = False, back_matter: bool = False
) -> list[Chapter]:
    """The chapters to render, in book order.

    With ``select`` (numbers as ``castline chapters`` lists them, ``"5-9"`` ranges or exact
    titles), exactly the named chapters; otherwise the body, plus front or back matter if
    asked for. Raises :class:`ValueError` for a number, range or title the book lacks.
    """
    if select:
        wanted = {n for item in select for n in _numbers(item, book)}
        return [c for i, c in enumerate(book.chapters, 1) if i in wanted]
    keep = {"body"} | ({"front"} if front_matter else set()) | ({"back"} if back_matter else set())
    return [c for c in book.chapters if c.matter in keep]


def split_long_chapters(chapters: Sequence[Chapter], max_minutes: float) -> list[Chapter]:
    """``chapters`` with each one whose text would take longer than ``max_minutes`` to read
    (at :data:`SPLIT_CHARS_PER_S`) split at paragraph boundaries into parts of about equal
    length, titled ``Title (part 2 of 3)``, ids ``c005p2``. Retailers refuse files longer than
    120 minutes; the parts are split before synthesis, so the split never moves once a take
    exists."""
    limit = max(1, int(max_minutes * 60 * SPLIT_CHARS_PER_S))
    out: list[Chapter] = []
    for chapter in chapters:
        chars = sum(len(p) for p in chapter.paragraphs)
        count = -(-chars // limit)
        if count <= 1 or len(chapter.paragraphs) < 2:
            out.append(chapter)
            continue
        parts: list[list[str]] = [[]]
        filled = 0
        for paragraph in chapter.paragraphs:
            if parts[-1] and (filled + len(paragraph) > limit or filled >= chars / count):
                parts.append([])
                filled = 0
            parts[-1].append(paragraph)
            filled += len(paragraph)
        for n, paragraphs in enumerate(parts, 1):
            out.append(replace(chapter, id=f"{chapter.id}p{n}", title=f"{chapter.title} (part {n} of {len(parts)})",
                               paragraphs=tuple(paragraphs), speak_title=chapter.speak_title and n == 1))
    return out


def write_script(
    chapters: Sequence[Chapter],
    *,
    language: str,
    pacing: Pacing,
    max_chars: int,
    speak_titles: bool = True,
    characters: Mapping[str, Character] | None = None,
    default_speaker: str = UNKNOWN_SPEAKER,
) -> list[Utterance]:
    """Every utterance of ``chapters``, each with its speaker (not yet cast).

    Without ``characters`` the narrator reads everything; with them (even none), quotations
    are spoken by their speakers (:func:`tasks.attribution.attribute_chapter`, with
    ``default_speaker`` for those it cannot attribute) and each utterance records how its
    speaker was found. Each utterance's text is at most ``max_chars`` characters, whatever the
    book holds. A paragraph or title with nothing to say (no letter or digit once normalized:
    ``* * *``, an emoji) gives no utterance; :func:`unspoken_content` says which, before
    rendering.
    """
    script: list[Utterance] = []
    for chapter in chapters:
        lines: list[_Line] = []
        if speak_titles and chapter.speak_title and (pieces := script_title(chapter.title, language, max_chars)):
            lines += [_Line(p, pacing.sentence_s, NARRATOR, NARRATION) for p in pieces[:-1]]
            lines += [_Line(pieces[-1], pacing.title_s, NARRATOR, NARRATION)]
        if characters is None:
            parts = [[(paragraph, NARRATOR, "")] for paragraph in chapter.paragraphs]
        else:
            parts = [
                [(a.span.text, a.speaker, a.rule) for a in spans]
                for spans in attribute_chapter(chapter.paragraphs, characters, default_speaker=default_speaker)
            ]
        for n, (paragraph, spans) in enumerate(zip(chapter.paragraphs, parts)):
            spoken = []
            at = 0  # spans are stripped slices of their paragraph, in order
            for text, who, rule in spans:
                offset = max(0, paragraph.find(text, at))
                at = offset + len(text)
                spoken += [_Line(t, 0.0, who, rule, n, offset + start, offset + end)
                           for start, end, texts in script_sentences(text, language, max_chars) for t in texts]
            lines += [replace(line, pause_s=pacing.sentence_s) for line in spoken[:-1]]
            lines += [replace(line, pause_s=pacing.paragraph_s) for line in spoken[-1:]]
        for index, line in enumerate(lines):
            script.append(
                Utterance(
                    id=utterance_id(chapter.id, index, line.text),
                    chapter=chapter.id,
                    index=index,
                    speaker=line.speaker,
                    text=line.text,
                    pause_after=line.pause_s,
                    attributed_by=line.rule if characters is not None else "",
                    paragraph=line.paragraph,
                    sentence_start=line.start,
                    sentence_end=line.end,
                )
            )
    return script


@dataclass(frozen=True)
class _Line:
    """One utterance of a chapter as the script is worked out, and where the book has its text."""

    text: str
    pause_s: Seconds
    speaker: str
    rule: str
    paragraph: int | None = None
    start: int | None = None
    end: int | None = None


# --- preflight warnings -------------------------------------------------------------------------
_EXAMPLE_CHARS = 60
_CHAPTER_ID_RE = re.compile(r"^c(\d+)$")
_ORNAMENTS = (
    (0x25A0, 0x25FF),  # geometric shapes: ■ □ ● ○ ◆ ◇
    (0x2605, 0x2606),  # ★ ☆
    (0x2619, 0x2619),  # ☙
    (0x2722, 0x2727),  # ✢ ✣ ✤ ✥ ✦ ✧
    (0x2729, 0x273D),  # ✩ ... ✽ (not ✨, an emoji)
    (0x273F, 0x2743),  # ✿ ❀ ❁ ❂ ❃
    (0x2766, 0x2767),  # ❦ ❧
)
"""Symbols that books use as scene breaks (a dinkus); leaving them unspoken is expected."""


def _quote(text: str, limit: int = _EXAMPLE_CHARS) -> str:
    """``text`` in single quotes, whitespace collapsed, cut to about ``limit`` characters, and
    safe to print (no control characters, lone surrogates or bidi overrides; ZWJ kept)."""
    text = "".join(ch for ch in " ".join(text.split()) if ch.isprintable() or ch == "\u200d")
    if len(text) > limit:
        cut = max([0, *grapheme_boundaries(text, 0, limit)])  # not inside an emoji sequence
        text = text[:cut].rstrip() + "\u2026"
    return "'" + text.replace("'", "\u2019") + "'"


def _label(chapter: Chapter, position: int) -> str:
    """``chapter 3 'Interlude'``: numbered as ``castline chapters`` lists it (from the id)."""
    m = _CHAPTER_ID_RE.match(chapter.id)
    number = int(m.group(1)) if m else position
    title = " ".join(chapter.title.split())
    return f"chapter {number} {_quote(title)}" if title else f"chapter {number} (untitled)"


def _is_ornament(ch: str) -> bool:
    code = ord(ch)
    return any(lo <= code <= hi for lo, hi in _ORNAMENTS)


def _meant_to_be_read(paragraph: str) -> bool:
    """Whether a paragraph that gives no speech held something a reader sees as content (an
    emoji, a symbol, a letter the normalization lost) rather than a scene break (``* * *``,
    ``❧``) or a note the text cleanup removes on purpose (``[Illustration]``)."""
    for ch in clean(paragraph):
        category = unicodedata.category(ch)
        if category[0] in "LNM" or (category in ("So", "Sc") and not _is_ornament(ch)):
            return True
    return False


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def unspoken_content(chapters: Sequence[Chapter], language: str, *, speak_titles: bool) -> list[str]:
    """Warnings, before rendering, about text that :func:`write_script` would leave unspoken.

    One line per chapter that would be delivered with no speech at all (its title is not
    spoken and none of its paragraphs has anything to say: left out), and one per
    chapter that loses paragraphs with something a reader sees in them but nothing to say
    (an emoji, a symbol), with the count and a short example. Scene breaks (``* * *``) and
    notes (``[Illustration]``) are expected to be silent and only count towards a chapter with
    no speech. A paragraph is unspoken here exactly when :func:`write_script` gives it no
    utterance: both use the same normalization (:func:`castline.text.has_speech`). Costs
    about what normalizing the first sentence of every paragraph costs.
    """
    warnings: list[str] = []
    for position, chapter in enumerate(chapters, 1):
        title_spoken = speak_titles and bool(script_title(chapter.title, language, 10_000))
        silent = [p for p in chapter.paragraphs if not has_speech(p, language)]
        noticed = [p for p in silent if _meant_to_be_read(p)]
        label = _label(chapter, position)
        if not title_spoken and len(silent) == len(chapter.paragraphs):
            title = "titles are not spoken" if not speak_titles else "its title has nothing to say"
            if not chapter.paragraphs:
                body = "it has no text"
            elif len(silent) == 1:
                body = f"its paragraph has nothing to say: {_quote(silent[0])}"
            else:
                body = f"its {len(silent)} paragraphs have nothing to say, e.g. {_quote((noticed or silent)[0])}"
            warnings.append(f"{label}: nothing to speak, so it is left out of the audiobook ({title}; {body})")
        elif noticed:
            count = _plural(len(noticed), "paragraph has", "paragraphs have")
            verb = "is" if len(noticed) == 1 else "are"
            warnings.append(f"{label}: {count} nothing to speak and {verb} left out (e.g. {_quote(noticed[0])})")
    return warnings


_SAMPLE_LETTERS = 20_000
_SAMPLE_PARAGRAPHS = 200
_MIN_LETTERS = 50
_MINOR_SHARE = 0.2
"""A script with less than this share of the letters is not named in the warning."""


def _sample(chapters: Sequence[Chapter]) -> Iterator[str]:
    """Up to :data:`_SAMPLE_PARAGRAPHS` paragraphs spread evenly over ``chapters``, each cut to
    its share of :data:`_SAMPLE_LETTERS` characters."""
    total = sum(len(c.paragraphs) for c in chapters)
    if not total:
        return
    wanted = min(total, _SAMPLE_PARAGRAPHS)
    share = max(100, _SAMPLE_LETTERS // wanted)
    picks = iter(sorted({i * total // wanted for i in range(wanted)}))
    pick = next(picks)
    seen = 0
    for chapter in chapters:
        while pick < seen + len(chapter.paragraphs):
            yield chapter.paragraphs[pick - seen][:share]
            pick = next(picks, total)
        seen += len(chapter.paragraphs)


def language_mismatch(book_language: str | None, chapters: Sequence[Chapter], language: str) -> list[str]:
    """Warnings, before rendering, when the book does not look like it is in ``language``.

    - the book's own ``dc:language`` (:attr:`~castline.model.Book.language`) names another
      primary language: ``the book says it is in 'ru' (dc:language) but is read as 'en'``;
    - most letters of the text are in scripts that ``language`` is not written in (a sample of
      at most 20,000 letters from paragraphs spread over ``chapters``): ``most of the text is
      in Cyrillic script, which 'en' voices do not read``. Languages without an entry in
      :data:`castline.text.scripts.LANGUAGE_SCRIPTS` get no script check.

    Takes milliseconds, whatever the length of the book.
    """
    warnings: list[str] = []
    declared, wanted = language_name(book_language), language_name(language)
    if declared and wanted and declared != wanted:
        warnings.append(f"the book says it is in {(book_language or '').strip()!r} (dc:language) but is read as {language!r}")
    expected = expected_scripts(language)
    if expected is None:
        return warnings
    counts = script_counts(_sample(chapters), _SAMPLE_LETTERS)
    letters = sum(counts.values())
    foreign = {script: n for script, n in counts.items() if script not in expected}
    if letters >= _MIN_LETTERS and sum(foreign.values()) * 2 > letters:
        named = [s for s, n in sorted(foreign.items(), key=lambda item: -item[1]) if s and n >= _MINOR_SHARE * letters]
        scripts = " and ".join(named[:3]) or "other"
        noun = "scripts" if len(named) > 1 else "script"
        warnings.append(f"most of the text is in {scripts} {noun}, which {language!r} voices do not read")
    return warnings
