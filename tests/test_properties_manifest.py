"""Property tests: whatever a manifest or voice profile file holds, loading it ends in a loaded
manifest (profile) or a CastlineError, quickly, with a message that quotes little of the input.

Every example runs with one of castline.yamlsafe's loaders (libyaml's events or PyYAML's
pure-Python parser), drawn like any other input. Runs derandomized (the same examples every
time, no example database written into the checkout);
``CASTLINE_HYPOTHESIS_EXAMPLES=1500 CASTLINE_HYPOTHESIS_RANDOM=1`` explores further.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from castline import yamlsafe
from castline.errors import CastlineError, ManifestError, VoiceError
from castline.manifest import AudiobookManifest, load_manifest
from voices.profile import VoiceProfile, load_profile

EXAMPLES = int(os.environ.get("CASTLINE_HYPOTHESIS_EXAMPLES", "200"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=timedelta(seconds=5),  # loading any input is bounded; a hang or a blow-up fails here
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,  # write nothing into the checkout
    derandomize=not os.environ.get("CASTLINE_HYPOTHESIS_RANDOM"),
)

MINIMAL: dict[str, Any] = {
    "kind": "audiobook",
    "title": "Alice's Adventures in Wonderland",
    "author": "Lewis Carroll",
    "language": "en",
    "source": "alice.epub",
    "voices": {"narrator": "joe"},
    "output": {"dir": "out", "formats": ["m4b", "mp3"]},
}
MINIMAL_TEXT = yaml.safe_dump(MINIMAL, sort_keys=False)
TAG_KEYS = ("title", "author", "narrator", "publisher", "description", "genre")
CONTROL_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")

loaders = st.sampled_from(sorted(yamlsafe._LOADERS))


@contextlib.contextmanager
def using(loader: str) -> Iterator[None]:
    saved = yamlsafe._LOADER
    yamlsafe._LOADER = yamlsafe._LOADERS[loader]
    try:
        yield
    finally:
        yamlsafe._LOADER = saved


@contextlib.contextmanager
def manifest_file(content: str | bytes, name: str = "book.yaml") -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="castline-prop-") as tmp:
        path = Path(tmp) / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8", errors="surrogatepass")
        else:
            path.write_bytes(content)
        yield path


def check_message(exc: CastlineError, path: Path) -> str:
    message = str(exc)
    assert message.startswith(f"{path}: "), message
    assert len(message) < len(str(path)) + 700, message
    assert "\n" not in message, message
    return message


def load(content: str | bytes, loader: str) -> AudiobookManifest | ManifestError:
    """The manifest, or the ManifestError; any other exception fails the test."""
    with manifest_file(content) as path, using(loader):
        try:
            manifest = load_manifest(path)
        except ManifestError as exc:
            check_message(exc, path)
            return exc
    assert isinstance(manifest, AudiobookManifest)
    check_loaded(manifest)
    return manifest


def check_loaded(m: AudiobookManifest) -> None:
    """What a manifest that loads always satisfies."""
    for key in TAG_KEYS:
        value = getattr(m, key)
        if value is not None:
            text = value.replace("\t", "").replace("\n", "") if key == "description" else value
            assert not CONTROL_RE.search(text) and "\t" not in text and "\n" not in text, (key, value)
    assert m.year is None or (type(m.year) is int and 0 <= m.year <= 9999)
    select = m.chapters.select
    assert select is None or (select and all(type(i) in (int, str) for i in select))
    assert all(type(v) is int for v in (m.engine.seed, m.engine.retries))
    assert "narrator" in m.voices


# -- any bytes, any text ----------------------------------------------------------------------------


@SETTINGS
@given(data=st.binary(max_size=3000), loader=loaders)
def test_any_bytes(data: bytes, loader: str) -> None:
    load(data, loader)


@SETTINGS
@given(prefix=st.sampled_from([b"", MINIMAL_TEXT.encode()]), data=st.binary(max_size=500), loader=loaders)
def test_a_manifest_followed_by_any_bytes(prefix: bytes, data: bytes, loader: str) -> None:
    load(prefix + data, loader)


@SETTINGS
@given(text=st.text(max_size=2000), loader=loaders)
def test_any_text(text: str, loader: str) -> None:
    load(text, loader)


# -- YAML-ish token soup ----------------------------------------------------------------------------

TOKENS = [
    "kind", "audiobook", "title", "author", "language", "source", "voices", "narrator", "joe", "chapters",
    "select", "output", "formats", "year", "engine", "seed", "pauses", "tail", "description", "en",
    ":", ": ", " ", "  ", "\n", "\n  ", "\n    ", "- ", "[", "]", "{", "}", ",", "? ", "#", "---\n", "...\n",
    "&a ", "*a", "&b ", "*b", "<<: ", "<<: *a", "!!int ", "!!str ", "!!float ", "!!bool ", "!!binary ",
    "!!timestamp ", "!!set ", "!!omap ", "!!python/object:os.system ", "!x ", "!<tag:yaml.org,2002:str> ",
    '"', "'", '"\\0"', '"\\e"', '"\\x85"', '"\\ud800"', '"\\U0010FFFF"', "|\n", ">-\n", "true", "false", "yes",
    "no", "~", "null", "0x1F", "0o17", "1_000", "1:20:30", "1e400", ".nan", "-.inf", "2024-13-45",
    "2001-12-14t21:59:43.10-99:99", "=", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "\t", "\ufeff", "é", "\u2028",
]
token_soup = st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=60).map("".join)


@SETTINGS
@given(prefix=st.sampled_from(["", MINIMAL_TEXT]), soup=token_soup, loader=loaders)
def test_yaml_token_soup(prefix: str, soup: str, loader: str) -> None:
    load(prefix + soup, loader)


@SETTINGS
@given(lines=st.lists(st.integers(0, 20)), soup=token_soup, loader=loaders)
def test_token_soup_inside_a_valid_manifest(lines: list[int], soup: str, loader: str) -> None:
    text = MINIMAL_TEXT.splitlines(keepends=True)
    for at in lines:
        text.insert(at % (len(text) + 1), soup)
    load("".join(text), loader)


# -- structures: any values at the manifest's keys ------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**120), max_value=10**120)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(["", "audiobook", "en", "joe", "m4b", "mp3", "5-9", "64k", "out", "../x", "/tmp/x", "3"])
    | st.binary(max_size=10)
    | st.dates()
    | st.datetimes()
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
PATHS = [
    ("kind",), ("title",), ("author",), ("language",), ("source",), ("narrator",), ("year",), ("publisher",),
    ("description",), ("genre",), ("cover",), ("voices",), ("voices", "narrator"), ("voices", "alice"),
    ("chapters",), ("chapters", "select"), ("chapters", "front_matter"), ("chapters", "speak_titles"),
    ("pauses", "tail"), ("pauses", "sentence"), ("mastering", "rms_db"), ("mastering", "peak_db"),
    ("engine",), ("engine", "seed"), ("engine", "batch_size"), ("engine", "max_chars"), ("engine", "retries"),
    ("output",), ("output", "dir"), ("output", "formats"), ("output", "name"), ("output", "mp3_bitrate"),
    ("unknown",), ("output", "fromats"),
]


def put(raw: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = raw
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def dump(raw: Any) -> str:
    return yaml.safe_dump(raw, allow_unicode=True, sort_keys=False)


@SETTINGS
@given(changes=st.lists(st.tuples(st.sampled_from(PATHS), values), max_size=4), loader=loaders)
def test_any_values_at_the_manifest_keys(changes: list[tuple[tuple[str, ...], Any]], loader: str) -> None:
    raw = yaml.safe_load(MINIMAL_TEXT)
    for path, value in changes:
        put(raw, path, value)
    result = load(dump(raw), loader)
    if not changes:
        assert isinstance(result, AudiobookManifest)


@SETTINGS
@given(
    select=st.lists(st.integers(-3, 30) | st.booleans() | st.text(max_size=6) | st.floats() | st.none(), max_size=4),
    loader=loaders,
)
def test_chapter_selections(select: list[Any], loader: str) -> None:
    raw = yaml.safe_load(MINIMAL_TEXT)
    raw["chapters"] = {"select": select}
    result = load(dump(raw), loader)
    invalid = [(n, i) for n, i in enumerate(select) if not ((type(i) is int and i >= 1) or type(i) is str)]
    assert isinstance(result, AudiobookManifest) == (bool(select) and not invalid), (select, result)
    if not select:
        assert "chapters.select: an empty selection selects nothing" in str(result)
    elif invalid:
        n, item = invalid[0]
        assert f"chapters.select.{n}: not a valid chapter: " in str(result)
        assert ("is a yes/no value" in str(result)) == (type(item) is bool)


@SETTINGS
@given(key=st.sampled_from(TAG_KEYS), text=st.text(max_size=40), loader=loaders)
def test_control_characters_in_tags(key: str, text: str, loader: str) -> None:
    raw = yaml.safe_load(MINIMAL_TEXT)
    raw[key] = text
    result = load(dump(raw), loader)
    text = yaml.safe_load(dump(raw))[key]  # what YAML delivers (line breaks such as U+0085 fold)
    allowed = text.replace("\t", "").replace("\n", "") if key == "description" else text
    bad = CONTROL_RE.search(allowed) or (key != "description" and ("\t" in text or "\n" in text))
    if bad:
        assert isinstance(result, ManifestError)
        assert str(result).split(": ", 1)[1].startswith(f"{key}: control character U+")
    elif isinstance(result, ManifestError):  # an empty title or author is refused for its own reason
        assert not text and key in ("title", "author"), result


# -- long values ------------------------------------------------------------------------------------

long_strings = st.builds(
    lambda ch, n: ch * n, st.characters(exclude_categories=["Cs"]), st.integers(min_value=201, max_value=150_000)
)


@SETTINGS
@given(path=st.sampled_from(PATHS), value=long_strings, as_key=st.booleans(), loader=loaders)
def test_long_values_are_quoted_shortly(path: tuple[str, ...], value: str, as_key: bool, loader: str) -> None:
    raw = yaml.safe_load(MINIMAL_TEXT)
    put(raw, path, {value: 1} if as_key else value)
    result = load(dump(raw), loader)
    if isinstance(result, ManifestError):
        # A run of the value longer than ~200 characters never appears in the message, nor does
        # its repr (which is what most messages quote).
        assert value[:250] not in str(result) and repr(value)[1:251] not in str(result), result
    elif path == ("title",) and not as_key:
        assert result.title == value


# -- hostile YAML: alias bombs, merge keys, duplicate keys, deep nesting ----------------------------


@st.composite
def alias_bombs(draw: st.DrawFn) -> str:
    levels = draw(st.integers(1, 9))
    width = draw(st.integers(2, 12))
    flow = draw(st.booleans())
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for n in range(1, levels + 1):
        refs = [f"*l{n - 1}"] * width
        if flow:
            lines.append(f"l{n}: &l{n} [{', '.join(refs)}]")
        else:
            lines.append(f"l{n}: &l{n}\n" + "".join(f"  - {r}\n" for r in refs).rstrip("\n"))
    key = draw(st.sampled_from(["kind", "title", "voices", "chapters", "description", "unknown"]))
    bomb = "\n".join(lines) + f"\n{key}: *l{levels}\n"
    return draw(st.sampled_from([bomb, MINIMAL_TEXT + bomb, bomb + MINIMAL_TEXT]))


@SETTINGS
@given(text=alias_bombs(), loader=loaders)
def test_alias_bombs_are_refused(text: str, loader: str) -> None:
    result = load(text, loader)
    assert isinstance(result, ManifestError)
    assert "aliases (*name) are not allowed in a manifest" in str(result)
    assert re.search(r": line \d+, column \d+: aliases", str(result))


@SETTINGS
@given(
    key=st.sampled_from([*MINIMAL, "year", "narrator", "chapters"]),
    value=st.sampled_from(["x", "1", "[1]", "{a: 1}", "''", "true"]),
    at=st.integers(0, 20),
    loader=loaders,
)
def test_duplicate_top_level_keys_are_refused(key: str, value: str, at: int, loader: str) -> None:
    lines = [line for line in MINIMAL_TEXT.splitlines(keepends=True)]
    starts = [i for i, line in enumerate(lines) if not line.startswith(" ")] + [len(lines)]
    at = starts[at % len(starts)]
    lines[at:at] = [f"{key}: {value}\n", f"{key}: {value}\n"] if key not in MINIMAL else [f"{key}: {value}\n"]
    result = load("".join(lines), loader)
    assert isinstance(result, ManifestError)
    assert f"duplicate key {key!r} (first given on line" in str(result)


@SETTINGS
@given(depth=st.integers(1, 200), opener=st.sampled_from(["[", "{a: ", "- ", "? "]), loader=loaders)
def test_deep_nesting_is_bounded(depth: int, opener: str, loader: str) -> None:
    text = "".join(("  " * i if opener in ("- ", "? ") else "") + opener + ("\n" if opener in ("- ", "? ") else "") for i in range(depth))
    result = load(text, loader)
    assert isinstance(result, ManifestError)


@SETTINGS
@given(text=st.text(max_size=600) | token_soup | alias_bombs(), loader=loaders)
def test_voice_profiles_load_or_fail_cleanly(text: str, loader: str) -> None:
    with manifest_file(text, "voice.yaml") as path, using(loader):
        try:
            profile = load_profile(path)
        except VoiceError as exc:
            check_message(exc, path)
        else:
            assert isinstance(profile, VoiceProfile)


def test_structures_cover_dates_and_binary() -> None:
    # the value strategy above reaches every YAML type SafeLoader constructs
    raw = {"title": b"\x00bytes", "year": date(2020, 1, 1), "narrator": datetime(2020, 1, 1, 12)}
    result = load(dump({**yaml.safe_load(MINIMAL_TEXT), **raw}), "python")
    assert isinstance(result, ManifestError)


@pytest.mark.parametrize("loader", sorted(yamlsafe._LOADERS))
def test_loaders_agree_on_a_valid_manifest(loader: str) -> None:
    result = load(MINIMAL_TEXT, loader)
    assert isinstance(result, AudiobookManifest) and result.output.formats == ["m4b", "mp3"]
