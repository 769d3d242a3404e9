"""Language codes for the tags of delivered files.

Audio and video containers tag a track's language with a three-letter ISO 639-2 code, where a
manifest says ``en`` or ``en-US`` (BCP 47). :func:`iso639_2` gives the bibliographic form
(``ger``, ``fre``, ``chi``): the one Matroska's specification and most players' language menus
know; ffmpeg's MP4 muxer stores either form as the same code, and ID3 takes both.
"""

from __future__ import annotations

__all__ = ["iso639_2", "UNDETERMINED"]

# ISO 639-1 -> ISO 639-2/B (the bibliographic code where it differs from the terminological
# one: German ger, not deu). The 70 or so languages with the most speakers and subtitles.
_ISO639_1_TO_2B: dict[str, str] = {
    "af": "afr", "am": "amh", "ar": "ara", "az": "aze", "be": "bel", "bg": "bul", "bn": "ben",
    "bo": "tib", "bs": "bos", "ca": "cat", "cs": "cze", "cy": "wel", "da": "dan", "de": "ger",
    "el": "gre", "en": "eng", "eo": "epo", "es": "spa", "et": "est", "eu": "baq", "fa": "per",
    "fi": "fin", "fr": "fre", "ga": "gle", "gl": "glg", "gu": "guj", "ha": "hau",
    "he": "heb", "hi": "hin", "hr": "hrv", "hu": "hun", "hy": "arm", "id": "ind", "is": "ice",
    "it": "ita", "ja": "jpn", "jv": "jav", "ka": "geo", "kk": "kaz", "km": "khm", "kn": "kan",
    "ko": "kor", "ku": "kur", "ky": "kir", "la": "lat", "lb": "ltz", "lo": "lao", "lt": "lit",
    "lv": "lav", "mi": "mao", "mk": "mac", "ml": "mal", "mn": "mon", "mr": "mar", "ms": "may",
    "mt": "mlt", "my": "bur", "nb": "nob", "ne": "nep", "nl": "dut", "nn": "nno", "no": "nor",
    "pa": "pan", "pl": "pol", "ps": "pus", "pt": "por", "ro": "rum", "ru": "rus", "si": "sin",
    "sk": "slo", "sl": "slv", "so": "som", "sq": "alb", "sr": "srp", "sv": "swe", "sw": "swa",
    "ta": "tam", "te": "tel", "tg": "tgk", "th": "tha", "tl": "tgl", "tr": "tur", "uk": "ukr",
    "ur": "urd", "uz": "uzb", "vi": "vie", "xh": "xho", "yi": "yid", "yo": "yor", "zh": "chi",
    "zu": "zul",
    # withdrawn ISO 639-1 codes that old files and some locales still use
    "iw": "heb", "in": "ind", "ji": "yid",
}  # fmt: skip
UNDETERMINED = "und"
"""ISO 639-2's code for a language that is not known."""


def iso639_2(tag: str) -> str:
    """The ISO 639-2/B code of a language tag: ``en``, ``en-US``, ``EN``, ``eng`` -> ``eng``;
    ``de`` -> ``ger``; ``zh-CN`` -> ``chi``.

    The primary subtag of a BCP 47 tag (``_`` taken as ``-``) is looked up; a three-letter code
    passes through lower-cased (it is already ISO 639-2, B or T); anything else, an unknown
    two-letter code included, gives ``und``: a track tagged "undetermined" is honest, a wrong
    code is not.
    """
    primary = tag.strip().replace("_", "-").split("-")[0].lower()
    if primary in _ISO639_1_TO_2B:
        return _ISO639_1_TO_2B[primary]
    if len(primary) == 3 and primary.isascii() and primary.isalpha():
        return primary
    return UNDETERMINED
