"""Text for speech: book paragraphs in, utterance texts a TTS engine reads well out.

``script_paragraph`` is the whole path for one paragraph: split into sentences, normalize
each for speech (numbers, abbreviations, typography), cut what is longer than the engine's
limit at clause boundaries, and drop what has nothing to say (``* * *``). All functions
are pure and deterministic.
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
]


def script_paragraph(paragraph: str, language: str, max_chars: int) -> list[str]:
    """The utterance texts of one paragraph, in reading order.

    For each sentence of :func:`split_sentences`: :func:`normalize_text`, then
    :func:`split_long` to at most ``max_chars`` characters (a single longer word stays
    whole); pieces without a letter or digit are dropped.
    """
    utterances: list[str] = []
    for sentence in split_sentences(paragraph, language):
        spoken = normalize_text(sentence, language)
        if not is_speakable(spoken):
            continue
        utterances.extend(p for p in split_long(spoken, max_chars, language) if is_speakable(p))
    return utterances
