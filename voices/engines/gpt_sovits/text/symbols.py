"""The phone symbol tables that GPT-SoVITS checkpoints are indexed by.

A checkpoint's text embedding has one row per symbol, so the id of a symbol is part of the
checkpoint format: it must equal upstream's ``cleaned_text_to_sequence``. The tables are
built here from their parts:

* **v1** (322 symbols): the sorted union of the pad ``_``, Mandarin initials and toned
  finals, Japanese phones, punctuation and pause marks, and ARPAbet with stress digits.
* **v2** (732 symbols, used by v2, v2Pro, v2ProPlus, v3 and v4 checkpoints): the v1 table,
  then the Japanese pitch marks ``[`` ``]``, then Korean jamo (sorted), then Cantonese
  jyutping units prefixed with ``Y`` (sorted). Appending keeps every v1 id unchanged.
"""

from __future__ import annotations

from functools import cache

from castline.errors import VoiceError

__all__ = [
    "PAD",
    "PUNCTUATION",
    "ARPA",
    "V2_VERSIONS",
    "table",
    "symbol_ids",
    "table_version",
]

PAD = "_"
PUNCTUATION: tuple[str, ...] = ("!", "?", "…", ",", ".", "-")
"""Punctuation that survives the frontends as a phone of its own."""
_PAUSES = ("SP", "SP2", "SP3", "UNK")

_ZH_INITIALS = "AA EE OO b c ch d f g h j k l m n p q r s sh t w x y z zh".split()
"""Mandarin initials; AA/EE/OO stand for the zero initial before a-, e- and o- finals."""
_ZH_FINALS = (
    "E En a ai an ang ao e ei en eng er i i0 ia ian iang iao ie in ing iong ir iu "
    "o ong ou u ua uai uan uang ui un uo v van ve vn"
).split()
"""Mandarin finals without tone; each carries a tone digit 1-5 (5 = neutral) as a symbol."""
_JA_PHONES = (
    "I N U a b by ch cl d dy e f g gy h hy i j k ky m my n ny o p py r ry s sh t ts u v w y z"
).split()
_ARPA_VOWELS = "AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split()
_ARPA_CONSONANTS = "B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split()

ARPA: frozenset[str] = frozenset(
    [v + stress for v in _ARPA_VOWELS for stress in "012"] + ["ER", "IH"] + _ARPA_CONSONANTS
)
"""ARPAbet symbols in the tables: vowels with stress 0/1/2 (plus bare ER and IH), consonants."""

_JA_PITCH = ("[", "]")
_KO_JAMO = "ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ" + "ㅏㅐㅓㅔㅗㅜㅡㅣ" + "空停"
"""Korean: 19 initial consonants, 8 vowels, and two marks (space, pause)."""
_YUE_TONED = (
    "a aa aai aak aam aan aang aap aat aau ai ak am an ang ap at au e ei ek eng eoi eon eot "
    "g i ik im in ing ip it iu k m n o oe oek oeng oi ok on ong ot ou p t u ui uk un ung ut "
    "yu yun yut"
).split()
"""Cantonese units that appear with each of the six tones."""
_YUE_BARE = "a aa ai ak au b c d e f g gw h j k kw l m n ng o oi ok on ou p s t uk w z".split()
"""Cantonese units that also appear without a tone digit."""

V2_VERSIONS = frozenset({"v2", "v2Pro", "v2ProPlus", "v3", "v4"})
"""Checkpoint versions that use the v2 table."""


def _v1_symbols() -> list[str]:
    zh_finals = [f + tone for tone in "12345" for f in _ZH_FINALS]
    parts = [PAD, *_ZH_INITIALS, *zh_finals, *_JA_PHONES, *PUNCTUATION, *_PAUSES, *ARPA]
    return sorted(set(parts))


def _v2_symbols() -> list[str]:
    yue = {"Y" + u + tone for u in _YUE_TONED for tone in "123456"} | {"Y" + u for u in _YUE_BARE}
    return _v1_symbols() + list(_JA_PITCH) + sorted(_KO_JAMO) + sorted(yue)


def table_version(version: str) -> str:
    """``"v1"`` or ``"v2"``: which table a checkpoint version uses."""
    if version == "v1":
        return "v1"
    if version in V2_VERSIONS:
        return "v2"
    known = ", ".join(["v1", *sorted(V2_VERSIONS)])
    raise VoiceError(f"version={version!r}", f"unknown GPT-SoVITS version (known: {known})")


@cache
def table(version: str) -> tuple[str, ...]:
    """The symbol table of a checkpoint version; the index of a symbol is its id."""
    return tuple(_v1_symbols() if table_version(version) == "v1" else _v2_symbols())


@cache
def symbol_ids(version: str) -> dict[str, int]:
    """Symbol -> id for a checkpoint version."""
    return {s: i for i, s in enumerate(table(version))}
