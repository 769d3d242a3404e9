"""Front, body or back matter: classifying the chapters of a book.

The signals, strongest first:

1. Project Gutenberg markers: the header before ``*** START OF ...`` is front matter, the licence
   after ``*** END OF ...`` (and everything after it) is back matter.
2. Explicit partitions in the content: ``epub:type`` ``frontmatter``/``bodymatter``/``backmatter``
   on the chapter's element or its ancestors (the nearest one wins).
3. Landmarks and the EPUB2 guide pointing at the chapter itself.
4. Position relative to the ``bodymatter`` and ``backmatter`` landmarks.
5. Specific semantics in the content (``titlepage``, ``copyright-page``, ``colophon``,
   ``endnotes``, ``chapter``...; the outermost one wins).
6. Title keywords, in English and French (``Copyright``, ``Table des matières``, ``Notes``...),
   and a title equal to the book's title on a short chapter (a title page).
7. Short chapters (under :data:`SHORT_WORDS` words) before the first chapter known to be body
   matter (by the signals above, or a title like ``Chapter 3``, ``IV—...``, ``第三章``) are front
   matter; everything else defaults to body.

Then the result is made consistent with reading order: front matter found after the last body
chapter is back matter (a copyright page at the end), back matter before the first body chapter
is front matter. Dedications and epigraphs at the start of the book count as front matter;
forewords, prefaces and introductions count as body unless the book itself marks them as front
matter or they are short and come before the first chapter (they are often the author's own text).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from castline.model import Matter

__all__ = ["ChapterFacts", "LandmarkAt", "classify", "is_notes", "norm_title", "partition_of", "SHORT_WORDS"]

SHORT_WORDS = 300
"""Below this many words, an unclassified chapter before the body is taken for front matter."""

_PARTITIONS: dict[str, Matter] = {"frontmatter": "front", "bodymatter": "body", "backmatter": "back"}
_FRONT_TYPES = frozenset(
    "cover titlepage halftitlepage copyright-page seriespage imprint imprimatur contributors "
    "other-credits errata dedication revision-history toc toc-brief landmarks loa loi lot lov "
    "epigraph preamble abstract frontispiece acknowledgments".split()
)
_BACK_TYPES = frozenset(
    "colophon credits appendix bibliography glossary index endnotes footnotes rearnotes keywords".split()
)
_BODY_TYPES = frozenset("chapter part volume subchapter division prologue epilogue conclusion afterword".split())
NOTE_SECTION_TYPES = frozenset({"endnotes", "footnotes", "rearnotes", "notes"})

_FRONT_TITLE_RE = re.compile(
    r"^(?:(?:the )?(?:front )?cover|couverture|(?:half )?title ?page|half title|page de (?:titre|garde)"
    r"|faux titre|copyright\b.*|imprint|mentions legales|(?:table of )?contents|table des matieres"
    r"|sommaire|dedication|dedicace|epigraphs?|epigraphes?|also by\b.*|by the same author|du meme auteur"
    r"|other (?:books|works|titles) by\b.*|list of (?:illustrations|plates)|liste des illustrations"
    r"|illustrations|frontispiece|frontispice|transcriber s notes?|note du transcripteur)$"
)
_BACK_TITLE_RE = re.compile(
    r"^(?:colophon|acheve d imprimer|uncopyright|(?:the )?(?:full )?(?:project gutenberg )?licen[cs]e\b.*"
    r"|project gutenberg\b.*|(?:end|foot|rear)?notes(?: (?:on|to|for|de|du|sur)\b.*)?|notes de fin"
    r"|index|glossary|glossaire|bibliograph(?:y|ie)|about the authors?|a propos de l auteur"
    r"|about the (?:publisher|translator|editor)|acknowledge?ments|remerciements|credits)$"
)
_NOTES_TITLE_RE = re.compile(r"^(?:(?:end|foot|rear)?notes(?: (?:on|to|for|de|du|sur)\b.*)?|notes de fin)$")
_ROMAN = r"(?=[mdclxvi])m*(?:c[md]|d?c{0,3})(?:x[cl]|l?x{0,3})(?:i[xv]|v?i{0,3})(?![^\W_])"
"""A whole word that is a Roman numeral (lower case)."""
_CHAPTER_TITLE_RE = re.compile(
    r"^(?:chapter|chap|chapitre|part|partie|book|livre|volume|tome|section|canto|act|acte|scene"
    r"|letter|lettre|stave|episode|prologue|epilogue)\b"
    rf"|^{_ROMAN}|^\d+\b|^第?[一二三四五六七八九十百千〇零0-9]+[章話回部編巻]?$"
)


@dataclass(frozen=True)
class ChapterFacts:
    """What classification looks at for one chapter."""

    title: str
    pos: int
    """Index of the chapter's first block in the book's block stream."""
    words: int
    types: tuple[frozenset[str], ...] = ()
    """Semantics at the chapter's start: its element and ancestors, outermost first."""
    path: str = ""
    fragment: str = ""
    kind: str = "toc"
    """``toc``, ``lead`` (text before the first TOC entry), ``pg-header``, ``pg-licence``,
    ``heading`` or ``document`` (fallbacks when the book has no usable TOC)."""
    after_pg_end: bool = False


@dataclass(frozen=True)
class LandmarkAt:
    """A landmark or guide reference resolved to a block position (None when outside the text)."""

    types: frozenset[str]
    path: str
    fragment: str
    pos: int | None
    from_guide: bool = False


def norm_title(text: str) -> str:
    """Lower case, accents and punctuation removed, single spaces: for keyword matching."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(re.findall(r"\w+", plain))


def is_notes(facts: ChapterFacts) -> bool:
    """Whether the chapter is a notes section (its note bodies are its text, not asides)."""
    if any(types & NOTE_SECTION_TYPES for types in facts.types):
        return True
    return _NOTES_TITLE_RE.match(norm_title(facts.title)) is not None


def _partition(types: tuple[frozenset[str], ...]) -> Matter | None:
    for layer in reversed(types):
        for token, matter in _PARTITIONS.items():
            if token in layer:
                return matter
    return None


def _specific(types: frozenset[str] | tuple[frozenset[str], ...]) -> Matter | None:
    layers = (types,) if isinstance(types, frozenset) else types
    for layer in layers:
        if layer & _BODY_TYPES:
            return "body"
        if layer & _FRONT_TYPES:
            return "front"
        if layer & _BACK_TYPES:
            return "back"
    return None


def partition_of(types: tuple[frozenset[str], ...]) -> Matter | None:
    """The matter that semantics alone declare (partition first, then specific types), if any."""
    return _partition(types) or _specific(types)


def _by_landmark(facts: ChapterFacts, landmarks: list[LandmarkAt]) -> Matter | None:
    for mark in landmarks:
        if mark.path != facts.path:
            continue
        same = mark.fragment == facts.fragment or (mark.pos is not None and mark.pos == facts.pos)
        if same:
            found = _partition((mark.types,)) or _specific(mark.types)
            if found:
                return found
    return None


def _by_position(facts: ChapterFacts, landmarks: list[LandmarkAt]) -> Matter | None:
    own = [m for m in landmarks if not m.from_guide and m.pos is not None]
    usable = own or [m for m in landmarks if m.pos is not None]
    body = [m.pos for m in usable if "bodymatter" in m.types and m.pos is not None]
    back = [m.pos for m in usable if "backmatter" in m.types and m.pos is not None]
    if body and facts.pos < min(body):
        return "front"
    if back and facts.pos >= min(back) and (not body or min(back) > min(body)):
        return "back"
    return None


def _by_title(facts: ChapterFacts, book_title: str) -> Matter | None:
    title = norm_title(facts.title)
    if _FRONT_TITLE_RE.match(title):
        return "front"
    if _BACK_TITLE_RE.match(title):
        return "back"
    if title and title == norm_title(book_title) and facts.words < SHORT_WORDS:
        return "front"
    return None


def _first_guess(facts: ChapterFacts, landmarks: list[LandmarkAt], book_title: str) -> Matter | None:
    if facts.kind == "pg-header":
        return "front"
    if facts.kind == "pg-licence" or facts.after_pg_end:
        return "back"
    return (
        _partition(facts.types)
        or _by_landmark(facts, landmarks)
        or _by_position(facts, landmarks)
        or _specific(facts.types)
        or _by_title(facts, book_title)
    )


def classify(
    chapters: list[ChapterFacts], landmarks: list[LandmarkAt], book_title: str
) -> tuple[list[Matter], list[str]]:
    """The matter of each chapter (same order), and warnings."""
    guesses = [_first_guess(c, landmarks, book_title) for c in chapters]
    positive = [
        i for i, (c, g) in enumerate(zip(chapters, guesses))
        if g == "body" or (g is None and _CHAPTER_TITLE_RE.search(norm_title(c.title)))
    ]
    first_body = positive[0] if positive else -1  # nothing is known to be body: no "before the body"
    out: list[Matter] = []
    for i, (facts, guess) in enumerate(zip(chapters, guesses)):
        if guess is None:
            guess = "front" if i < first_body and facts.words < SHORT_WORDS else "body"
        out.append(guess)
    return _consistent(chapters, out)


def _consistent(chapters: list[ChapterFacts], matters: list[Matter]) -> tuple[list[Matter], list[str]]:
    body = [i for i, m in enumerate(matters) if m == "body"]
    warnings: list[str] = []
    if not body:
        readable = [i for i, c in enumerate(chapters) if c.words > 0 and c.kind not in ("pg-header", "pg-licence")]
        if readable:
            warnings.append("no body matter found; every chapter with text is read as body")
            for i in readable:
                matters[i] = "body"
        return matters, warnings
    for i, matter in enumerate(matters):
        if matter == "front" and i > body[-1]:
            matters[i] = "back"
        elif matter == "back" and i < body[0]:
            matters[i] = "front"
    return matters, warnings
