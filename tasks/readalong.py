"""The read-along: the book and its narration in sync, from the same render.

- ``<name> - Read-Along.epub``: the source book as an EPUB 3 with Media Overlays. Each
  sentence the narration reads is wrapped in a ``<span id>`` in the book's own XHTML, its text
  unchanged (:mod:`tasks.text_spans`), and timed in a SMIL document per content document
  (:mod:`tasks.media_overlays`) against the chapter MP3s, which the EPUB holds. Only an EPUB 3
  source can be made one (an EPUB 2 has no Media Overlays).
- ``vtt/NN - Title.vtt``: a WebVTT file per chapter MP3, a cue per sentence with the book's
  text (the spoken text for titles and credits, which the book does not have in those words).

The timings are the chapter's layout: where each take's speech begins and ends in the mastered
chapter (:attr:`~tasks.chapters.MasteredChapter.clips_s`). A sentence cut into several takes
for the engine runs from the first one's beginning to the last one's end; a chapter's spoken
title highlights the heading it starts with, where it has one. Each utterance knows
its sentence's place in its chapter's paragraphs (:attr:`~castline.model.Utterance.paragraph`);
each paragraph is found again among the blocks of the book's documents from where its chapter
starts (:attr:`~castline.model.Chapter.href`), block by block.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

import pysubs2
from lxml import etree

from castline.digest import digest, file_sha256
from castline.errors import EpubError
from castline.model import Chapter, Seconds, Utterance
from castline.tempfiles import atomic_path
from tasks.chapters import ClipSpans, MasteredChapter
from tasks.deliverables import Deliverable, chapter_mp3s
from tasks.ingest.epub_layout import Stream
from tasks.ingest.epub_package import load_package
from tasks.ingest.epub_text import extract_text
from tasks.ingest.safexml import parse_xml
from tasks.ingest.safezip import SafeZip, ZipLimits
from tasks.media_overlays import Clip, Overlay, add_overlays, smil_document
from tasks.publish import Staging, safe_filename
from tasks.text_spans import Ids, wrap_stretches

__all__ = [
    "TimedSentence", "timed_sentences", "readalong_name", "vtt_name", "write_vtt", "write_readalong_epub", "readalong_key",
    "readalong_contents", "write_readalong",
]

FOLDER = "castline-readalong"
"""Where the SMIL and audio files go in the EPUB, beside the package document."""
_SEARCH_BLOCKS = 2000
"""How far past the last paragraph found the next one is looked for."""


@dataclass(frozen=True)
class TimedSentence:
    """A sentence as the narration reads it, and when, in its chapter's audio."""

    chapter_id: str
    paragraph: int | None
    """Index in the chapter's paragraphs; None for text that is not the book's (a title, the credits)."""
    start: int
    end: int
    """Characters of that paragraph (0, 0 where there is none)."""
    begin_s: Seconds
    end_s: Seconds
    text: str
    """The book's text of the sentence (the spoken text where the book has none)."""


def timed_sentences(
    chapters: Sequence[Chapter], script: Sequence[Utterance], clips: Mapping[str, ClipSpans]
) -> dict[str, list[TimedSentence]]:
    """The sentences of each chapter with ``clips`` (its takes' spans, in script order), in order."""
    by_id = {c.id: c for c in chapters}
    utterances: dict[str, list[Utterance]] = {}
    for u in script:
        utterances.setdefault(u.chapter, []).append(u)
    out: dict[str, list[TimedSentence]] = {}
    for chapter_id, spans in clips.items():
        said = utterances.get(chapter_id, [])
        if len(said) != len(spans):
            raise ValueError(f"chapter {chapter_id} has {len(said)} utterances but {len(spans)} takes laid out")
        sentences: list[TimedSentence] = []
        for u, (begin_s, end_s) in zip(said, spans):
            where = (u.paragraph, u.sentence_start or 0, u.sentence_end or 0)
            last = sentences[-1] if sentences else None
            if u.paragraph is not None and last is not None and (last.paragraph, last.start, last.end) == where:
                sentences[-1] = replace(last, end_s=end_s)  # one sentence, cut into several takes
                continue
            text = by_id[chapter_id].paragraphs[u.paragraph][where[1] : where[2]] if u.paragraph is not None else u.text
            sentences.append(TimedSentence(chapter_id, *where, begin_s, end_s, text))
        out[chapter_id] = [s for s in sentences if s.end_s > s.begin_s]  # a silent take has no clip to time
    return out


def readalong_name(stem: str) -> str:
    """The read-along EPUB's file name, for the (file-system safe) ``stem``."""
    return f"{stem} - Read-Along.epub"


def vtt_name(mp3_name: str) -> str:
    """The WebVTT file beside a chapter MP3: ``mp3/03 - Title.mp3`` -> ``vtt/03 - Title.vtt``."""
    return f"vtt/{PurePosixPath(mp3_name).stem}.vtt"


def _cue_text(text: str) -> str:
    """Cue text as WebVTT reads it: ``&``, ``<`` and ``>`` escaped (so ``-->`` cannot occur)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "\\N")


def write_vtt(sentences: Sequence[TimedSentence], path: Path) -> None:
    """One chapter's sentences as WebVTT cues, written to a temporary file and renamed."""
    subs = pysubs2.SSAFile()
    for s in sentences:
        subs.append(pysubs2.SSAEvent(start=round(s.begin_s * 1000), end=round(s.end_s * 1000), text=_cue_text(s.text)))
    with atomic_path(path) as temporary:
        temporary.write_text(subs.to_string("vtt"), encoding="utf-8")


TITLE = -1
"""The paragraph index :func:`_places` gives a chapter's heading, which its spoken title highlights."""


def _places(stream: Stream, chapters: Sequence[Chapter]) -> dict[tuple[str, int], int]:
    """``(chapter id, paragraph index)`` -> index of the block it is in the stream, for every
    paragraph of the book's own chapters found again (the credits have no place), and
    ``(chapter id, TITLE)`` -> the heading a chapter whose title is spoken starts with."""
    places: dict[tuple[str, int], int] = {}
    cursor = 0
    for chapter in chapters:
        if not chapter.href:
            continue
        path, _, fragment = chapter.href.partition("#")
        pos, _ = stream.position(path, fragment)
        cursor = max(cursor, pos or 0)
        if chapter.speak_title and cursor < len(stream.blocks) and stream.blocks[cursor].heading:
            places[(chapter.id, TITLE)] = cursor
        for n, paragraph in enumerate(chapter.paragraphs):
            for b in range(cursor, min(len(stream.blocks), cursor + _SEARCH_BLOCKS)):
                text = stream.blocks[b].text
                if text == paragraph or text.replace("\n", " ") == paragraph:
                    places[(chapter.id, n)] = b
                    cursor = b + 1
                    break
    return places


@dataclass(frozen=True)
class _Read:
    """A sentence placed in the book: its document, block, characters, and audio."""

    path: str
    block: int
    start: int
    end: int
    sentence: TimedSentence
    audio: str


def _placed(stream: Stream, chapters: Sequence[Chapter], sentences: Mapping[str, list[TimedSentence]],
            audio: Mapping[str, str]) -> Iterator[_Read]:
    places = _places(stream, chapters)
    for chapter in chapters:
        for s in sentences.get(chapter.id, []):
            b = places.get((chapter.id, TITLE if s.paragraph is None else s.paragraph))
            if b is not None:
                path = stream.block_docs[b]
                start, end = (s.start, s.end) if s.paragraph is not None else (0, len(stream.blocks[b].text))
                yield _Read(path, b - stream.starts[path], start, end, s, audio[chapter.id])


def _clips(reads: Sequence[_Read], found: Mapping[int, str]) -> tuple[Clip, ...]:
    """A clip per highlight, in text order: ``found`` is the id that highlights each of ``reads``."""
    clips: list[Clip] = []
    for i, r in enumerate(reads):
        if i not in found:
            continue
        if clips and clips[-1].text_id == found[i] and clips[-1].audio_path == r.audio:
            clips[-1] = replace(clips[-1], end_s=r.sentence.end_s)  # sentences that share a highlight
        else:
            clips.append(Clip(found[i], r.audio, r.sentence.begin_s, r.sentence.end_s))
    return tuple(clips)


def write_readalong_epub(
    source: Path, chapters: Sequence[Chapter], sentences: Mapping[str, list[TimedSentence]],
    audio: Sequence[tuple[str, Path]], target: Path, limits: ZipLimits = ZipLimits(),
) -> list[str]:
    """The read-along EPUB of ``source`` (an EPUB 3) at ``target``: ``sentences`` by chapter,
    ``audio`` the chapter MP3s, ``(chapter id, file)`` in book order. Written to a temporary
    file and renamed; returns warnings (sentences not found in the book)."""
    with SafeZip(source, limits, EpubError, kind="an EPUB") as archive:
        package, parsed = load_package(archive)
        if not package.version.startswith("3"):
            raise EpubError(source, f"an EPUB {package.version or '2'} has no Media Overlays: the read-along needs an EPUB 3")
        opf = parse_xml(archive.read(package.opf_path), strict=True).root
        base = PurePosixPath(package.opf_path).parent
        stored = {chapter_id: str(base / FOLDER / "audio" / f"{n:03d}.mp3") for n, (chapter_id, _) in enumerate(audio, 1)}
        stream = Stream.build(package, parsed)
        by_doc: dict[str, list[_Read]] = {}
        for read in _placed(stream, chapters, sentences, stored):
            by_doc.setdefault(read.path, []).append(read)
        overlays: list[Overlay] = []
        documents: dict[str, bytes] = {}
        for n, (path, reads) in enumerate(by_doc.items(), 1):
            root = parsed[path].root
            tracked = extract_text(path, root, track=True)  # a document at a time: a character's origin is not small
            found = wrap_stretches(tracked, [(r.block, r.start, r.end, i) for i, r in enumerate(reads)],
                                   Ids.of(root))
            item = package.item_at(path)
            assert item is not None
            overlays.append(Overlay(item.id, path, f"castline-mo{n}", str(base / FOLDER / f"{n:03d}.smil"), _clips(reads, found)))
            documents[path] = etree.tostring(root.getroottree(), xml_declaration=True, encoding="utf-8")
        heard = {c.audio_path for o in overlays for c in o.clips}  # the credits' audio times no text of the book
        inside = [(chapter_id, mp3) for chapter_id, mp3 in audio if stored[chapter_id] in heard]
        replaced = add_overlays(opf, package.opf_path, overlays,
                                [(f"castline-audio{n}", stored[c]) for n, (c, _) in enumerate(inside, 1)])
        documents[package.opf_path] = etree.tostring(opf.getroottree(), xml_declaration=True, encoding="utf-8")
        documents |= {o.smil_path: smil_document(o) for o in overlays}
        with atomic_path(target) as temporary, zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as epub:
            epub.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", compress_type=zipfile.ZIP_STORED)
            for name in archive.names:
                if name != "mimetype" and name not in replaced:
                    epub.writestr(name, documents.pop(name) if name in documents else archive.read(name))
            for name, data in documents.items():
                epub.writestr(name, data)
            for chapter_id, mp3 in inside:
                epub.write(mp3, stored[chapter_id], compress_type=zipfile.ZIP_STORED)
    wanted = sum(s.paragraph is not None for v in sentences.values() for s in v)
    missed = wanted - sum(r.sentence.paragraph is not None for reads in by_doc.values() for r in reads)
    notes = [f"{target.name}: {missed} of {wanted} sentences were not found in {source.name}'s documents, and are not highlighted"] \
        if missed else []
    if replaced:
        notes.append(f"{target.name}: {source.name}'s own {len(replaced)} Media Overlay documents are replaced by the narration's")
    return notes


def readalong_key(source: Path, script: Sequence[Utterance]) -> str:
    """What the read-along is made of besides the chapter MP3s: the book (by its SHA-256) and
    where each utterance's sentence lies in it."""
    return digest([file_sha256(source), [(u.chapter, u.paragraph, u.sentence_start, u.sentence_end, u.text) for u in script]])


def readalong_contents(stem: str, deliverables: Sequence[Deliverable], key: str, *, epub: bool) -> dict[str, str]:
    """Every file of the read-along (path in the output directory) -> the digest of its content:
    a WebVTT file per chapter MP3 and, with ``epub``, the EPUB."""
    mp3s = chapter_mp3s(deliverables)
    out = {vtt_name(d.name): digest([d.content, key, "vtt"]) for d in mp3s}
    if epub:
        out[readalong_name(safe_filename(stem))] = digest([[d.content for d in mp3s], key, "epub"])
    return out


def write_readalong(
    staging: Staging, contents: Mapping[str, str], source: Path, chapters: Sequence[Chapter],
    sentences: Mapping[str, list[TimedSentence]], mastered: Sequence[MasteredChapter], deliverables: Sequence[Deliverable],
) -> list[str]:
    """Make the read-along's ``contents`` into ``staging``; returns warnings."""
    mp3s = chapter_mp3s(deliverables)
    chapter_of = {vtt_name(d.name): c.chapter_id for d, c in zip(mp3s, mastered)}
    notes: list[str] = []
    for name, content in contents.items():
        target = staging.path(name, content)
        if name in chapter_of:
            write_vtt(sentences[chapter_of[name]], target)
        else:
            audio = [(c.chapter_id, staging.current(d.name)) for d, c in zip(mp3s, mastered)]
            notes += write_readalong_epub(source, chapters, sentences, audio, target)
    return notes
