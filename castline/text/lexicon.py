"""Pronunciation lexicons: how to say the names and words an engine gets wrong.

A lexicon maps a word or phrase as written (its *grapheme*) to how to say it: a *respelling*
in plain letters that any engine reads ("her my oh nee"), and/or *phonemes* in an alphabet
some engines read directly: ``ipa`` (espeak-ng's IPA, what Piper speaks) and ``arpabet``
(CMU ARPAbet with stress digits, what GPT-SoVITS's English front end speaks). Each engine
says which alphabet it reads (``Engine.phoneme_alphabet``); :meth:`Lexicon.apply` writes an
entry's phonemes in that alphabet as ``[[ phonemes ]]`` and falls back to the respelling.

Two file formats, chosen by suffix (:func:`read_lexicon`)::

    # lexicon.yaml
    Hermione: her MY oh nee            # a respelling
    Cheshire:
      say: chesher                     # respelling (optional)
      ipa: "tʃˈɛʃɚ"                    # espeak-ng IPA, for Piper (optional)
      arpabet: "CH EH1 SH ER0"         # for GPT-SoVITS (optional)

and W3C PLS 1.0 (``.pls``, also what an EPUB carries: :func:`parse_pls`), where ``<alias>``
is the respelling and ``<phoneme>`` the phonemes (alphabet ``ipa``; ``x-arpabet``,
``arpabet`` or ``x-cmu`` read as ``arpabet``; any other alphabet is kept under its own name
and never used by today's engines).

How entries match (they apply to the text as the script speaks it: after normalization,
numbers already spelled out):

- **Whole words and phrases only.** A word is a run of letters and digits, with apostrophes
  and hyphens inside it counting as part of it: "Ron" does not match "Ronald", "Ron-like" or
  "O'Ron". Whitespace in a phrase matches any run of whitespace ("New York" matches
  "New\\nYork"); punctuation in a grapheme must be in the text as written ("Dr. Who").
- **Possessives.** "Hermione's" (or "Hermione’s") matches the entry "Hermione": a respelling
  is said with "'s" after it, IPA and ARPAbet phonemes get the possessive's sound appended
  (/s/ after a voiceless consonant, /ɪz/ after a sibilant, /z/ otherwise; ``S``, ``AH0 Z``,
  ``Z``). An entry for "Hermione's" itself is preferred when there is one. Contractions look
  the same ("Hermione's here") and sound the same. Phonemes in any other alphabet are not
  applied to a possessive.
- **Case.** An entry written all in lower case matches the word in any case ("reading"
  matches "Reading" and "READING"); an entry with a capital letter matches only that exact
  spelling ("Reading" the town does not change "reading"). Where both exist, the exact one wins.
- **Longest first, left to right, no overlaps.** The text is read from left to right; at
  each word the longest entry that matches there wins ("New York City" before "New York"),
  and the words it covers are not matched again.
- **Usable entries only.** For an engine that reads ``ipa``, an entry with IPA is written
  as phonemes, else its respelling is used; an entry with neither (say, only ARPAbet) is
  skipped for that engine, and a shorter entry inside it may then match.
- **Respellings are spoken in lower case where they shout.** A word of two or more capitals
  in a respelling ("her MY oh nee": a stressed syllable, for a human reader) is given to the
  engine in lower case, since some engines (GPT-SoVITS) spell capitals out letter by letter.

Lexicons are untrusted input: a file is at most :data:`MAX_LEXICON_BYTES`, with at most
:data:`MAX_ENTRIES` entries, graphemes of at most :data:`MAX_GRAPHEME_CHARS` characters and
pronunciations of at most :data:`MAX_PRONUNCIATION_CHARS`. YAML is read by
:mod:`castline.yamlsafe` (no aliases, no duplicate keys, at most 100,000 values: some 11,000
entries in the long form); PLS by the ingest's safe XML parser (no DTD, no entities).
Problems raise :class:`~castline.errors.LexiconError` naming the file and the line.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from castline.errors import LexiconError, quoted
from castline.yamlsafe import YamlError, load_yaml

__all__ = [
    "LexiconEntry",
    "Lexicon",
    "read_lexicon",
    "parse_yaml_lexicon",
    "parse_pls",
    "phoneme_block",
    "PHONEME_BLOCK_RE",
    "ARPABET",
    "PLS_ALPHABETS",
    "MAX_LEXICON_BYTES",
    "MAX_ENTRIES",
    "MAX_GRAPHEME_CHARS",
    "MAX_PRONUNCIATION_CHARS",
]

MAX_LEXICON_BYTES = 2 << 20
"""Largest lexicon file read (2 MiB: tens of thousands of entries); larger ones are refused."""
MAX_ENTRIES = 20_000
"""Most entries (graphemes) one lexicon may hold."""
MAX_GRAPHEME_CHARS = 200
"""Longest grapheme (word or phrase), in characters."""
MAX_PRONUNCIATION_CHARS = 400
"""Longest respelling or phoneme string, in characters."""

PHONEME_BLOCK_RE = re.compile(r"\[\[(.*?)\]\]")
"""Phonemes inside a request's text, as :meth:`Lexicon.apply` writes them and as Piper reads
them (``piper.voice``'s own pattern): group 1 is the phonemes, with spaces around them."""

_ARPA_VOWELS = frozenset("AA AE AH AO AW AY EH ER EY IH IY OW OY UH UW".split())
_ARPA_CONSONANTS = frozenset("B CH D DH F G HH JH K L M N NG P R S SH T TH V W Y Z ZH".split())
ARPABET: frozenset[str] = frozenset({v + s for v in _ARPA_VOWELS for s in "012"} | _ARPA_CONSONANTS)
"""The CMU ARPAbet symbols a lexicon accepts: the 15 vowels, each with a stress digit (0 none,
1 primary, 2 secondary), and the 24 consonants."""

PLS_ALPHABETS = {"ipa": "ipa", "x-arpabet": "arpabet", "arpabet": "arpabet", "x-cmu": "arpabet"}
"""PLS ``alphabet`` values (lower case) and the lexicon alphabet they are read as; any other
is kept under its own name."""

_YAML_KEYS = {"say": "respelling", "ipa": "ipa", "arpabet": "arpabet"}
"""Keys of an entry written as a mapping, and what each gives."""

_TOKEN_RE = re.compile(r"\w+(?:['’\-\u2010\u2011]\w+)*|[^\w\s]")
"""A word (apostrophes and hyphens inside it belong to it) or one other visible character."""
_POSSESSIVE_RE = re.compile(r"(?<=\w)['’][sS]$")
"""The possessive (or "is") ending of a word: Hermione's."""
_WORD_RE = re.compile(r"\w{2,}")
_NOT_TEXT_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\[\]]")
"""Characters a grapheme or pronunciation may not hold: controls, and brackets (they would
open or close phoneme markup)."""


@dataclass(frozen=True)
class LexiconEntry:
    """How to say one word or phrase."""

    grapheme: str
    """The word or phrase as written in the text (whitespace collapsed to single spaces, NFC)."""
    respelling: str | None
    """How to say it in plain letters any engine reads ("her MY oh nee"); None if not given."""
    phonemes: Mapping[str, str] = field(default_factory=dict)
    """Alphabet -> phonemes: ``ipa`` (espeak-ng IPA, what Piper reads) and/or ``arpabet``
    (ARPAbet symbols with stress digits separated by spaces, what GPT-SoVITS reads)."""
    where: str = ""
    """Where it was written, for messages: ``lexicon.yaml line 3``, ``OEBPS/lexicon.pls line 12``."""

    def __hash__(self) -> int:  # phonemes is a dict: hash its items
        return hash((self.grapheme, self.respelling, tuple(sorted(self.phonemes.items())), self.where))


@dataclass(frozen=True)
class _Match:
    """Where an entry matched: ``text[start:end]`` is replaced, ``possessive`` follows it."""

    start: int
    end: int
    entry: LexiconEntry
    possessive: str


@dataclass(frozen=True)
class _Index:
    exact: dict[str, LexiconEntry]
    """Grapheme (whitespace collapsed, NFC) -> entry: the first entry for each grapheme."""
    folded: dict[str, LexiconEntry]
    """Lower-cased grapheme -> entry, for entries written all in lower case."""
    firsts: frozenset[str]
    """The lower-cased first token of every grapheme (most words start no entry)."""
    max_tokens: int


def _key(text: str) -> str:
    """The form graphemes are compared in: whitespace runs as one space, NFC."""
    key = " ".join(text.split())
    return key if key.isascii() else unicodedata.normalize("NFC", key)


def _tokens(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _TOKEN_RE.finditer(text)]


def phoneme_block(phonemes: str) -> str:
    """Phonemes written for an engine that reads them inside the text: ``[[ phonemes ]]``."""
    return f"[[ {phonemes} ]]"


def _ipa_possessive(phonemes: str) -> str:
    last = phonemes.rstrip("ˈˌːˑ ")
    if last.endswith(("tʃ", "dʒ", "s", "z", "ʃ", "ʒ")):
        return phonemes + "ɪz"
    if last.endswith(("p", "t", "k", "f", "θ")):
        return phonemes + "s"
    return phonemes + "z"


def _arpabet_possessive(phonemes: str) -> str:
    last = phonemes.split()[-1]
    if last in ("S", "Z", "SH", "ZH", "CH", "JH"):
        return phonemes + " AH0 Z"
    if last in ("P", "T", "K", "F", "TH"):
        return phonemes + " S"
    return phonemes + " Z"


_POSSESSIVES: dict[str, Callable[[str], str]] = {"ipa": _ipa_possessive, "arpabet": _arpabet_possessive}
"""How to add the possessive's sound to phonemes, per alphabet."""


def _spoken_respelling(respelling: str) -> str:
    """A respelling as engines get it: words of two or more capitals in lower case."""
    return _WORD_RE.sub(lambda m: m.group().lower() if m.group().isupper() else m.group(), respelling)


def _said(entry: LexiconEntry, alphabet: str | None, possessive: str) -> str | None:
    """What replaces a match of ``entry`` for an engine reading ``alphabet``; None if nothing usable."""
    phonemes = entry.phonemes.get(alphabet) if alphabet is not None else None
    if phonemes:
        if possessive:
            add = _POSSESSIVES.get(alphabet or "")
            if add is None:
                return None
            phonemes = add(phonemes)
        return phoneme_block(phonemes)
    if entry.respelling:
        return _spoken_respelling(entry.respelling) + possessive
    return None


@dataclass(frozen=True)
class Lexicon:
    """Entries in order of precedence (for one grapheme, the first entry counts)."""

    entries: tuple[LexiconEntry, ...] = ()

    @cached_property
    def _index(self) -> _Index:
        exact: dict[str, LexiconEntry] = {}
        folded: dict[str, LexiconEntry] = {}
        firsts: set[str] = set()
        max_tokens = 0
        for entry in self.entries:
            key = _key(entry.grapheme)
            spans = _tokens(key)
            if not spans or key in exact:
                continue
            exact[key] = entry
            if key == key.lower():
                folded.setdefault(key, entry)
            firsts.add(key[spans[0][0] : spans[0][1]].lower())
            max_tokens = max(max_tokens, len(spans))
        return _Index(exact, folded, frozenset(firsts), max_tokens)

    def _scan(self, text: str, usable: Callable[[LexiconEntry, str], bool]) -> list[_Match]:
        """The matches in ``text``, left to right, longest first, among entries ``usable``
        says yes to (given the entry and the possessive that follows it, or "")."""
        index = self._index
        if not index.exact:
            return []
        spans = _tokens(text)
        found: list[_Match] = []
        i = 0
        while i < len(spans):
            hit = self._match_at(text, spans, i, index, usable)
            if hit is None:
                i += 1
            else:
                found.append(hit[0])
                i += hit[1]
        return found

    @staticmethod
    def _match_at(
        text: str, spans: list[tuple[int, int]], i: int, index: _Index, usable: Callable[[LexiconEntry, str], bool]
    ) -> tuple[_Match, int] | None:
        """The longest usable match starting at token ``i`` and how many tokens it covers."""
        start = spans[i][0]
        first = text[start : spans[i][1]].lower()
        if first not in index.firsts and _POSSESSIVE_RE.sub("", first) not in index.firsts:
            return None
        for n in range(min(index.max_tokens, len(spans) - i), 0, -1):
            end = spans[i + n - 1][1]
            piece = text[start:end]
            tries = [(piece, "")]
            if _POSSESSIVE_RE.search(piece):
                tries.append((piece[:-2], piece[-2:]))
            for written, possessive in tries:
                key = _key(written)
                for entry in (index.exact.get(key), index.folded.get(key.lower())):
                    if entry is not None and usable(entry, possessive):
                        return _Match(start, start + len(written), entry, possessive), n
        return None

    def apply(self, text: str, alphabet: str | None) -> tuple[str, tuple[LexiconEntry, ...]]:
        """(``text`` as the engine should be given it, the entries applied, each once).

        Each match is replaced by the entry's phonemes in ``alphabet``, written as
        ``[[ phonemes ]]``, when the entry has them and ``alphabet`` is not None, else by its
        respelling; an entry with neither usable for this alphabet is not applied. The text is
        returned unchanged, with ``()``, when nothing applies.
        """
        pieces: list[str] = []
        applied: dict[LexiconEntry, None] = {}
        pos = 0
        for match in self._scan(text, lambda entry, possessive: _said(entry, alphabet, possessive) is not None):
            said = _said(match.entry, alphabet, match.possessive)
            assert said is not None  # _scan only returns usable matches
            pieces += [text[pos : match.start], said]
            pos = match.end + len(match.possessive)
            applied[match.entry] = None
        if not applied:
            return text, ()
        pieces.append(text[pos:])
        return "".join(pieces), tuple(applied)

    def matches(self, text: str) -> list[LexiconEntry]:
        """The entries that occur in ``text`` (each once, in order), whether or not an engine
        can use them: for "entries that match nothing" warnings."""
        seen = {m.entry: None for m in self._scan(text, lambda entry, possessive: True)}
        return list(seen)

    def merged(self, other: Lexicon) -> Lexicon:
        """This lexicon's entries, then ``other``'s for graphemes this one does not have: for
        the same grapheme (same spelling and case), this one's entry wins."""
        mine = {_key(e.grapheme) for e in self.entries}
        return Lexicon(self.entries + tuple(e for e in other.entries if _key(e.grapheme) not in mine))


# -- checking what a file says --------------------------------------------------------------


def _fail(path: str | Path, line: int | None, problem: str) -> LexiconError:
    return LexiconError(path, line, problem)


def _grapheme(raw: str, path: str | Path, line: int | None) -> str:
    grapheme = _key(raw)
    if not grapheme:
        raise _fail(path, line, "an empty word: the grapheme must have a letter or digit")
    if len(grapheme) > MAX_GRAPHEME_CHARS:
        raise _fail(path, line, f"grapheme {quoted(grapheme, 60)} is longer than {MAX_GRAPHEME_CHARS} characters")
    if _NOT_TEXT_RE.search(grapheme):
        raise _fail(path, line, f"grapheme {quoted(grapheme, 60)} holds a control character or a bracket")
    if not any(ch.isalnum() for ch in grapheme):
        raise _fail(path, line, f"grapheme {quoted(grapheme, 60)} has no letter or digit: it would never match a word")
    return grapheme


def _pronunciation(raw: str, what: str, grapheme: str, path: str | Path, line: int | None) -> str:
    text = " ".join(raw.split())
    if not text:
        raise _fail(path, line, f"{grapheme!r}: {what} is empty")
    if len(text) > MAX_PRONUNCIATION_CHARS:
        raise _fail(path, line, f"{grapheme!r}: {what} is longer than {MAX_PRONUNCIATION_CHARS} characters")
    if _NOT_TEXT_RE.search(text):
        raise _fail(path, line, f"{grapheme!r}: {what} {quoted(text, 60)} holds a control character or a bracket")
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def _respelling(raw: str, grapheme: str, path: str | Path, line: int | None) -> str:
    said = _pronunciation(raw, "the respelling", grapheme, path, line)
    if not any(ch.isalpha() for ch in said):
        raise _fail(path, line, f"{grapheme!r}: the respelling {quoted(said, 60)} has no letter")
    return said


def _arpabet(raw: str, grapheme: str, path: str | Path, line: int | None) -> str:
    symbols = _pronunciation(raw, "arpabet", grapheme, path, line).upper().split()
    for symbol in symbols:
        if symbol in ARPABET:
            continue
        if symbol in _ARPA_VOWELS:
            hint = f"a vowel takes a stress digit: {symbol}0, {symbol}1 or {symbol}2"
        else:
            hint = "ARPAbet symbols are separated by spaces: CH EH1 SH ER0"
        raise _fail(path, line, f"{grapheme!r}: {quoted(symbol, 40)} is not an ARPAbet symbol ({hint})")
    return " ".join(symbols)


def _ipa(raw: str, grapheme: str, path: str | Path, line: int | None) -> str:
    text = raw.strip()
    if len(text) > 2 and text[0] == text[-1] == "/":  # /tʃˈɛʃɚ/ as dictionaries write it
        text = text[1:-1]
    return _pronunciation(text, "ipa", grapheme, path, line)


def _phonemes(alphabet: str, raw: str, grapheme: str, path: str | Path, line: int | None) -> str:
    """Phonemes checked as their alphabet requires (ARPAbet symbol by symbol)."""
    if alphabet == "arpabet":
        return _arpabet(raw, grapheme, path, line)
    if alphabet == "ipa":
        return _ipa(raw, grapheme, path, line)
    return _pronunciation(raw, f"phonemes ({alphabet})", grapheme, path, line)


def _check_count(count: int, path: str | Path, line: int | None) -> None:
    if count > MAX_ENTRIES:
        raise _fail(path, line, f"more than {MAX_ENTRIES} entries; split the lexicon or keep the words it needs")


# -- YAML ---------------------------------------------------------------------------------


def _key_lines(text: str) -> list[tuple[int, dict[str, int]]]:
    """For each top-level key in order: its line, and the lines of its value's keys (1-based).

    Called only on text :func:`~castline.yamlsafe.load_yaml` accepted (no aliases, bounded),
    so composing it again is safe.
    """
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    root = yaml.compose(text, Loader=loader)
    out: list[tuple[int, dict[str, int]]] = []
    if not isinstance(root, yaml.MappingNode):
        return out
    for key_node, value_node in root.value:
        inner: dict[str, int] = {}
        if isinstance(value_node, yaml.MappingNode):
            for sub_key, _ in value_node.value:
                inner.setdefault(str(sub_key.value), sub_key.start_mark.line + 1)
        out.append((key_node.start_mark.line + 1, inner))
    return out


def _not_text(value: object) -> str:
    kind = "nothing" if value is None else type(value).__name__
    return f"{quoted(value, 40)} is {kind}, not text (quote it: YAML reads yes, no, on, off, null and numbers otherwise)"


def parse_yaml_lexicon(text: str, where: str | Path) -> Lexicon:
    """A lexicon from castline's YAML format (see the module docstring); ``where`` names the
    file in messages and entries."""
    try:
        data = load_yaml(text, "pronunciation lexicon")
    except YamlError as exc:
        raise _fail(where, exc.line, f"not a usable YAML lexicon: {exc.problem}") from None
    if data is None:
        return Lexicon()
    if not isinstance(data, dict):
        raise _fail(where, 1, "a lexicon is a YAML mapping of words to how to say them (Hermione: her MY oh nee)")
    _check_count(len(data), where, None)
    lines = _key_lines(text)
    entries: list[LexiconEntry] = []
    first_line: dict[str, int] = {}
    for (raw_key, value), (line, sub_lines) in zip(data.items(), lines):
        if not isinstance(raw_key, str):
            raise _fail(where, line, f"the word {_not_text(raw_key)}")
        grapheme = _grapheme(raw_key, where, line)
        if grapheme in first_line:
            raise _fail(where, line, f"{grapheme!r} is given twice (first on line {first_line[grapheme]})")
        first_line[grapheme] = line
        entries.append(_yaml_entry(grapheme, value, where, line, sub_lines))
    return Lexicon(tuple(entries))


def _yaml_entry(grapheme: str, value: object, path: str | Path, line: int, sub_lines: dict[str, int]) -> LexiconEntry:
    here = f"{path} line {line}"
    if isinstance(value, str):
        return LexiconEntry(grapheme, _respelling(value, grapheme, path, line), {}, here)
    if value is None:
        raise _fail(path, line, f"{grapheme!r}: no pronunciation (give a respelling, or {', '.join(_YAML_KEYS)})")
    if not isinstance(value, dict):
        raise _fail(path, line, f"{grapheme!r}: {_not_text(value)}")
    respelling = None
    phonemes: dict[str, str] = {}
    for key, part in value.items():
        at = sub_lines.get(str(key), line)
        if key not in _YAML_KEYS:
            raise _fail(path, at, f"{grapheme!r}: unknown key {quoted(key, 40)} (known: {', '.join(_YAML_KEYS)})")
        if not isinstance(part, str):
            raise _fail(path, at, f"{grapheme!r}: {key}: {_not_text(part)}")
        if key == "say":
            respelling = _respelling(part, grapheme, path, at)
        else:
            phonemes[key] = _phonemes(key, part, grapheme, path, at)
    if respelling is None and not phonemes:
        raise _fail(path, line, f"{grapheme!r}: give at least one of {', '.join(_YAML_KEYS)}")
    return LexiconEntry(grapheme, respelling, phonemes, here)


# -- W3C PLS ------------------------------------------------------------------------------


def _pls_alphabet(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    name = raw.strip().lower()
    return PLS_ALPHABETS.get(name, name)


def _first_preferred(items: Iterable[tuple[bool, str, str]]) -> dict[str, str]:
    """Per alphabet, the text marked ``prefer="true"``, else the first one."""
    chosen: dict[str, tuple[bool, str]] = {}
    for prefer, alphabet, text in items:
        if alphabet not in chosen or (prefer and not chosen[alphabet][0]):
            chosen[alphabet] = (prefer, text)
    return {alphabet: text for alphabet, (_, text) in chosen.items()}


def parse_pls(data: bytes, where: str) -> Lexicon:
    """A lexicon from a W3C Pronunciation Lexicon Specification 1.0 document.

    Every ``<grapheme>`` of a ``<lexeme>`` gets the lexeme's pronunciations: its ``<alias>``
    as the respelling and its ``<phoneme>``\\ s per alphabet (their own ``alphabet``, else the
    ``<lexicon>``'s), the one with ``prefer="true"`` or else the first of each. When several
    lexemes spell the same grapheme (homographs told apart by ``role``, which castline cannot
    tell), the first counts. A DOCTYPE or an entity declaration is refused, as are documents
    over :data:`MAX_LEXICON_BYTES`. ``where`` names the document in messages (``OEBPS/a.pls``).
    """
    from tasks.ingest.safexml import XmlProblem, local_name, parse_xml, text_content

    if len(data) > MAX_LEXICON_BYTES:
        raise _fail(where, None, f"a pronunciation lexicon of {len(data)} bytes; at most {MAX_LEXICON_BYTES} are read")
    try:
        root = parse_xml(data, strict=True).root
    except XmlProblem as exc:
        raise _fail(where, None, f"not a usable PLS document: {exc}") from None
    if root.getroottree().docinfo.doctype:
        raise _fail(where, None, "a DOCTYPE is not allowed in a pronunciation lexicon (PLS needs none)")
    if local_name(root) != "lexicon":
        raise _fail(where, root.sourceline, f"not a PLS document: the root element is <{local_name(root)}>, not <lexicon>")
    default_alphabet = _pls_alphabet(root.get("alphabet"))
    entries: list[LexiconEntry] = []
    seen: set[str] = set()
    for lexeme in root:
        if local_name(lexeme) != "lexeme":
            continue
        line = lexeme.sourceline
        graphemes: list[str] = []
        phonemes: list[tuple[bool, str, str]] = []
        aliases: list[tuple[bool, str, str]] = []
        for part in lexeme:
            name = local_name(part)
            prefer = (part.get("prefer") or "").strip() == "true"
            if name == "grapheme":
                graphemes.append(_grapheme(text_content(part), where, part.sourceline))
            elif name == "phoneme":
                alphabet = _pls_alphabet(part.get("alphabet")) or default_alphabet
                if alphabet is None:
                    raise _fail(where, part.sourceline, "a <phoneme> with no alphabet (and none on the <lexicon>)")
                phonemes.append((prefer, alphabet, text_content(part)))
            elif name == "alias":
                aliases.append((prefer, "alias", text_content(part)))
        if not graphemes:
            raise _fail(where, line, "a <lexeme> with no <grapheme>")
        if not phonemes and not aliases:
            raise _fail(where, line, f"{graphemes[0]!r}: a <lexeme> with no <phoneme> or <alias>")
        alias = _first_preferred(aliases).get("alias")
        respelling = None if alias is None else _respelling(alias, graphemes[0], where, line)
        said = {a: _phonemes(a, text, graphemes[0], where, line) for a, text in _first_preferred(phonemes).items()}
        for grapheme in graphemes:
            if grapheme in seen:
                continue
            seen.add(grapheme)
            _check_count(len(entries) + 1, where, line)
            entries.append(LexiconEntry(grapheme, respelling, said, f"{where} line {line}"))
    return Lexicon(tuple(entries))


def read_lexicon(path: Path) -> Lexicon:
    """Read a lexicon file: castline YAML (``.yaml``/``.yml``) or W3C PLS (``.pls``, ``.xml``).

    Raises :class:`~castline.errors.LexiconError` naming the file (and the line) for anything
    that cannot be used, including a missing file and one over :data:`MAX_LEXICON_BYTES`.
    """
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".pls", ".xml"):
        raise _fail(path, None, "a pronunciation lexicon is a .yaml/.yml (castline) or .pls (W3C PLS) file")
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_LEXICON_BYTES + 1)
    except FileNotFoundError:
        raise _fail(path, None, "pronunciation lexicon not found") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise _fail(path, None, f"cannot read pronunciation lexicon: {getattr(exc, 'strerror', None) or exc}") from None
    if len(data) > MAX_LEXICON_BYTES:
        raise _fail(path, None, f"larger than {MAX_LEXICON_BYTES} bytes; a pronunciation lexicon is never that large")
    if suffix in (".pls", ".xml"):
        return parse_pls(data, str(path))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise _fail(path, line, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    return parse_yaml_lexicon(text, path)
