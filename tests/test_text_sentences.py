"""castline.text sentences: split_sentences, split_long and script_paragraph."""

from __future__ import annotations

import random
import re
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from castline.text import script_paragraph, split_long, split_sentences

DATA = Path(__file__).parent / "data"
CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def assert_slices_in_order(whole: str, parts: list[str]) -> list[int]:
    """Each part is found in ``whole`` after the previous one with only whitespace between,
    and they cover all of its non-space text. Returns where each part starts."""
    position, starts = 0, []
    for part in parts:
        assert part == part.strip() and part
        found = whole.find(part, position)
        assert found >= 0 and not whole[position:found].strip(), (part, whole[position:found])
        starts.append(found)
        position = found + len(part)
    assert not whole[position:].strip()
    return starts


# --- split_sentences ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("paragraph", "sentences"),
    [
        ('"Stop!" she cried.', ['"Stop!" she cried.']),
        ('"Stop!" She ran.', ['"Stop!"', "She ran."]),
        ("Mr. Smith met Dr. Watson at St. Paul's.", ["Mr. Smith met Dr. Watson at St. Paul's."]),
        ("J. R. R. Tolkien wrote it. Then he slept.", ["J. R. R. Tolkien wrote it.", "Then he slept."]),
        ("Pi is 3.14 exactly. Is it?", ["Pi is 3.14 exactly.", "Is it?"]),
        ("See e.g. the index, i.e. the end. Next.", ["See e.g. the index, i.e. the end.", "Next."]),
        ("Well... I suppose so.", ["Well... I suppose so."]),
        ("He waited… and waited.", ["He waited… and waited."]),
        ("Well... Maybe not.", ["Well...", "Maybe not."]),
        ("What?! Really?? Yes!", ["What?!", "Really??", "Yes!"]),
        ('He said "Go." Then he left.', ['He said "Go."', "Then he left."]),
        ("(It was late.) We left.", ["(It was late.)", "We left."]),
        ("It was No. 5 in the row. No. You are wrong.", ["It was No. 5 in the row.", "No.", "You are wrong."]),
        ("He lived on Baker St. The house was old.", ["He lived on Baker St.", "The house was old."]),
        ("He lived on Baker St. Paul's was near.", ["He lived on Baker St. Paul's was near."]),
        ("The U.S. Army marched. Then it stopped.", ["The U.S. Army marched.", "Then it stopped."]),
        ("He was born in 1850. 1851 was worse.", ["He was born in 1850.", "1851 was worse."]),
        ("See p. 42 for more.", ["See p. 42 for more."]),
        ("So did I. Then we left.", ["So did I.", "Then we left."]),
        ("Line one,\nline two\nline three.", ["Line one,", "line two", "line three."]),
        ("One.\r\n\r\nTwo.", ["One.", "Two."]),
        ("—Oui, dit-il. —Non.", ["—Oui, dit-il.", "—Non."]),
        ("It ended. . . . Then silence.", ["It ended. . . .", "Then silence."]),
        ("", []),
        ("   \n  ", []),
        ("no terminator at all", ["no terminator at all"]),
    ],
)
def test_split_sentences(paragraph: str, sentences: list[str]) -> None:
    assert split_sentences(paragraph) == sentences


@pytest.mark.parametrize(
    ("paragraph", "language", "sentences"),
    [
        (
            "M. Dupont arrive. Mme Durand aussi ! Quoi ? — Oui. Il dit : « Viens. » Puis il part…",
            "fr",
            ["M. Dupont arrive.", "Mme Durand aussi !", "Quoi ?", "— Oui.", "Il dit : « Viens. »", "Puis il part…"],
        ),
        (
            "「はい。」と言った。次の文！そして？最後",
            "ja",
            ["「はい。」と言った。", "次の文！", "そして？", "最後"],
        ),
        (
            "「行くぞ！」「待って。」彼は走った。",
            "ja",
            ["「行くぞ！」", "「待って。」", "彼は走った。"],
        ),
        ("我们走吧。好的！你呢？", "zh", ["我们走吧。", "好的！", "你呢？"]),
        ("Herr Dr. Müller kam z.B. um 5 Uhr. Dann ging er.", "de", ["Herr Dr. Müller kam z.B. um 5 Uhr.", "Dann ging er."]),
        ("Am 1. Mai kam er. Es waren 1850. Danach nichts.", "de", ["Am 1. Mai kam er.", "Es waren 1850.", "Danach nichts."]),
        ("On May 1. Then he left.", "en", ["On May 1.", "Then he left."]),
    ],
)
def test_split_sentences_other_languages(paragraph: str, language: str, sentences: list[str]) -> None:
    assert split_sentences(paragraph, language) == sentences


ALICE_FALL = (
    'Down, down, down! Would the fall never come to an end? There was nothing else to do, so '
    'Alice soon began talking to herself. "Dinah\'ll miss me very much to-night, I should think!" '
    '(Dinah was the cat.) "I hope they\'ll remember her saucer of milk at tea-time. Dinah, my '
    'dear, I wish you were down here with me!" Alice felt that she was dozing off, when '
    "suddenly, thump! thump! down she came upon a heap of sticks and dry leaves, and the fall was over."
)
ALICE_RABBIT = (
    "There was nothing so very remarkable in that, nor did Alice think it so very much out of "
    'the way to hear the Rabbit say to itself, "Oh dear! Oh dear! I shall be too late!" But '
    "when the Rabbit actually took a watch out of its waistcoat-pocket and looked at it and then "
    "hurried on, Alice started to her feet."
)
GE_PIRRIP = (
    "I give Pirrip as my father’s family name, on the authority of his tombstone and my "
    "sister\ufeff—Mrs.\u00a0Joe Gargery, who married the blacksmith. As I never saw my father or "
    "my mother, and never saw any likeness of either of them (for their days were long before the "
    "days of photographs), my first fancies regarding what they were like were unreasonably "
    "derived from their tombstones. From the character and turn of the inscription, “Also "
    "Georgiana Wife of the Above,” I drew a childish conclusion that my mother was freckled and sickly."
)
GE_HA = (
    "“Ha!” he muttered then, considering. “Who d’ye live with\ufeff—supposin’ you’re kindly let "
    "to live, which I han’t made up my mind about?”"
)


@pytest.mark.parametrize(
    ("paragraph", "count", "first", "last"),
    [
        (ALICE_FALL, 8, "Down, down, down!", "Alice felt that she was dozing off, when suddenly, thump! thump! down"),
        (ALICE_RABBIT, 4, "There was nothing so very remarkable", "But when the Rabbit"),
        (GE_PIRRIP, 3, "I give Pirrip", "From the character"),
        (GE_HA, 2, "“Ha!” he muttered then, considering.", "“Who d’ye live with"),
    ],
)
def test_real_paragraphs(paragraph: str, count: int, first: str, last: str) -> None:
    sentences = split_sentences(paragraph)
    assert len(sentences) == count, sentences
    assert sentences[0].startswith(first)
    assert sentences[-1].startswith(last)
    assert_slices_in_order(paragraph, sentences)


def test_alice_dialogue_sentences() -> None:
    sentences = split_sentences(ALICE_FALL)
    assert '"Dinah\'ll miss me very much to-night, I should think!"' in sentences
    assert "(Dinah was the cat.)" in sentences
    rabbit = split_sentences(ALICE_RABBIT)
    assert rabbit[0].endswith('to itself, "Oh dear!')
    assert rabbit[1:3] == ["Oh dear!", 'I shall be too late!"']


_PIECES = [
    "Mr.", "Mrs.", "Dr.", "St.", "e.g.", "i.e.", "etc.", "J.", "R.", "3.14", "No.", "5", "word",
    "Alice", "the", "I", "\"Stop!\"", "she", "She", "cried.", "...", "…", "?!", "(note.)", "—",
    "“Hi,”", "’tis", "。", "「はい。」", "と", "\n", "  ", "\t", "U.S.", "a.m.", "»", "«",
]  # fmt: skip


@pytest.mark.parametrize("seed", range(60))
def test_no_text_lost_or_reordered(seed: int) -> None:
    rng = random.Random(seed)
    paragraph = " ".join(rng.choice(_PIECES) for _ in range(rng.randrange(0, 60)))
    sentences = split_sentences(paragraph, rng.choice(["en", "fr", "de", "ja"]))
    assert_slices_in_order(paragraph, sentences)
    assert squash("".join(sentences)) == squash(paragraph)
    if not CJK.search(paragraph):
        assert " ".join(sentences).split() == paragraph.split()
    assert all("\n" not in s for s in sentences)


def test_bundled_epubs_lose_nothing() -> None:
    """Every paragraph of the Alice and Kusamakura test EPUBs splits without loss."""
    for name, language in (
        ("pg19033_alice_epub2.epub", "en"),
        ("idpf_kusamakura_ja_vertical_MISSING-AUDIO_epub3.epub", "ja"),
    ):
        count = 0
        with zipfile.ZipFile(DATA / name) as archive:
            for member in archive.namelist():
                if not member.endswith((".xhtml", ".html", ".htm")):
                    continue
                root = etree.fromstring(archive.read(member), etree.XMLParser(recover=True))
                for element in root.iter("{*}p"):
                    text = "".join(element.itertext())
                    sentences = split_sentences(text, language)
                    assert squash("".join(sentences)) == squash(text)
                    count += len(sentences)
        assert count > 500, name


# --- split_long -------------------------------------------------------------------------------
def assert_good_pieces(sentence: str, pieces: list[str], max_chars: int) -> None:
    """Pieces re-join to the sentence, fit (or are one word) and never cut inside a word."""
    starts = assert_slices_in_order(sentence.strip(), pieces)
    text = sentence.strip()
    for piece, start in zip(pieces, starts):
        assert len(piece) <= max_chars or not re.search(r"\s", piece), piece
        if start > 0:
            before, after = text[start - 1], text[start]
            cut_ok = before.isspace() or before in "—–―、，,。！？」』" or CJK.match(before) or CJK.match(after)
            assert cut_ok, (text[:start], text[start:])


SEMICOLONS = (
    "They first caught crabs and quohogs in the sand; grown bolder, they waded out with nets "
    "for mackerel; more experienced, they pushed off in boats and captured cod; and at last, "
    "launching a navy of great ships on the sea, explored this watery world; put an incessant "
    "belt of circumnavigations round it; peeped in at Behring's Straits; and in all seasons and "
    "all oceans declared everlasting war with the mightiest animated mass that has survived the "
    "flood; most monstrous and most mountainous!"
)


def test_short_sentence_is_one_piece() -> None:
    assert split_long("  Hello there.  ", 20) == ["Hello there."]
    assert split_long("", 20) == []
    assert split_long("   ", 20) == []


def test_prefers_semicolons() -> None:
    pieces = split_long(SEMICOLONS, 200)
    assert_good_pieces(SEMICOLONS, pieces, 200)
    assert len(pieces) == 3
    assert all(p.endswith((";", "!")) for p in pieces)


def test_prefers_commas_to_spaces() -> None:
    sentence = (
        "As I never saw my father or my mother, and never saw any likeness of either of them, "
        "for their days were long before the days of photographs, my first fancies regarding "
        "what they were like were unreasonably derived from their tombstones."
    )
    pieces = split_long(sentence, 120)
    assert_good_pieces(sentence, pieces, 120)
    assert pieces == [
        "As I never saw my father or my mother, and never saw any likeness of either of them,",
        "for their days were long before the days of photographs,",
        "my first fancies regarding what they were like were unreasonably derived from their tombstones.",
    ]


def test_prefers_conjunctions_to_other_spaces() -> None:
    sentence = "the cat sat quietly on the old mat by the fire and the dog slept soundly under the big table"
    pieces = split_long(sentence, 60)
    assert pieces == ["the cat sat quietly on the old mat by the fire", "and the dog slept soundly under the big table"]


def test_dashes_are_clause_boundaries() -> None:
    sentence = "He could not discuss my prospects without having me before him—as it were, to operate upon—and he would drag me up"
    pieces = split_long(sentence, 70)
    assert_good_pieces(sentence, pieces, 70)
    assert pieces[0].endswith("him—")


def test_splits_evenly_without_punctuation() -> None:
    sentence = " ".join(["word"] * 40)  # 199 characters
    pieces = split_long(sentence, 100)
    assert_good_pieces(sentence, pieces, 100)
    assert len(pieces) == 2
    assert abs(len(pieces[0]) - len(pieces[1])) <= 10


def test_word_longer_than_limit_stands_alone() -> None:
    sentence = "a supercalifragilisticexpialidocious word"
    pieces = split_long(sentence, 10)
    assert pieces == ["a", "supercalifragilisticexpialidocious", "word"]


def test_cjk_splits_at_commas_then_characters() -> None:
    sentence = "住みにくき世から、住みにくき煩いを引き抜いて、ありがたい世界をまのあたりに写すのが詩である、画である。"
    pieces = split_long(sentence, 20, "ja")
    assert_good_pieces(sentence, pieces, 20)
    assert pieces[0] == "住みにくき世から、"
    unbroken = "あいうえおかきくけこさしすせそたちつてとなにぬねの"
    pieces = split_long(unbroken, 10, "ja")
    assert "".join(pieces) == unbroken
    assert all(len(p) <= 10 for p in pieces) and len(pieces) == 3


def test_max_chars_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        split_long("text", 0)


@pytest.mark.parametrize("seed", range(60))
def test_split_long_properties(seed: int) -> None:
    rng = random.Random(seed)
    words = ["and", "but", "which", "the", "whale,", "sea;", "Ahab:", "—", "word—word", "a", "tremendously",
             "extraordinary", "I", "“quoted,”", "x" * rng.randrange(1, 30), "住み", "、", "。", "世界を"]  # fmt: skip
    sentence = " ".join(rng.choice(words) for _ in range(rng.randrange(1, 120)))
    max_chars = rng.randrange(1, 160)
    language = rng.choice(["en", "fr", "ja"])
    pieces = split_long(sentence, max_chars, language)
    assert_good_pieces(sentence, pieces, max_chars)
    assert pieces == split_long(sentence, max_chars, language)
    if not CJK.search(sentence):
        assert " ".join(pieces).split() == sentence.split()


# --- script_paragraph ------------------------------------------------------------------------------
def test_script_paragraph_normalizes_and_limits() -> None:
    utterances = script_paragraph(GE_PIRRIP, "en", 120)
    assert utterances[:2] == [
        "I give Pirrip as my father's family name, on the authority of his tombstone and my sister,",
        "Missus Joe Gargery, who married the blacksmith.",
    ]
    assert all(len(u) <= 120 for u in utterances)
    assert "Dinah was the cat." in script_paragraph(ALICE_FALL, "en", 200)


def test_script_paragraph_drops_unspeakable_pieces() -> None:
    assert script_paragraph("* * *", "en", 100) == []
    assert script_paragraph("— … —", "en", 100) == []
    assert script_paragraph("", "en", 100) == []
    assert script_paragraph("In 1865. * * * The end.", "en", 100) == ["In eighteen sixty-five.", "The end."]


def test_script_paragraph_verse_lines() -> None:
    verse = "April is the cruellest month, breeding\nLilacs out of the dead land, mixing\nMemory and desire."
    assert script_paragraph(verse, "en", 200) == [
        "April is the cruellest month, breeding",
        "Lilacs out of the dead land, mixing",
        "Memory and desire.",
    ]


def test_script_paragraph_japanese() -> None:
    paragraph = "世に住むこと20年にして、住むに甲斐ある世と知った。三十の今日はこう思うている。"
    assert script_paragraph(paragraph, "ja", 100) == [
        "世に住むこと二十年にして、住むに甲斐ある世と知った。",
        "三十の今日はこう思うている。",
    ]
