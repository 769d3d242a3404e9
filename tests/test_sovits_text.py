"""GPT-SoVITS text frontends: symbol tables, English/Chinese/Japanese phones, language runs, BERT.

Expected phone sequences below were produced by upstream GPT-SoVITS's own frontend
(``GPT_SoVITS/text/cleaner.py`` ``clean_text``, v2, pypinyin path) run outside the project;
they are test data.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from castline.errors import VoiceError
from voices.engines.gpt_sovits.text import (
    Phonemes,
    phonemize,
    phones_and_bert,
    phones_to_ids,
    symbols_for,
)
from voices.engines.gpt_sovits.text.chinese import syllable_symbols
from voices.engines.gpt_sovits.text.langsplit import split_languages
from voices.engines.gpt_sovits.text.zh_normalize import cardinal, normalize_zh, number

sys.path.insert(0, str(Path(__file__).parent))

# ---------------------------------------------------------------- symbol tables


def test_symbol_tables_have_upstream_sizes_and_ids() -> None:
    v1, v2 = symbols_for("v1"), symbols_for("v2")
    assert (len(v1), len(v2)) == (322, 732)
    assert v2[:322] == v1  # v2 only appends
    ids = {s: i for i, s in enumerate(v2)}
    expected = {"!": 0, "AA": 5, "HH": 51, "SP": 77, "UNK": 86, "_": 95, "a1": 97, "i05": 165, "zh": 320}
    assert {s: ids[s] for s in expected} == expected
    assert (ids["["], ids["ㄱ"], ids["Ya1"]) == (322, 324, 354)


@pytest.mark.parametrize("version", ["v2Pro", "v2ProPlus", "v3", "v4"])
def test_later_versions_use_the_v2_table(version: str) -> None:
    assert symbols_for(version) == symbols_for("v2")


def test_unknown_version_and_symbol_are_voice_errors() -> None:
    with pytest.raises(VoiceError, match="unknown GPT-SoVITS version"):
        symbols_for("v9")
    with pytest.raises(VoiceError, match="not in the symbol table"):
        phones_to_ids(["["], "v1")  # Japanese pitch marks came with v2
    assert phones_to_ids(["[", "a1", "!"], "v2") == [322, 97, 0]


# ---------------------------------------------------------------- English

ENGLISH = {
    "I have $250 in my pocket.": (
        "I have two hundred fifty dollars in my pocket.",
        "AY1 HH AE1 V T UW1 HH AH1 N D R AH0 D F IH1 F T IY0 D AA1 L ER0 Z IH0 N M AY1 P AA1 K AH0 T .",
    ),
    "The meeting starts at 13:30 and ends at 4:00.": (
        "The meeting starts at one thirty p.m. and ends at four o'clock a.m.",
        "DH AH0 M IY1 T IH0 NG S T AA1 R T S AE1 T W AH1 N TH ER1 D IY2 P IY1 . EH1 M . AH0 N D EH1 N D Z "
        "AE1 T F AO1 R AH0 K L AA1 K AH0 . EH1 M .",
    ),
    "In this paper, we propose DSPGAN, a GAN-based universal vocoder.": (
        "In this paper, we propose D S P G A N, a G A N-based universal vocoder.",
        "IH0 N DH IH1 S P EY1 P ER0 , W IY1 P R AH0 P OW1 Z D IY1 EH1 S P IY1 JH IY1 EY1 EH1 N , AH0 JH IY1 "
        "EY1 EH1 N B EY1 S T Y UW2 N AH0 V ER1 S AH0 L V OW1 K OW0 D ER0 .",
    ),
    "The children's books were stacked on the teacher's desk.": (
        "The children's books were stacked on the teacher's desk.",
        "DH AH0 CH IH1 L D R AH0 N Z B UH1 K S W ER1 S T AE1 K T AA1 N DH AH0 T IY1 CH ER0 Z D EH1 S K .",
    ),
    "Don't worry, it's only a test of the system.": (
        "Don't worry, it's only a test of the system.",
        "D OW1 N T W ER1 IY0 , IH1 T S OW1 N L IY0 AH0 T EH1 S T AH1 V DH AH0 S IH1 S T AH0 M .",
    ),
    "About 3/4 of the students passed; 1/2 of them got an A.": (
        "About three fourths of the students passed one half of them got an A.",
        "AH0 B AW1 T TH R IY1 F AO1 R TH S AH1 V DH AH0 S T UW1 D AH0 N T S P AE1 S T W AH1 N HH AE1 F "
        "AH1 V DH EH1 M G AA1 T AE1 N EY1 .",
    ),
    "Yes.": ("Yes.", "Y EH1 S ."),
    "The population grew from 1,200,000 to 3,450,000 in 1999.": (
        "The population grew from one million, two hundred thousand to three million, four hundred fifty "
        "thousand in nineteen ninety-nine.",
        "DH AH0 P AA2 P Y AH0 L EY1 SH AH0 N G R UW1 F R AH1 M W AH1 N M IH1 L Y AH0 N , T UW1 HH AH1 N D R "
        "AH0 D TH AW1 Z AH0 N D T UW1 TH R IY1 M IH1 L Y AH0 N , F AO1 R HH AH1 N D R AH0 D F IH1 F T IY0 "
        "TH AW1 Z AH0 N D IH0 N N AY1 N T IY1 N N AY1 N T IY0 N AY1 N .",
    ),
}


@pytest.mark.parametrize("text", list(ENGLISH))
def test_english_matches_upstream(text: str) -> None:
    norm, phones = ENGLISH[text]
    [ph] = phonemize(text, "en")
    assert ph.language == "en" and ph.word2ph is None
    assert ph.norm_text == norm
    assert " ".join(ph.phones) == phones


def test_english_unknown_words_use_the_g2p_en_model() -> None:
    from voices.engines.gpt_sovits.text.neural_g2p import predict

    # outputs of g2p-en's own G2p.predict for these words
    assert predict("activationist") == "AE2 K T IH0 V EY1 SH AH0 N IH0 S T".split()
    assert predict("kubernetes") == "K AH0 B ER1 N AH0 T S".split()
    [ph] = phonemize("Zorblax waved.", "en")
    assert ph.phones[:8] == tuple("Z AO1 R B AH0 L K S".split())


def test_english_homographs_follow_context() -> None:
    [verb] = phonemize("I want to record it.", "en")
    [noun] = phonemize("The record was old.", "en")
    assert "R IH0 K AO1 R D" in " ".join(verb.phones)
    assert "R EH1 K ER0 D" in " ".join(noun.phones)


def test_curly_apostrophe_is_an_apostrophe() -> None:
    [straight] = phonemize("we're here", "en")
    [curly] = phonemize("we\u2019re here", "en")
    assert straight.phones == curly.phones


# ---------------------------------------------------------------- Chinese

CHINESE = {
    "你好，世界。": ("你好,世界.", "n i2 h ao3 , sh ir4 j ie4 .", "221221"),
    "2024年5月1日是劳动节。": (
        "二零二四年五月一日是劳动节.",
        "EE er4 l ing2 EE er4 s i04 n ian2 w u3 y ve4 y i2 r ir4 sh ir4 l ao2 d ong4 j ie2 .",
        "22222222222221",
    ),
    "现在是下午3:30，会议在15:00开始。": (
        "现在是下午三点半,会议在十五点开始.",
        "x ian4 z ai4 sh ir4 x ia4 w u3 s an1 d ian3 b an4 , h ui4 y i4 z ai4 sh ir2 w u3 d ian3 k ai1 sh ir3 .",
        "222222221222222221",
    ),
    "这个班有45个学生，其中60%是女生。": (
        "这个班有四十五个学生,其中百分之六十是女生.",
        "zh e4 g e5 b an1 y ou3 s i04 sh ir2 w u3 g e5 x ve2 sh eng5 , q i2 zh ong1 b ai3 f en1 zh ir1 l iu4 "
        "sh ir2 sh ir4 n v3 sh eng1 .",
        "2222222222122222222221",
    ),
    "他的电话号码是13812345678。": (
        "他的电话号码是幺三八幺二三四五六七八.",
        "t a1 d e5 d ian4 h ua4 h ao4 m a3 sh ir4 y ao1 s an1 b a1 y ao1 EE er4 s an1 s i04 w u3 l iu4 q i1 b a1 .",
        "2222222222222222221",
    ),
    "看一看，试一试，听一听。": (
        "看一看,试一试,听一听.",
        "k an4 y i5 k an4 , sh ir4 y i5 sh ir4 , t ing1 y i5 t ing1 .",
        "222122212221",
    ),
    "一天、一年、一样、一个。": (
        "一天,一年,一样,一个.",
        "y i4 t ian1 , y i4 n ian2 , y i2 y ang4 , y i2 g e5 .",
        "221221221221",
    ),
    "不要不好意思，大家都是朋友。": (
        "不要不好意思,大家都是朋友.",
        "b u2 y ao4 b u4 h ao3 y i4 s i05 , d a4 j ia1 d ou1 sh ir4 p eng2 y ou5 .",
        "22222212222221",
    ),
    "我们一起去吃饭好不好？": (
        "我们一起去吃饭好不好?",
        "w o3 m en5 y i4 q i3 q v4 ch ir1 f an4 h ao3 b u5 h ao3 ?",
        "22222222221",
    ),
    "今天的气温是-3°C，明天会到25℃。": (
        "今天的气温是零下三度,明天会到二十五度.",
        "j in1 t ian1 d e5 q i4 w en1 sh ir4 l ing2 x ia4 s an1 d u4 , m ing2 t ian1 h ui4 d ao4 EE er4 sh ir2 "
        "w u3 d u4 .",
        "22222222221222222221",
    ),
}


@pytest.mark.parametrize("text", list(CHINESE))
def test_chinese_matches_upstream(text: str) -> None:
    norm, phones, word2ph = CHINESE[text]
    [ph] = phonemize(text, "zh")
    assert ph.language == "zh"
    assert ph.norm_text == norm
    assert " ".join(ph.phones) == phones
    assert "".join(map(str, ph.word2ph or ())) == word2ph
    assert len(ph.word2ph or ()) == len(ph.norm_text) and sum(ph.word2ph or ()) == len(ph.phones)


def test_erhua_takes_the_previous_tone_from_v2_on() -> None:
    text = "小孩儿在胡同儿里玩儿。"
    [v1] = phonemize(text, "zh", "v1")
    [v2] = phonemize(text, "zh", "v2")
    assert " ".join(v1.phones) == "x iao3 h ai2 EE er2 z ai4 h u2 t ong5 EE er2 l i3 w an2 EE er2 ."
    assert " ".join(v2.phones) == "x iao3 h ai2 EE er2 z ai4 h u2 t ong5 EE er5 l i3 w an2 EE er2 ."


@pytest.mark.parametrize(
    ("initial", "final", "symbols"),
    [("zh", "i", ("zh", "ir")), ("z", "i", ("z", "i0")), ("", "ian", ("y", "En")), ("", "ie", ("y", "E")),
     ("g", "uei", ("g", "ui")), ("", "uei", ("w", "ei")), ("", "van", ("y", "van")), ("", "er", ("EE", "er")),
     ("j", "v", ("j", "v")), ("", "ou", ("OO", "ou"))],
)  # fmt: skip
def test_syllables_map_to_table_symbols(initial: str, final: str, symbols: tuple[str, str]) -> None:
    assert syllable_symbols(initial, final) == symbols


def test_chinese_numbers() -> None:
    assert cardinal("10050") == "一万零五十"
    assert cardinal("15") == "十五" and cardinal("110") == "一百一十"
    assert number("3.14") == "三点一四" and number(".5") == "零点五"
    assert normalize_zh("我有2个苹果") == "我有两个苹果"
    assert normalize_zh("房间302") == "房间三零二"  # bare long numbers are read as codes
    assert normalize_zh("3/4和-7") == "四分之三和负七"


# ---------------------------------------------------------------- mixed text


def test_language_runs_split_by_script() -> None:
    runs = split_languages("我最近在学习Python编程。")
    assert [(r.language, r.text) for r in runs] == [("zh", "我最近在学习"), ("en", "Python"), ("zh", "编程。")]
    runs = split_languages("iPhone 15很好")
    assert [r.language for r in runs] == ["en", "zh"]


def test_auto_reads_each_run_in_its_language() -> None:
    runs = phonemize("我最近在学习Python编程。", "auto")
    assert [(p.language, " ".join(p.phones)) for p in runs] == [
        ("zh", "w o3 z ui4 j in4 z ai4 x ve2 x i2"),
        ("en", "P AY1 TH AA0 N"),
        ("zh", "b ian1 ch eng2 ."),
    ]
    zh_mixed = phonemize("这个app的用户体验很好。", "zh")
    assert [(p.language, " ".join(p.phones)) for p in zh_mixed] == [
        ("zh", "zh e4 g e5"),
        ("en", ", AE1 P"),
        ("zh", "d e5 y ong4 h u4 t i3 y En4 h en2 h ao3 ."),
    ]


def test_unsupported_language_is_a_voice_error() -> None:
    with pytest.raises(VoiceError, match="not a GPT-SoVITS text language"):
        phonemize("hello", "fr")
    with pytest.raises(VoiceError, match="en, zh and ja only"):
        phonemize("안녕하세요", "auto")


# ---------------------------------------------------------------- Japanese


def test_japanese_phones_with_pitch_marks_or_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from voices.engines.gpt_sovits.text import japanese

    try:
        import pyopenjtalk  # noqa: F401
    except ImportError:
        with pytest.raises(VoiceError, match="pyopenjtalk-plus"):
            phonemize("こんにちは", "ja")
        return
    [ph] = phonemize("こんにちは、今日はいい天気ですね。", "ja")
    # upstream's frontend on the same OpenJTalk dictionary
    assert " ".join(ph.phones) == "k o [ N n i ch i w a , ky o ] o w a UNK i [ i UNK t e ] N k i d e s u n e ."
    japanese._openjtalk.cache_clear()
    monkeypatch.setitem(sys.modules, "pyopenjtalk", None)
    with pytest.raises(VoiceError, match="pyopenjtalk-plus"):
        phonemize("こんにちは", "ja")
    japanese._openjtalk.cache_clear()


# ---------------------------------------------------------------- BERT features

TINY_HIDDEN = 64
"""Width of the test BERT (the real chinese-roberta-wwm-ext-large has 1024)."""


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> object:
    from sovits_fixtures import build_bert_dir

    from voices.engines.gpt_sovits.text import BertFeaturizer

    return BertFeaturizer(build_bert_dir(tmp_path_factory.mktemp("bert"), hidden_size=TINY_HIDDEN))


def test_bert_features_are_expanded_per_phone(bert: object) -> None:
    ids, feats, norm = phones_and_bert("你好，世界。", "zh", "v2", bert)  # type: ignore[arg-type]
    assert norm == "你好,世界."
    assert feats.shape == (TINY_HIDDEN, len(ids)) == (TINY_HIDDEN, 10)
    per_char = bert.char_features(norm)  # type: ignore[attr-defined]
    assert torch.equal(feats[:, 0], per_char[0]) and torch.equal(feats[:, 1], per_char[0])
    assert torch.equal(feats[:, 4], per_char[2])  # "," has one phone
    assert not torch.equal(per_char[0], per_char[1])


def test_bert_features_zero_for_english_runs(bert: object) -> None:
    ids, feats, _ = phones_and_bert("我喜欢Python编程。", "zh", "v2", bert)  # type: ignore[arg-type]
    runs = phonemize("我喜欢Python编程。", "zh")
    n_zh = len(runs[0].phones)
    n_en = len(runs[1].phones)
    assert feats.shape[1] == len(ids)
    assert torch.count_nonzero(feats[:, n_zh : n_zh + n_en]) == 0
    assert torch.count_nonzero(feats[:, :n_zh]) > 0


def test_chinese_without_bert_is_a_voice_error() -> None:
    with pytest.raises(VoiceError, match="`bert`"):
        phones_and_bert("你好，世界。", "zh", "v2", None)
    ids, feats, _ = phones_and_bert("Hello there, world.", "en", "v2", None)
    assert feats.shape == (1024, len(ids)) and torch.count_nonzero(feats) == 0


def test_short_text_is_read_again_with_a_leading_period() -> None:
    ids, _, norm = phones_and_bert("Hi.", "en", "v2", None)
    assert norm.startswith(".")
    assert ids[0] == phones_to_ids(["."])[0]


def test_phonemes_record_is_frozen() -> None:
    ph = Phonemes(("a1",), (1,), "啊", "zh")
    with pytest.raises(AttributeError):
        ph.language = "en"  # type: ignore[misc]
