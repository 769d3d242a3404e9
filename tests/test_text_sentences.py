"""castline.text sentences: split_sentences, split_long and script_paragraph."""

from __future__ import annotations

import random
import re
import time
import unicodedata
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
def run_around(text: str, index: int) -> str:
    """The run of non-space characters that the position ``index`` lies in (or touches)."""
    start, end = index, index
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[start:end]


def assert_good_pieces(sentence: str, pieces: list[str], max_chars: int) -> None:
    """Pieces re-join to the sentence, fit, and are cut inside a word only when it is longer
    than ``max_chars`` (then never between a letter and its combining marks)."""
    starts = assert_slices_in_order(sentence.strip(), pieces)
    text = sentence.strip()
    for piece, start in zip(pieces, starts):
        assert len(piece) <= max_chars, piece
        if start > 0:
            before, after = text[start - 1], text[start]
            cut_ok = before.isspace() or before in "—–―、，,。！？」』" or CJK.match(before) or CJK.match(after)
            if not cut_ok:
                assert len(run_around(text, start)) > max_chars, (text[:start], text[start:])
                assert unicodedata.category(after)[0] != "M", (text[:start], text[start:])


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


def test_word_longer_than_limit_is_cut_evenly() -> None:
    sentence = "a supercalifragilisticexpialidocious word"
    pieces = split_long(sentence, 10)
    assert_good_pieces(sentence, pieces, 10)
    assert "".join(pieces[1:-1]) == "supercalifragilisticexpialidocious" and pieces[-1] == "word"
    assert len(pieces) == 6  # "a" and "word" alone, the long word in four


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
    assert squash("".join(pieces)) == squash(sentence)
    if not CJK.search(sentence) and max(map(len, sentence.split())) <= max_chars:
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


# --- any input fits the engine's limit ------------------------------------------------------------
def test_an_unbroken_60000_character_word_is_cut_to_the_limit() -> None:
    """Hostile review: one 60,000-letter "word" reached the engine whole (onnxruntime ran out of
    memory). It is cut between characters into even pieces of at most max_chars."""
    word = "a" * 60_000
    started = time.perf_counter()
    utterances = script_paragraph(word, "en", 400)
    assert time.perf_counter() - started < 5
    assert all(len(u) <= 400 for u in utterances) and "".join(utterances) == word
    assert len(utterances) == 150 and min(map(len, utterances)) >= 350
    assert all(len(p) <= 400 for p in split_long(word, 400))


def test_a_run_without_spaces_is_cut_after_its_punctuation_first() -> None:
    run = ",".join(["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"])
    pieces = split_long(f"He wrote {run} and left.", 30)
    assert_good_pieces(f"He wrote {run} and left.", pieces, 30)
    assert pieces[0] == "He wrote" and pieces[-1] == "and left."
    assert all(p.endswith(",") for p in pieces[1:-2])  # cut after commas, not inside names
    assert "".join(pieces[1:-1]) == run


@pytest.mark.parametrize(
    ("unit", "max_chars"),
    [
        ("a\u0301", 21),  # a letter and its combining accent
        ("e\u0308\u0301", 20),
        ("\U0001f469\u200d\U0001f469\u200d\U0001f467", 19),  # a ZWJ family emoji
        ("\U0001f44d\U0001f3fd", 21),  # an emoji with a skin-tone modifier
        ("\U0001f1ef\U0001f1f5", 21),  # a flag: two regional indicators
        ("\u2764\ufe0f", 21),  # a variation selector
        ("\ud83d\ude42", 21),  # a surrogate pair (text decoded with surrogatepass)
        ("\u1100\u1161\u11a8", 20),  # a Hangul syllable in jamo
    ],
)
def test_hard_cuts_fall_between_grapheme_clusters(unit: str, max_chars: int) -> None:
    text = unit * 100
    pieces = split_long(text, max_chars)
    assert "".join(pieces) == text
    assert all(len(p) <= max_chars and len(p) % len(unit) == 0 for p in pieces), [len(p) for p in pieces]


def test_a_cluster_longer_than_the_limit_is_cut_between_code_points() -> None:
    text = "a" + "\u0301" * 50  # nothing else can keep each piece within 20 characters
    pieces = split_long(text, 20)
    assert "".join(pieces) == text and all(len(p) <= 20 for p in pieces)


def test_a_long_cjk_sentence_without_punctuation_is_fast() -> None:
    text = "住み" * 30_000
    started = time.perf_counter()
    pieces = split_long(text, 400, "ja")
    assert time.perf_counter() - started < 3  # was 4 s: a cut offered between every two characters
    assert "".join(pieces) == text and all(len(p) <= 400 for p in pieces)


@pytest.mark.parametrize(("mark", "count", "after"), [
    ("!", 3000, "x"), ("?", 3000, "x"), (".", 3000, "x"), ("…", 3000, "x"), ("?!", 1500, "x"), ("。", 30_000, "と"),
])  # fmt: skip
def test_long_runs_of_sentence_marks_split_in_linear_time(mark: str, count: int, after: str) -> None:
    """Property tests found it: 1,000 "!" not followed by a space took 9 s in split_sentences
    (the terminator pattern tried every shorter run: cubic time; 3,000 would take minutes), and
    20,000 "。" before "と" took 4 s (quadratic)."""
    paragraph = "Oh" + mark * count + after + " and more words"
    started = time.perf_counter()
    sentences = split_sentences(paragraph, "ja" if mark == "。" else "en")
    assert time.perf_counter() - started < 2
    assert squash("".join(sentences)) == squash(paragraph)
    assert script_paragraph(paragraph, "en", 50)


@pytest.mark.parametrize("closer", ['"', "\u201d", "\u00bb", ")"])
def test_long_runs_of_closing_quotes_split_in_linear_time(closer: str) -> None:
    """Property tests found it: each cut looked back over every closing quote before it."""
    text = "x " + closer * 20_000 + "x end"
    started = time.perf_counter()
    pieces = split_long(text, 50)
    assert time.perf_counter() - started < 2
    assert squash("".join(pieces)) == squash(text) and all(len(p) <= 50 for p in pieces)


def test_spaced_ellipsis_before_a_word_is_not_cut_short() -> None:
    assert split_sentences("It ended. . . . Then silence.") == ["It ended. . . .", "Then silence."]
    assert split_sentences("Wait. . .what?") == ["Wait. . .what?"]
