"""Split mixed-language text into runs of one language each, by writing system.

Latin letters are English; Han characters are Chinese, or Japanese when the text also holds
kana; kana are Japanese; Hangul is Korean. Spaces and punctuation stay with the run before
them. Digits go with a neighbour the way upstream GPT-SoVITS decides: the run on both sides
if they agree, else the next run after sentence-final punctuation, else the previous run
before punctuation, else the longer neighbour.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Run", "split_languages"]

_SENTENCE_MARKS = ",.!?，。！？"
_RE_UNIT = re.compile(r"(?<=\d)(?:°[CF]|cm[23²³]?|m[23²³]|mm|ml|m|kg|km|db|ds|s)(?![A-Za-z])|°[CF](?![A-Za-z])")
"""Unit letters glued to a number read with the number, in the number's language."""


@dataclass
class Run:
    """A stretch of text in one language."""

    language: str
    """``en``, ``zh``, ``ja``, ``ko``, or ``digit`` before digits are attached."""
    text: str


def _is_han(ch: str) -> bool:
    cp = ord(ch)
    return 0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x323AF or 0xF900 <= cp <= 0xFAFF


def _is_kana(ch: str) -> bool:
    cp = ord(ch)
    return 0x3041 <= cp <= 0x30FF or 0x31F0 <= cp <= 0x31FF or 0xFF66 <= cp <= 0xFF9D


def _is_hangul(ch: str) -> bool:
    cp = ord(ch)
    return 0xAC00 <= cp <= 0xD7AF or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F


def _char_language(ch: str, han: str) -> str:
    """The language a character starts or continues; ``""`` for neutral marks."""
    if (ch.isascii() and ch.isalpha()) or "\uff21" <= ch <= "\uff3a" or "\uff41" <= ch <= "\uff5a":
        return "en"
    if ch.isdigit():
        return "digit"
    if _is_han(ch) or ch in "々〇":
        return han
    if _is_kana(ch):
        return "ja"
    if _is_hangul(ch):
        return "ko"
    return ""


def _raw_runs(text: str) -> list[Run]:
    han = "ja" if any(_is_kana(ch) for ch in text) else "zh"
    units = {i for m in _RE_UNIT.finditer(text) for i in range(m.start(), m.end())}
    runs: list[Run] = []
    lead = ""
    for i, ch in enumerate(text):
        lang = "digit" if i in units else _char_language(ch, han)
        if not lang:
            if runs:
                runs[-1].text += ch
            else:
                lead += ch
        elif runs and runs[-1].language == lang:
            runs[-1].text += ch
        else:
            runs.append(Run(lang, lead + ch))
            lead = ""
    if lead:
        runs.append(Run("", lead))
    return runs


def _digit_language(prev: Run | None, run: Run, nxt: Run | None) -> str:
    if prev is None or nxt is None:
        side = prev or nxt
        return side.language if side else ""
    if prev.language == nxt.language:
        return prev.language
    if prev.text.rstrip()[-1:] in _SENTENCE_MARKS:
        return nxt.language
    if nxt.text.lstrip()[:1] in _SENTENCE_MARKS or run.text.rstrip()[-1:] in ".。":
        return prev.language
    return prev.language if len(prev.text) >= len(nxt.text) else nxt.language


def split_languages(text: str, default: str = "zh") -> list[Run]:
    """Runs of one language each, in order; their texts join back to ``text``.

    ``default`` names the language of text that has no letters at all (digits, marks).
    """
    runs = _raw_runs(text)
    letters = [r for r in runs if r.language not in ("digit", "")]
    out: list[Run] = []
    for i, run in enumerate(runs):
        lang = run.language
        if lang == "digit":
            prev = next((r for r in reversed(runs[:i]) if r.language not in ("digit", "")), None)
            nxt = next((r for r in runs[i + 1 :] if r.language not in ("digit", "")), None)
            lang = _digit_language(prev, run, nxt)
        lang = lang or (letters[-1].language if letters else default)
        if out and out[-1].language == lang:
            out[-1].text += run.text
        else:
            out.append(Run(lang, run.text))
    return out
