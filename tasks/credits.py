"""Opening and closing credits: chapters of their own, spoken and mastered like the others.

ACX and the other retailers ask for opening credits (title, author, narrator) and closing
credits ("The End", the copyright), each as its own file; in the M4B they are the first and
last chapter marks. They are ordinary chapters made here from the manifest (their titles are
not spoken), so they are cached, mastered and delivered the way every chapter is.
"""

from __future__ import annotations

from castline.model import Chapter

__all__ = ["OPENING_CREDITS", "CLOSING_CREDITS", "opening_credits", "closing_credits"]

OPENING_CREDITS = "credits-opening"
CLOSING_CREDITS = "credits-closing"
"""The credits chapters' ids."""


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text if text[-1:] in ".!?" else text + "."


def opening_credits(title: str, author: str, narration: str) -> Chapter:
    """``title``, ``Written by author.``, and the narration credit, as a chapter titled "Opening Credits"."""
    lines = (_sentence(title), _sentence(f"Written by {author}"), _sentence(narration))
    return Chapter(OPENING_CREDITS, "Opening Credits", lines, matter="front", speak_title=False)


def closing_credits(copyright_line: str | None) -> Chapter:
    """``The End.`` and the copyright line (if any), as a chapter titled "Closing Credits"."""
    lines = ("The End.", *([_sentence(copyright_line)] if copyright_line else []))
    return Chapter(CLOSING_CREDITS, "Closing Credits", lines, matter="back", speak_title=False)
