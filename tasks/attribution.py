"""Who speaks each quotation of a book: a deterministic sieve.

A chapter's paragraphs are cut into narration and quotations
(:func:`castline.text.quotations.split_paragraphs`); narration, speech tags included, is the
narrator's. Each quotation then goes through the sieve until a rule gives it a speaker; the
rule is recorded with it (:attr:`Attribution.rule`), and the cast sheet shows it:

1. ``tag``: a speech tag next to the quotation names the speaker: after it (``"…," said
   Alice``, ``"…," the Queen shouted``, ``"…," Alice replied very politely``) or before it,
   ending in a comma or colon (``Alice began, in a low voice, "…"``). Names are the
   ``characters`` of the manifest with their aliases (``the Mad Hatter``), else a capitalized
   name (``said the Dodo`` -> ``Dodo``, a leading "the" dropped).
2. ``pronoun``: the tag's subject is ``he`` or ``she`` (``"…," said she``): the last
   character of that gender named in the text (tags included) before it. Needs genders in
   ``characters``; first-person aliases (``I``) are never the antecedent of ``he`` or ``she``.
3. The other parts of the same quotation (interrupted by a tag, or running on from the
   paragraph before) and the other quotations of the paragraph have the speaker of the part
   that was attributed, with its rule: a paragraph is one speaker's turn.
4. ``mention``: the paragraph's narration names exactly one character (``The Hatter opened
   his eyes very wide. "Why is a raven like a writing-desk?"``); or, naming none, it starts
   with ``He`` or ``She`` (``pronoun``, resolved as in 2).
5. ``vocative``: the quotation, in a conversation, addresses a character by name
   (``"…, Alice?"``, or ``"Alice, come here at once!"``: at the start only in a quotation of
   four words or more, since ``"Pip, sir."`` answers a question): the speaker is the last
   speaker of the conversation who is not that character.
6. ``turn``: in a conversation (a quotation at most two paragraphs of narration before), the
   other speaker: the last one, of the four paragraphs with quotations before, who is not the
   speaker of the last quotation. Two people talking take turns.
7. ``default``: the manifest's default speaker (``dialogue.default_speaker``).

``bench/bench_attribution.py`` prints the accuracy of each rule on the annotated chapters of
``tests/data/attribution``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from castline.text.quotations import Span, split_paragraphs
from tasks.cast import NARRATOR

__all__ = [
    "Character", "Attribution", "attribute_chapter", "rule_accuracy", "SPEECH_VERBS", "UNKNOWN_SPEAKER",
    "NARRATION",
]

UNKNOWN_SPEAKER = "unknown"
"""The default speaker of a quotation the sieve cannot attribute."""
NARRATION = "narration"
"""The rule of narration spans: the narrator's."""

Gender = Literal["female", "male"]

SPEECH_VERBS = (
    "said", "says", "say", "cried", "cries", "asked", "asks", "replied", "replies", "answered", "shouted", "whispered",
    "exclaimed", "muttered", "added", "continued", "began", "went on", "thought", "remarked", "repeated", "called",
    "screamed", "sighed", "observed", "interrupted", "inquired", "enquired", "growled", "roared", "yelled", "murmured",
    "suggested", "returned", "retorted", "pleaded", "sobbed", "explained", "declared", "insisted", "protested",
    "agreed", "grumbled", "snapped", "put in", "broke in", "struck in", "persisted", "urged", "shrieked", "panted",
    "gasped", "pursued", "resumed", "demanded", "whimpered", "stammered", "bellowed", "laughed", "told", "spoke",
    "faltered", "sneered", "hissed", "mumbled", "responded", "rejoined", "ventured", "quoth", "wailed", "moaned",
)
"""Verbs of a speech tag (``said``, ``went on``, ``put in``)."""

_VERB = "(?:" + "|".join(sorted((re.escape(v).replace(r"\ ", r"\s+") for v in SPEECH_VERBS), key=len, reverse=True)) + r")\b"
_ADVERBS = r"(?:\s+(?:\w+ly|then|again|aloud|at\s+last|at\s+once|to\s+(?:him|her)self))*"
_UNKNOWN_NAME = r"(?:[Tt]he\s+)?[A-Z][\w’'-]*(?:\s+[A-Z][\w’'-]*)*"
_PRONOUNS: dict[str, Gender] = {"he": "male", "she": "female"}
_FIRST_PERSON = {"I", "me", "we"}
_MIN_VOCATIVE_WORDS = 4
"""A name opening a quotation shorter than this is an answer ("Pip, sir."), not an address."""
_CONVERSATION_GAP = 2
"""Paragraphs of narration only that a conversation runs over (for the vocative and turn rules)."""
_TURNS_BACK = 4
"""How far back the turn rule looks for the other speaker of a conversation."""


@dataclass(frozen=True)
class Character:
    """A character the manifest lists: its name, other ways the text names it, its gender."""

    name: str
    aliases: tuple[str, ...] = ()
    gender: Gender | None = None


@dataclass(frozen=True)
class Attribution:
    """A span of a paragraph with its speaker and the rule that found it."""

    span: Span
    speaker: str
    rule: str
    paragraph: int


@dataclass
class _Names:
    """Surface forms of the characters' names -> their canonical names."""

    characters: Mapping[str, Character]
    forms: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for c in self.characters.values():
            for form in (c.name, *c.aliases):
                bare = re.sub(r"^[Tt]he\s+", "", form.strip())
                for variant in {form.strip(), bare}:
                    if variant:
                        self.forms[variant] = c.name
        self.first_person = {name for form, name in self.forms.items() if form in _FIRST_PERSON}
        alternatives = sorted(self.forms, key=len, reverse=True)
        known = "|".join(re.escape(f).replace(r"\ ", r"\s+") for f in alternatives)
        name = rf"\b(?:[Tt]he\s+)?(?:{known})\b" if known else None
        pronoun = r"\b(?:he|she|He|She)\b"
        named = f"{name}|{pronoun}" if name else pronoun
        subject = f"{named}|{_UNKNOWN_NAME}"
        self.tag_after = re.compile(
            rf"^[\s,;:—–-]*(?:(?:{_VERB}){_ADVERBS}\s+(?P<a>{subject})|(?P<b>{subject}){_ADVERBS}\s+(?:{_VERB}))"
        )
        # before a quotation: "Alice said," or "The Dormouse shook its head and said, without opening its eyes,"
        self.tag_before = re.compile(
            rf"(?:(?P<a>{named})(?:\s+[\w’',]+){{0,8}}?|(?P<b>{_UNKNOWN_NAME}){_ADVERBS})\s+(?:{_VERB})[^.!?]*[,:—]\s*$"
        )
        self.mention = re.compile(name) if name else None
        self.narration_pronoun = re.compile(rf"^\W*(?P<a>{pronoun})")

    def canonical(self, surface: str) -> str:
        """The character named ``surface`` (or ``surface`` without a leading "the")."""
        surface = " ".join(surface.split())
        bare = re.sub(r"^[Tt]he\s+", "", surface)
        return self.forms.get(surface) or self.forms.get(bare) or bare

    def mentioned(self, text: str) -> list[str]:
        """The characters ``text`` names, in order (first-person aliases left out)."""
        if self.mention is None:
            return []
        return [self.canonical(m.group()) for m in self.mention.finditer(text) if m.group().strip() not in _FIRST_PERSON]


@dataclass
class _State:
    """What the sieve remembers while it reads a chapter."""

    last_of_gender: dict[str, str] = field(default_factory=dict)
    turns: list[str] = field(default_factory=list)
    """The speaker of each paragraph with a quotation so far."""
    since_quote: int = 0
    """Paragraphs of narration only since the last one with a quotation."""


def _subject(match: re.Match[str] | None) -> str | None:
    if match is None:
        return None
    return match.group("a") or match.group("b")


def _tag(names: _Names, before: str, after: str) -> str | None:
    """The subject of a speech tag after the quotation, else of one before it."""
    found = _subject(names.tag_after.match(after)) if after else None
    if found is None and before:
        found = _subject(names.tag_before.search(before))
    return found


def _who(subject: str, names: _Names, state: _State) -> tuple[str | None, str]:
    """The speaker a tag's subject names, and the rule (``tag`` or ``pronoun``)."""
    pronoun = _PRONOUNS.get(subject.lower())
    if pronoun is not None:
        return state.last_of_gender.get(pronoun), "pronoun"
    return names.canonical(subject), "tag"


def _remember(names: _Names, state: _State, named: Sequence[str]) -> None:
    """Note the last character of each gender named (first-person characters are never one)."""
    for name in named:
        character = names.characters.get(name)
        if character is not None and character.gender and name not in names.first_person:
            state.last_of_gender[character.gender] = name


def _vocative(names: _Names, quote: str) -> str | None:
    """A character the quotation addresses: its name after a comma or at the start, before
    a comma, ``!``, ``?`` or the end."""
    if names.mention is None:
        return None
    for m in names.mention.finditer(quote):
        start, end = m.start(), m.end()
        before = quote[:start].rstrip()
        after = quote[end:].lstrip()
        long_enough = len(quote.split()) >= _MIN_VOCATIVE_WORDS
        opens = not before and long_enough  # "Pip, sir." answers a question; "Alice, come here at once!" calls
        if (opens or before.endswith(",")) and (not after or after[0] in ",!?.") and m.group() not in _FIRST_PERSON:
            return names.canonical(m.group())
    return None


def _span_tags(names: _Names, spans: Sequence[Span], state: _State, carried: tuple[str, str] | None) -> list[tuple[str, str] | None]:
    """Rules 1-3 for each span of a paragraph: tags and quotations carried on, then the
    untagged quotations of the paragraph from the tagged ones (forward, then back)."""
    found: list[tuple[str, str] | None] = [None] * len(spans)
    for i, span in enumerate(spans):
        if not span.quoted:
            continue
        if span.continued and carried is not None:
            found[i] = carried
            continue
        before = spans[i - 1].text if i > 0 and not spans[i - 1].quoted else ""
        after = spans[i + 1].text if i + 1 < len(spans) and not spans[i + 1].quoted else ""
        subject = _tag(names, before, after)
        if subject is not None:
            who, rule = _who(subject, names, state)
            if who is not None:
                found[i] = (who, rule)
    quotes = [i for i, s in enumerate(spans) if s.quoted]
    last = next((found[i] for i in quotes if found[i] is not None), None)
    for i in quotes:
        last = found[i] = found[i] or last
    return found


def attribute_chapter(
    paragraphs: Sequence[str], characters: Mapping[str, Character], *, default_speaker: str = UNKNOWN_SPEAKER
) -> list[list[Attribution]]:
    """Every span of each paragraph with its speaker and rule (see the module docstring)."""
    names = _Names(characters)
    state = _State()
    result: list[list[Attribution]] = []
    carried: tuple[str, str] | None = None  # the speaker and rule of a quotation running on
    for n, spans in enumerate(split_paragraphs(list(paragraphs))):
        quotes = [i for i, s in enumerate(spans) if s.quoted]
        found = _span_tags(names, spans, state, carried)
        narration = " ".join(s.text for s in spans if not s.quoted)
        named = names.mentioned(narration)
        if quotes and found[quotes[0]] is None:
            found = [_untagged(names, spans, quotes, narration, named, state, default_speaker) if s.quoted else None
                     for s in spans]
        _remember(names, state, named)
        for i in quotes:
            speaker, rule = found[i] or (default_speaker, "default")
            if rule == "tag":
                _remember(names, state, [speaker])
        result.append([
            Attribution(s, *(found[i] or (NARRATOR, NARRATION)), n) if s.quoted else Attribution(s, NARRATOR, NARRATION, n)
            for i, s in enumerate(spans)
        ])
        if quotes:
            state.turns.append((found[quotes[-1]] or (default_speaker, ""))[0])
            state.since_quote = 0
        else:
            state.since_quote += 1
        carried = found[quotes[-1]] if quotes and spans[-1].open_at_end else None
    return result


def _untagged(
    names: _Names, spans: Sequence[Span], quotes: Sequence[int], narration: str, named: Sequence[str], state: _State,
    default_speaker: str,
) -> tuple[str, str]:
    """Rules 4-7 for a paragraph whose quotations have no tag."""
    if len(set(named)) == 1:
        return named[0], "mention"
    pronoun = names.narration_pronoun.match(narration) if not named else None
    if pronoun is not None and (who := state.last_of_gender.get(_PRONOUNS[pronoun.group("a").lower()])):
        return who, "pronoun"
    conversing = state.since_quote <= _CONVERSATION_GAP
    addressed = next((a for i in quotes if (a := _vocative(names, spans[i].text))), None)
    if addressed is not None and conversing:
        other = next((t for t in reversed(state.turns) if t != addressed), None)
        if other is not None:
            return other, "vocative"
    if conversing and state.turns:
        other = next((t for t in reversed(state.turns[-_TURNS_BACK:]) if t != state.turns[-1]), None)
        if other is not None:
            return other, "turn"
    return default_speaker, "default"


def rule_accuracy(
    paragraphs: Sequence[str], speakers: Sequence[Sequence[str]], characters: Mapping[str, Character]
) -> dict[str, tuple[int, int]]:
    """How the sieve does against annotated ``speakers`` (the speaker of each quotation span of
    each paragraph, in order): rule -> (quotations it attributed right, quotations it attributed)."""
    tally: dict[str, list[int]] = {}
    for attributions, gold in zip(attribute_chapter(paragraphs, characters), speakers, strict=True):
        quoted = [a for a in attributions if a.span.quoted]
        if len(quoted) != len(gold):
            raise ValueError(f"paragraph {quoted[0].paragraph if quoted else '?'}: {len(quoted)} quotations found, "
                             f"{len(gold)} annotated")
        for a, truth in zip(quoted, gold):
            right_total = tally.setdefault(a.rule, [0, 0])
            right_total[0] += a.speaker == truth
            right_total[1] += 1
    return {rule: (right, total) for rule, (right, total) in tally.items()}
