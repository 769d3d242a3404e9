"""Pronunciation lexicons: matching rules, the YAML and PLS readers, an EPUB's own PLS, and
the engines that read phonemes (Piper's IPA, GPT-SoVITS's ARPAbet)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from epub_fixtures import write_epub

from castline.errors import EpubError, InputError, LexiconError
from castline.text import lexicon as lexicon_module
from castline.text.lexicon import (
    MAX_LEXICON_BYTES,
    Lexicon,
    LexiconEntry,
    parse_pls,
    parse_yaml_lexicon,
    read_lexicon,
)
from tasks.ingest.epub import read_epub

PLS_NS = 'xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"'


def entry(grapheme: str, say: str | None = None, **phonemes: str) -> LexiconEntry:
    return LexiconEntry(grapheme, say, phonemes, "test")


def said(lexicon: Lexicon, text: str, alphabet: str | None = None) -> str:
    return lexicon.apply(text, alphabet)[0]


# ---------------------------------------------------------------- matching rules


def test_lexicon_matches_whole_words_only() -> None:
    lx = Lexicon((entry("Ron", "rahn"),))
    assert said(lx, "Ron, Ronald and (Ron).") == "rahn, Ronald and (rahn)."
    assert said(lx, "Ron-like, O'Ron, Ron2 and Ron_x") == "Ron-like, O'Ron, Ron2 and Ron_x"
    assert lx.apply("Ronald", None) == ("Ronald", ())


def test_lexicon_case_rules() -> None:
    lx = Lexicon((entry("reading", "reeding"), entry("Reading", "redding"), entry("Ron", "rahn")))
    assert said(lx, "Reading, reading, READING") == "redding, reeding, reeding"
    assert said(lx, "ron RON Ron") == "ron RON rahn"  # a capital: that exact spelling only
    only_lower = Lexicon((entry("gif", "jif"),))
    assert said(only_lower, "GIF, Gif and gif") == "jif, jif and jif"


def test_lexicon_phrases_longest_first_left_to_right() -> None:
    lx = Lexicon((entry("New York", "noo york"), entry("New York City", "gotham"), entry("York City", "yorkcity")))
    assert said(lx, "New York City and New\n  York.") == "gotham and noo york."
    assert said(lx, "New York Town, York City") == "noo york Town, yorkcity"
    overlapping = Lexicon((entry("a b", "X"), entry("b c", "Y")))
    assert said(overlapping, "a b c") == "X c"  # left to right, no overlap
    assert said(Lexicon((entry("Dr. Who", "doctor who"),)), "Dr. Who? Dr Who.") == "doctor who? Dr Who."


def test_lexicon_possessive_takes_the_entry() -> None:
    lx = Lexicon((entry("Hermione", "her MY oh nee", ipa="hɚmˈaɪəni", arpabet="HH ER0 M AY1 AH0 N IY0"),))
    assert said(lx, "Hermione's wand, Hermione’s cat.") == "her my oh nee's wand, her my oh nee’s cat."
    assert said(lx, "Hermione's wand.", "ipa") == "[[ hɚmˈaɪəniz ]] wand."
    assert said(lx, "Hermione's wand.", "arpabet") == "[[ HH ER0 M AY1 AH0 N IY0 Z ]] wand."
    sounds = Lexicon((entry("Kate", ipa="kˈeɪt", arpabet="K EY1 T"), entry("Rose", ipa="ɹˈoʊz", arpabet="R OW1 Z")))
    assert said(sounds, "Kate's Rose's", "ipa") == "[[ kˈeɪts ]] [[ ɹˈoʊzɪz ]]"
    assert said(sounds, "Kate's Rose's", "arpabet") == "[[ K EY1 T S ]] [[ R OW1 Z AH0 Z ]]"
    own = Lexicon((entry("Hermione's", "hermy's"), entry("Hermione", "her my oh nee")))
    assert said(own, "Hermione's, Hermione") == "hermy's, her my oh nee"
    other = Lexicon((entry("Hermione", sampa='h@"maI@ni'),))
    assert other.apply("Hermione's", "sampa") == ("Hermione's", ())  # no possessive rule for it
    assert said(other, "Hermione", "sampa") == '[[ h@"maI@ni ]]'


def test_lexicon_respelling_or_phonemes_per_alphabet() -> None:
    lx = Lexicon(
        (
            entry("Cheshire", "chesher", ipa="tʃˈɛʃɚ", arpabet="CH EH1 SH ER0"),
            entry("Cheshire Cat", ipa="tʃˈɛʃɚ kˈæt"),
            entry("cat", "kat"),
        )
    )
    text = "The Cheshire Cat grinned."
    assert lx.apply(text, "ipa") == ("The [[ tʃˈɛʃɚ kˈæt ]] grinned.", (lx.entries[1],))
    # no IPA-less usable form of the phrase: the shorter entries inside it apply instead
    assert lx.apply(text, None) == ("The chesher kat grinned.", (lx.entries[0], lx.entries[2]))
    assert said(lx, text, "arpabet") == "The [[ CH EH1 SH ER0 ]] kat grinned."
    assert lx.apply("Cheshire, Cheshire.", None) == ("chesher, chesher.", (lx.entries[0],))
    assert lx.apply("Nothing to say here.", "ipa") == ("Nothing to say here.", ())
    phonemes_only = Lexicon((entry("Cheshire", arpabet="CH EH1 SH ER0"),))
    assert phonemes_only.apply("Cheshire", None) == ("Cheshire", ())
    assert phonemes_only.apply("Cheshire", "ipa") == ("Cheshire", ())


def test_lexicon_shouting_respellings_are_lowered() -> None:
    lx = Lexicon((entry("Siobhan", "shi VAWN"), entry("Ian", "EE an, I think")))
    assert said(lx, "Siobhan and Ian") == "shi vawn and ee an, I think"


def test_lexicon_matches_and_merged() -> None:
    book = Lexicon((entry("Ron", "ron"), entry("Luna", "loona"), entry("Neville", "nevil")))
    mine = Lexicon((entry("Ron", "rahn"), entry("Ginny", "jinny")))
    merged = mine.merged(book)
    assert [e.respelling for e in merged.entries] == ["rahn", "jinny", "loona", "nevil"]
    assert said(merged, "Ron and Luna") == "rahn and loona"
    assert [e.grapheme for e in merged.matches("Luna met Ron, then Luna left; Ronald stayed.")] == ["Luna", "Ron"]
    only_ipa = Lexicon((entry("Luna", ipa="lˈuːnə"),))
    assert only_ipa.matches("Luna") == [only_ipa.entries[0]]  # matches whatever the engine reads


# ---------------------------------------------------------------- YAML


YAML_LEXICON = """\
Hermione: her MY oh nee            # a respelling
Cheshire:
  say: chesher
  ipa: "/tʃˈɛʃɚ/"
  arpabet: "ch eh1 sh er0"
"New   York": noo york
"""


def test_lexicon_yaml_reads_both_forms(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.yaml"
    path.write_text(YAML_LEXICON, encoding="utf-8")
    lx = read_lexicon(path)
    hermione, cheshire, new_york = lx.entries
    assert hermione == LexiconEntry("Hermione", "her MY oh nee", {}, f"{path} line 1")
    assert cheshire.respelling == "chesher" and cheshire.where == f"{path} line 2"
    assert cheshire.phonemes == {"ipa": "tʃˈɛʃɚ", "arpabet": "CH EH1 SH ER0"}
    assert new_york.grapheme == "New York"
    assert said(lx, "In New York, Hermione's cat.", "arpabet") == "In noo york, her my oh nee's cat."
    (tmp_path / "empty.yml").write_text("# nothing yet\n", encoding="utf-8")
    assert read_lexicon(tmp_path / "empty.yml") == Lexicon()


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("Ron: rahn\n'': nothing\n", 2, "an empty word"),
        ("Ron: rahn\nCheshire:\n  say: chesher\n  sey: chesher\n", 4, "unknown key 'sey'"),
        ("Ron: rahn\nCheshire:\n  ipa: 12\n", 3, "12 is int, not text"),
        ("Ron: yes\n", 1, "True is bool, not text (quote it"),
        ("yes: ja\n", 1, "the word True is bool"),
        ("Ron: rahn\nHermione:\n", 2, "'Hermione': no pronunciation"),
        ("Ron: rahn\nHermione: [her, my]\n", 2, "['her', 'my'] is list"),
        ("Ron: rahn\nNew York: a\n'New  York': b\n", 3, "'New York' is given twice (first on line 2)"),
        ("Ron: rahn\nRon: ron\n", 2, "duplicate key 'Ron'"),
        (
            "Ron: rahn\nCheshire:\n  say: chesher\n  arpabet: CH EH SH ER0\n",
            4,
            "'EH' is not an ARPAbet symbol (a vowel takes a stress digit",
        ),
        ("Ron: rahn\nCheshire:\n  arpabet: CH EH1 XX\n", 3, "'XX' is not an ARPAbet symbol"),
        ("Cheshire: {}\n", 1, "give at least one of say, ipa, arpabet"),
        ("Ron: '[[ rahn ]]'\n", 1, "holds a control character or a bracket"),
        ("Ron: '...'\n", 1, "has no letter"),
        ("'...': dots\n", 1, "has no letter or digit"),
        ("- Ron\n", 1, "a lexicon is a YAML mapping"),
        ("Ron: &a rahn\nRonald: *a\n", 2, "aliases (*name) are not allowed"),
    ],
)
def test_lexicon_yaml_errors_name_file_and_line(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = tmp_path / "lexicon.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LexiconError) as caught:
        read_lexicon(path)
    assert isinstance(caught.value, InputError) and caught.value.line == line
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert problem in str(caught.value)


def test_lexicon_size_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * MAX_LEXICON_BYTES + b"\n")
    with pytest.raises(LexiconError, match=f"larger than {MAX_LEXICON_BYTES} bytes"):
        read_lexicon(big)
    with pytest.raises(LexiconError, match="bytes; at most"):
        parse_pls(b"<lexicon/>" + b" " * MAX_LEXICON_BYTES, "big.pls")
    with pytest.raises(LexiconError, match="longer than 200 characters"):
        parse_yaml_lexicon(f"{'a' * 201}: long\n", "long.yaml")
    with pytest.raises(LexiconError, match="longer than 400 characters"):
        parse_yaml_lexicon(f"Ron: {'ra ' * 150}\n", "long.yaml")
    monkeypatch.setattr(lexicon_module, "MAX_ENTRIES", 2)
    with pytest.raises(LexiconError, match="more than 2 entries"):
        parse_yaml_lexicon("a: x\nb: y\nc: z\n", "many.yaml")
    many_pls = (
        f'<lexicon {PLS_NS} version="1.0" alphabet="ipa">'
        + "".join(f"<lexeme><grapheme>w{n}</grapheme><alias>x</alias></lexeme>" for n in range(3))
        + "</lexicon>"
    )
    with pytest.raises(LexiconError, match="more than 2 entries"):
        parse_pls(many_pls.encode(), "many.pls")
    with pytest.raises(LexiconError, match="not found"):
        read_lexicon(tmp_path / "missing.yaml")
    with pytest.raises(LexiconError, match=r"\.yaml/\.yml \(castline\) or \.pls"):
        read_lexicon(tmp_path / "lexicon.txt")


# ---------------------------------------------------------------- W3C PLS


PLS = f"""<?xml version="1.0" encoding="UTF-8"?>
<lexicon version="1.0" {PLS_NS} alphabet="ipa" xml:lang="en-US">
  <lexeme>
    <grapheme>Cheshire</grapheme>
    <phoneme>tʃˈɛʃɚ</phoneme>
    <phoneme alphabet="x-arpabet">CH EH1 SH ER0</phoneme>
  </lexeme>
  <lexeme>
    <grapheme>Hermione</grapheme>
    <grapheme>Hermy</grapheme>
    <alias>her my oh nee</alias>
    <phoneme alphabet="x-sampa">h@"maI@ni</phoneme>
  </lexeme>
  <lexeme>
    <grapheme>read</grapheme>
    <phoneme>ɹˈiːd</phoneme>
    <phoneme prefer="true">ɹˈɛd</phoneme>
  </lexeme>
  <lexeme role="noun"><grapheme>read</grapheme><phoneme>ɹˈiːd</phoneme></lexeme>
</lexicon>
""".encode()


def test_lexicon_pls_is_parsed() -> None:
    lx = parse_pls(PLS, "OEBPS/lexicon.pls")
    cheshire, hermione, hermy, read = lx.entries
    assert cheshire == LexiconEntry("Cheshire", None, {"ipa": "tʃˈɛʃɚ", "arpabet": "CH EH1 SH ER0"}, "OEBPS/lexicon.pls line 3")
    assert hermione.respelling == hermy.respelling == "her my oh nee"
    assert hermione.phonemes == {"x-sampa": 'h@"maI@ni'}  # kept under its own name
    assert read.phonemes == {"ipa": "ɹˈɛd"}  # prefer="true"; the second <lexeme> for "read" is not used
    assert said(lx, "Hermy read about Cheshire.", "ipa") == "her my oh nee [[ ɹˈɛd ]] about [[ tʃˈɛʃɚ ]]."


def test_lexicon_pls_read_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "names.pls"
    path.write_bytes(PLS)
    assert [e.grapheme for e in read_lexicon(path).entries] == ["Cheshire", "Hermione", "Hermy", "read"]
    assert read_lexicon(path).entries[0].where == f"{path} line 3"


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        (
            '<?xml version="1.0"?><!DOCTYPE lexicon [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            f'<lexicon {PLS_NS} version="1.0" alphabet="ipa"><lexeme><grapheme>&lol2;</grapheme>'
            "<alias>x</alias></lexeme></lexicon>",
            "entity declarations are not allowed",
        ),
        (
            '<?xml version="1.0"?><!DOCTYPE lexicon SYSTEM "http://example.com/pls.dtd">'
            f'<lexicon {PLS_NS} version="1.0" alphabet="ipa"/>',
            "a DOCTYPE is not allowed",
        ),
        ("<lexicon><lexeme><grapheme>Ron</grapheme>", "not a usable PLS document: not well-formed XML"),
        ("<html><body/></html>", "the root element is <html>"),
        (f'<lexicon {PLS_NS} alphabet="ipa">\n<lexeme><alias>x</alias></lexeme></lexicon>', "2: a <lexeme> with no <grapheme>"),
        (
            f'<lexicon {PLS_NS} alphabet="ipa">\n\n<lexeme><grapheme>Ron</grapheme></lexeme></lexicon>',
            "3: 'Ron': a <lexeme> with no <phoneme>",
        ),
        (f"<lexicon {PLS_NS}><lexeme><grapheme>Ron</grapheme><phoneme>ɹɑn</phoneme></lexeme></lexicon>", "no alphabet"),
        (
            f'<lexicon {PLS_NS} alphabet="x-cmu"><lexeme><grapheme>Ron</grapheme><phoneme>R AA N</phoneme></lexeme></lexicon>',
            "'AA' is not an ARPAbet symbol",
        ),
    ],
)
def test_lexicon_pls_refused(document: str, problem: str) -> None:
    with pytest.raises(LexiconError) as caught:
        parse_pls(document.encode(), "OEBPS/bad.pls")
    assert str(caught.value).startswith("OEBPS/bad.pls")
    assert problem in str(caught.value)


# ---------------------------------------------------------------- an EPUB's own lexicons


def test_lexicon_epub_manifest_pls_reaches_the_book(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    chapters = [("One", ["Hermione read about the Cheshire Cat."])]
    plain = read_epub(write_epub(tmp_path / "plain.epub", chapters))
    assert plain.pronunciation_lexicons == ()
    path = write_epub(
        tmp_path / "book.epub",
        chapters,
        resources=[("lexicon.pls", "application/pls+xml", PLS), ("notes.css", "text/css", b"p {}")],
    )
    book = read_epub(path)
    assert book.pronunciation_lexicons == (("OEBPS/lexicon.pls", PLS),)
    [(where, data)] = book.pronunciation_lexicons
    assert [e.grapheme for e in parse_pls(data, where).entries][:2] == ["Cheshire", "Hermione"]
    monkeypatch.setattr("tasks.ingest.epub.MAX_LEXICON_BYTES", 100)
    small = read_epub(path)
    assert small.pronunciation_lexicons == ()
    assert any("OEBPS/lexicon.pls: pronunciation lexicon larger than 100 bytes" in w for w in small.warnings)


def test_lexicon_epub_pls_is_read_within_the_zip_limits(tmp_path: Path) -> None:
    from tasks.ingest.epub import ZipLimits

    path = write_epub(tmp_path / "book.epub", [("One", ["Text."])], resources=[("big.pls", "application/pls+xml", PLS * 40)])
    with pytest.raises(EpubError, match="expands beyond"):
        read_epub(path, ZipLimits(max_member_bytes=len(PLS) * 20))


# ---------------------------------------------------------------- engines


def test_lexicon_engine_alphabets() -> None:
    from voices.engines.base import Engine
    from voices.engines.gpt_sovits.engine import GPTSoVITSEngine
    from voices.engines.gpt_sovits_api import GPTSoVITSAPIEngine
    from voices.engines.piper import PiperEngine

    assert Engine.phoneme_alphabet is None and GPTSoVITSAPIEngine.phoneme_alphabet is None
    assert (PiperEngine.phoneme_alphabet, GPTSoVITSEngine.phoneme_alphabet) == ("ipa", "arpabet")


def test_lexicon_piper_speaks_ipa_blocks() -> None:
    from voices.engines.base import SynthesisRequest
    from voices.engines.piper import PiperEngine
    from voices.profile import find_profile

    joe = find_profile("joe")
    engine = PiperEngine.load(joe, 1)
    lx = Lexicon((entry("Cheshire", "chesher", ipa="kˈæt"),))
    text = "The Cheshire Cat grinned."
    pronounced, _ = lx.apply(text, PiperEngine.phoneme_alphabet)
    assert pronounced == "The [[ kˈæt ]] Cat grinned."
    assert engine._voice.phonemize(engine._with_phonemes(pronounced)) == engine._voice.phonemize("The cat Cat grinned.")
    plain, with_block, tied = engine.synthesize(
        [
            SynthesisRequest(text, joe, seed=3),
            SynthesisRequest(pronounced, joe, seed=3),
            SynthesisRequest("The [[ t͡ʃˈɛʃɚ ]] Cat.", joe),
        ]
    )
    assert with_block.size > 0.5 * 22050 and float(np.abs(with_block).max()) > 0.05
    assert plain.shape != with_block.shape or not np.allclose(plain, with_block)
    assert tied.size > 0  # a tie bar is dropped, as espeak-ng writes tʃ
    assert PiperEngine.unknown_phonemes(joe, ["kˈæt t͡ʃ", "k↗æt↗ ⁉"]) == [(), ("↗", "⁉")]
    with pytest.raises(LexiconError, match=r"cannot say '↗' \(U\+2197\) in '\[\[ k↗æt \]\]'"):
        engine.synthesize([SynthesisRequest("The [[ k↗æt ]] grinned.", joe)])


def test_lexicon_gpt_sovits_front_end_passes_arpabet_through() -> None:
    from voices.engines.gpt_sovits.engine import GPTSoVITSEngine
    from voices.engines.gpt_sovits.text import phonemize
    from voices.profile import find_profile

    lx = Lexicon((entry("Hermione", "her my oh nee", arpabet="HH ER0 M AY1 AH0 N IY0"),))
    pronounced, applied = lx.apply("Hermione's wand broke.", GPTSoVITSEngine.phoneme_alphabet)
    assert pronounced == "[[ HH ER0 M AY1 AH0 N IY0 Z ]] wand broke." and applied == lx.entries
    [english] = phonemize(pronounced, "en")
    assert english.phones == ("HH", "ER0", "M", "AY1", "AH0", "N", "IY0", "Z", "W", "AA1", "N", "D", "B", "R", "OW1", "K", ".")
    [about] = phonemize("Tell me [[ AH0 B AW1 T ]] it.", "en")
    assert " ".join(about.phones) == "T EH1 L M IY1 AH0 B AW1 T IH1 T ."
    runs = phonemize("我叫[[ HH ER0 M AY1 ]]的朋友", "zh")
    assert [(r.language, r.phones) for r in runs][1] == ("en", ("HH", "ER0", "M", "AY1"))
    assert [r.language for r in runs] == ["zh", "en", "zh"]
    with pytest.raises(LexiconError, match=r"'XX' in '\[\[ AH0 XX \]\]'"):
        phonemize("Say [[ AH0 XX ]] now.", "en")
    assert GPTSoVITSEngine.unknown_phonemes(find_profile("joe"), ["AH0 B XX AW1 XX"]) == [("XX",)]
