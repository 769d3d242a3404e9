"""What a subtitle cue's text becomes when spoken, and who speaks it.

**Text** is what is spoken: markup stripped (HTML-ish tags, WebVTT classes, voices and
timestamps, ASS override blocks ``{...}`` and drawings, ``\\N`` ``\\n`` ``\\h``), entities
decoded, lines joined with single spaces.

**Speaker**: the ASS ``Name`` field, the WebVTT ``<v Name>`` voice (when a cue has one voice),
else a ``NAME:`` or ``[NAME]`` prefix on the first line (1-3 capitalised words, at most 30
characters; ``10:30`` is not a name), which is removed from the text. **Dialogue dashes**: when
every line of a cue starts with a dash (``- Hi.`` / ``- Hello.``), the cue holds several
voices but is spoken by one; the dashes, and a name prefix on any of those lines, are removed,
and the speaker stays None unless the ASS or WebVTT markup names one.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

__all__ = ["MAX_NAME_CHARS", "spoken_text"]

MAX_NAME_CHARS = 30
"""Longest speaker name a ``NAME:`` or ``[NAME]`` prefix may give."""

_VOICE = re.compile(r"<v(?:\.[^\s<>]*)?\s+(?P<name>[^<>]+)>")
_ASS_BLOCK = re.compile(r"\{[^{}]*\}")
_ASS_DRAWING_MODE = re.compile(r"\\p(\d+)")
_ASS_BREAK = re.compile(r"\\[Nn]")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>|<\d[\d:.]*>")
_SPACES = re.compile(r"\s+")
_DASH = re.compile(r"^[-\u2010\u2013\u2014](?![-\d])\s*")
_COLON_NAME = re.compile(r"^(?P<name>[^\W\d_][^:]{0,40}?)\s*:(?:\s+(?P<rest>.*))?$")
_BRACKET_NAME = re.compile(r"^\[(?P<name>[^\[\]]{1,40})\]\s*(?P<rest>.*)$")
_NAME_WORD = re.compile(r"^(?:[^\W\d_][\w.'\u2019-]*|#?\d+)$")


def _is_name(name: str) -> bool:
    """1-3 words, each capitalised (a number may follow: ``GUARD 2``), at most 30 characters."""
    words = name.split()
    if not 1 <= len(words) <= 3 or len(name) > MAX_NAME_CHARS:
        return False
    return all(_NAME_WORD.match(w) and (w[0].isupper() or (i > 0 and w.lstrip("#").isdigit())) for i, w in enumerate(words))


def _split_name(line: str) -> tuple[str | None, str]:
    """``("BUNNY", "Hi!")`` for ``BUNNY: Hi!`` or ``[BUNNY] Hi!``; ``(None, line)`` otherwise."""
    match = _BRACKET_NAME.match(line) or _COLON_NAME.match(line)
    if match is None or not _is_name(match.group("name").strip()):
        return None, line
    return match.group("name").strip(), (match.group("rest") or "").strip()


def _without_ass_blocks(text: str) -> str:
    """The text without override blocks ``{...}``, nor the drawings (``{\\p1}m 0 0 l 9 0{\\p0}``)."""
    kept, drawing, at = [], False, 0
    for block in _ASS_BLOCK.finditer(text):
        if not drawing:
            kept.append(text[at : block.start()])
        mode = _ASS_DRAWING_MODE.search(block.group())
        drawing = drawing if mode is None else mode.group(1) != "0"
        at = block.end()
    if not drawing:
        kept.append(text[at:])
    return "".join(kept)


def _plain_lines(lines: Sequence[str]) -> list[str]:
    """The lines to speak, without markup, whitespace collapsed, empty ones dropped."""
    text = _without_ass_blocks("\n".join(lines))
    text = _ASS_BREAK.sub("\n", text).replace("\\h", " ")
    text = html.unescape(_TAG.sub("", text))
    return [part for part in (_SPACES.sub(" ", line).strip() for line in text.split("\n")) if part]


def spoken_text(lines: Sequence[str], speaker: str | None = None) -> tuple[str, str | None]:
    """The text to speak of a cue's marked-up ``lines`` and its speaker: ``speaker`` (what the
    cue's fields name, e.g. the ASS ``Name``) when given, else found in the text (see the module
    docstring for the rules)."""
    voices = {m.group("name").strip() for m in _VOICE.finditer("\n".join(lines))}
    speaker = speaker or (voices.pop() if len(voices) == 1 else None)
    parts = _plain_lines(lines)
    if len(parts) > 1 and all(_DASH.match(p) for p in parts):  # dialogue: one voice, no names spoken
        parts = [_split_name(_DASH.sub("", p, count=1))[1] for p in parts]
        return " ".join(p for p in parts if p), speaker
    if parts:
        parts[0] = _DASH.sub("", parts[0], count=1)
    if speaker is None and parts:
        name, rest = _split_name(parts[0])
        if name is not None and (rest or len(parts) > 1):
            speaker, parts[0] = name, rest
    return " ".join(p for p in parts if p), speaker
