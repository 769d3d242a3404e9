"""Text for speech: book paragraphs in, utterance texts a TTS engine reads well out.

``script_paragraph`` is the whole path for one paragraph: split into sentences, normalize
each for speech (numbers, abbreviations, typography), cut what is longer than the engine's
limit (at clause boundaries when there are any, between characters when there are none), and
drop what has nothing to say (``* * *``). ``script_title`` does the same for a chapter title,
and ``has_speech`` says, without cutting, whether a paragraph gives anything to say. All
functions are pure and deterministic.
"""

from __future__ import annotations

from castline.text.normalize import normalize_text, normalize_title
from castline.text.sentences import split_long, split_sentences
from castline.text.typography import is_speakable

__all__ = [
    "split_sentences",
    "normalize_text",
    "normalize_title",
    "split_long",
    "script_paragraph",
    "script_sentences",
    "script_title",
    "has_speech",
    "is_speakable",
]


def script_sentences(paragraph: str, language: str, max_chars: int) -> list[tuple[int, int, list[str]]]:
    """The sentences of ``paragraph`` that give speech: ``(start, end, utterance texts)`` each,
    ``paragraph[start:end]`` being the sentence as the book has it (see :func:`script_paragraph`)."""
    out: list[tuple[int, int, list[str]]] = []
    at = 0
    for sentence in split_sentences(paragraph, language):
        start = paragraph.find(sentence, at)  # sentences are stripped slices, in order
        at = start + len(sentence)
        spoken = normalize_text(sentence, language)
        if not is_speakable(spoken):
            continue
        out.append((start, at, [p for p in split_long(spoken, max_chars, language) if is_speakable(p)]))
    return out


def script_paragraph(paragraph: str, language: str, max_chars: int) -> list[str]:
    """The utterance texts of one paragraph, in reading order.

    For each sentence of :func:`split_sentences`: :func:`normalize_text`, then
    :func:`split_long` to at most ``max_chars`` characters (always: a word longer than that is
    cut too); pieces without a letter or digit are dropped. Every letter and digit of the
    normalized sentences is in exactly one utterance.
    """
    return [u for _, _, utterances in script_sentences(paragraph, language, max_chars) for u in utterances]


def has_speech(paragraph: str, language: str) -> bool:
    """Whether :func:`script_paragraph` gives ``paragraph`` at least one utterance, for any
    ``max_chars``: whether one of its sentences, normalized, has a letter or digit.

    Cheaper than :func:`script_paragraph` (it stops at the first sentence that has one and
    cuts nothing), and never disagrees with it: :func:`split_long` loses no letter or digit.
    """
    return any(is_speakable(normalize_text(s, language)) for s in split_sentences(paragraph, language))


def script_title(title: str, language: str, max_chars: int) -> list[str]:
    """The utterance texts of a spoken chapter title: :func:`normalize_title`, cut to
    ``max_chars`` like a sentence; empty when it has nothing to say (``* * *``, an emoji)."""
    spoken = normalize_title(title, language)
    if not is_speakable(spoken):
        return []
    return [p for p in split_long(spoken, max_chars, language) if is_speakable(p)]
