"""Japanese g2p with pitch-accent marks, through OpenJTalk (optional).

Needs ``pyopenjtalk-plus``, whose wheel ships the OpenJTalk dictionary (plain ``pyopenjtalk``
downloads it on first use, which castline must not do). Like upstream, each run of Japanese
text becomes OpenJTalk phones (devoiced vowels as ordinary vowels) with prosody marks taken
from the full-context labels: ``[`` pitch rises, ``]`` pitch falls, ``#`` accent-phrase
boundary, ``_`` pause. Marks between runs are kept (Japanese punctuation as ``, . ! ?``).
The v2 table has ``[`` and ``]``; ``#`` is not in any table and becomes ``UNK`` there, as
upstream's does.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

from castline.errors import VoiceError
from voices.engines.gpt_sovits.text.zh_normalize import collapse_punctuation

__all__ = ["g2p_ja", "normalize_ja", "prosody_phones"]

_JA_CHARS = r"A-Za-z\d\u3005\u3040-\u30ff\u4e00-\u9fff\uff11-\uff19\uff21-\uff3a\uff41-\uff5a\uff66-\uff9d"
_RE_JA = re.compile(f"[{_JA_CHARS}]")
_RE_NOT_JA = re.compile(f"[^{_JA_CHARS}]")
_MARKS = {"：": ",", "；": ",", "，": ",", "。": ".", "！": "!", "？": "?", "\n": ".", "·": ",", "、": ",", "...": "…"}
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _openjtalk() -> Any:
    try:
        import pyopenjtalk
    except ImportError:
        raise VoiceError(
            "pyopenjtalk",
            "Japanese needs the pyopenjtalk-plus package, which ships its dictionary "
            "(pip install pyopenjtalk-plus)",
        ) from None
    return pyopenjtalk


def _field(pattern: str, label: str) -> int:
    m = re.search(pattern, label)
    return int(m.group(1)) if m else -50


def prosody_phones(labels: list[str]) -> list[str]:
    """Phones and prosody marks from OpenJTalk full-context labels (``^`` ... ``$``/``?``)."""
    out: list[str] = []
    for n, label in enumerate(labels):
        phone = re.search(r"-(.*?)\+", label).group(1)  # type: ignore[union-attr]
        if phone in ("A", "E", "I", "O", "U"):
            phone = phone.lower()
        if phone == "sil":
            if n == 0:
                out.append("^")
            elif n == len(labels) - 1:
                out.append("?" if _field(r"!(\d+)_", label) == 1 else "$")
            continue
        if phone == "pau":
            out.append("_")
            continue
        out.append(phone)
        a1 = _field(r"/A:([0-9\-]+)\+", label)
        a2 = _field(r"\+(\d+)\+", label)
        a3 = _field(r"\+(\d+)/", label)
        f1 = _field(r"/F:(\d+)_", label)
        a2_next = _field(r"\+(\d+)\+", labels[n + 1]) if n + 1 < len(labels) else -50
        if a3 == 1 and a2_next == 1 and phone in ("a", "e", "i", "o", "u", "N", "cl"):
            out.append("#")
        elif a1 == 0 and a2_next == a2 + 1 and a2 != f1:
            out.append("]")
        elif a2 == 1 and a2_next == 2:
            out.append("[")
    return out


def normalize_ja(text: str) -> str:
    """Japanese text as the g2p expects it: runs of punctuation collapsed."""
    return collapse_punctuation(text)


def g2p_ja(norm_text: str) -> list[str]:
    """Phones with prosody marks for Japanese text (English words in it are read by OpenJTalk)."""
    jtalk = _openjtalk()
    text = norm_text.replace("％", "パーセント").lower()
    pieces = _RE_NOT_JA.split(text)
    marks = _RE_NOT_JA.findall(text)
    phones: list[str] = []
    for i, piece in enumerate(pieces):
        if _RE_JA.match(piece):
            with _lock:
                labels = jtalk.make_label(jtalk.run_frontend(piece))
            phones += prosody_phones(list(labels))[1:-1]
        if i < len(marks) and marks[i] != " ":
            phones.append(_MARKS.get(marks[i], marks[i].replace(" ", "")))
    return phones
