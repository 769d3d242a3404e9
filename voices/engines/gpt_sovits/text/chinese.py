"""Chinese g2p: normalized text -> GPT-SoVITS initials/finals symbols and phones per character.

jieba segments each clause and tags parts of speech; pypinyin gives each word's initials and
toned finals from its phrase dictionary; :mod:`.tone_sandhi` applies the tone rules; for v2
and later checkpoints a final 儿 takes the tone of the syllable before it (erhua, as
upstream's v2 frontend does). Each syllable becomes two symbols: an initial (``AA``/``EE``/
``OO``/``y``/``w`` stand in for a zero initial) and a final with its tone digit, e.g. 你好 ->
``n i2 h ao3``. Punctuation is one symbol. ``word2ph`` counts symbols per character.

Upstream v2 chooses readings of polyphonic characters with G2PW, a neural model that would
have to be downloaded; castline uses pypinyin's phrase dictionary instead, as upstream v1 did.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from functools import lru_cache

from voices.engines.gpt_sovits.text import tone_sandhi
from voices.engines.gpt_sovits.text.symbols import PUNCTUATION

__all__ = ["g2p_zh", "syllable_symbols"]

_log = logging.getLogger(__name__)
_lock = threading.Lock()

_ERHUA_ALWAYS = frozenset("胡同儿 小院儿 媳妇儿 哥们儿 姐们儿 爷们儿 一会儿 一点儿 好玩儿 没准儿".split())
"""Words read with erhua even where the part of speech says otherwise."""
_ERHUA_NEVER = frozenset(
    """
    女儿 男儿 婴儿 幼儿 婴幼儿 孤儿 患儿 胎儿 健儿 少儿 孙儿 侄儿 妻儿 宠儿 弃儿 乞儿 新生儿
    早产儿 混血儿 流浪儿 脑瘫儿 花儿 鸟儿 马儿 虫儿 猫儿 狗儿 鱼儿 儿儿
    """.split()
)
"""Words whose 儿 is a syllable of its own (a child, a son, poetic diminutives)."""
_SPLIT_AFTER_PUNCT = re.compile("(?<=[{}])\\s*".format(re.escape("".join(PUNCTUATION))))


@lru_cache(maxsize=1)
def _posseg() -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # jieba imports the deprecated pkg_resources
        import jieba
        import jieba.posseg

    jieba.setLogLevel(logging.CRITICAL)
    with _lock:
        jieba.initialize()
    return jieba.posseg


def syllable_symbols(initial: str, final: str) -> tuple[str, str]:
    """pypinyin's strict (initial, final without tone) -> the two table symbols.

    ``("zh", "i")`` -> ``("zh", "ir")``; ``("", "ian")`` -> ``("y", "En")``;
    ``("g", "uei")`` -> ``("g", "ui")``; ``("", "e")`` -> ``("EE", "e")``.
    """
    if initial:
        final = {"uei": "ui", "iou": "iu", "uen": "un"}.get(final, final)
        if final == "i" and initial in ("zh", "ch", "sh", "r"):
            final = "ir"
        elif final == "i" and initial in ("z", "c", "s"):
            final = "i0"
        elif final.startswith("u") and initial in ("j", "q", "x"):
            final = "v" + final[1:]
        return initial, final
    head = final[:1]
    if head in ("a", "e", "o"):
        return {"a": "AA", "e": "EE", "o": "OO"}[head], final
    if head == "v":
        return "y", final
    if head == "u":
        return "w", final if final == "u" else final[1:]
    if head == "i":
        if final in ("i", "in", "ing"):
            return "y", final
        rest = final[1:]
        return "y", {"an": "En", "e": "E"}.get(rest, rest)
    raise ValueError(f"not a Mandarin final: {final!r}")


def _initials_finals(word: str) -> tuple[list[str], list[str]]:
    from pypinyin import Style, lazy_pinyin

    initials = lazy_pinyin(word, style=Style.INITIALS, neutral_tone_with_five=True)
    finals = lazy_pinyin(word, style=Style.FINALS_TONE3, neutral_tone_with_five=True)
    return list(initials), list(finals)


def _erhua(initials: list[str], finals: list[str], word: str, pos: str) -> list[str]:
    """A final 儿 takes the tone of the syllable before it (v2 frontend)."""
    if len(finals) != len(word) or not word.endswith("儿"):
        return finals
    if finals[-1] == "er1":
        finals[-1] = "er2"
    if word not in _ERHUA_ALWAYS and (word in _ERHUA_NEVER or pos in ("a", "j", "nr")):
        return finals
    if len(word) > 1 and finals[-1] in ("er2", "er5") and word[-2:] not in _ERHUA_NEVER:
        finals[-1] = "er" + finals[-2][-1:]
    return finals


def _clause(clause: str, erhua: bool) -> tuple[list[str], list[int]]:
    clause = re.sub("[a-zA-Z]+", "", clause)
    words = tone_sandhi.pre_merge([(w, p) for w, p in _posseg().lcut(clause)])  # type: ignore[attr-defined]
    phones: list[str] = []
    word2ph: list[int] = []
    for word, pos in words:
        if pos == "eng":
            continue
        initials, finals = _initials_finals(word)
        finals = tone_sandhi.apply_sandhi(word, pos, finals)
        if erhua:
            finals = _erhua(initials, finals, word, pos)
        for initial, final in zip(initials, finals):
            if initial == final:
                if initial in PUNCTUATION:
                    phones.append(initial)
                    word2ph.append(1)
                else:
                    _log.warning("no reading for %r in %r; skipped", initial, clause)
                    word2ph.extend([0] * len(initial))
                continue
            tone = final[-1:]
            if not tone or tone not in "12345":
                final, tone = final + "5", "5"
            try:
                sym_initial, sym_final = syllable_symbols(initial, final[:-1])
            except ValueError:
                _log.warning("no symbols for the syllable %r in %r; skipped", initial + final, clause)
                word2ph.append(0)
                continue
            phones += [sym_initial, sym_final + tone]
            word2ph.append(2)
    return phones, word2ph


def g2p_zh(norm_text: str, version: str = "v2") -> tuple[list[str], list[int]]:
    """Symbols and symbols-per-character for text from :func:`~.zh_normalize.normalize_zh`."""
    clauses = [c for c in _SPLIT_AFTER_PUNCT.split(norm_text) if c.strip()]
    phones: list[str] = []
    word2ph: list[int] = []
    for clause in clauses:
        p, w = _clause(clause, erhua=version != "v1")
        phones += p
        word2ph += w
    return phones, word2ph
