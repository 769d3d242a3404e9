from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest
import yaml

from castline import yamlsafe
from castline.errors import ManifestError, VoiceError, quoted, shorten
from castline.manifest import MANIFEST_KINDS, MAX_MANIFEST_BYTES, AudiobookManifest, load_manifest
from castline.project import load_project
from voices.profile import MAX_PROFILE_BYTES, find_profile, load_profile

MINIMAL = """\
kind: audiobook
title: "Alice's Adventures in Wonderland"
author: Lewis Carroll
language: en
source: alice.epub
voices:
  narrator: joe
output:
  dir: out
  formats: [m4b, mp3]
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "alice.epub").write_bytes(b"PK")
    path = tmp_path / "book.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    return path


def audiobook(path: Path) -> AudiobookManifest:
    """The audiobook manifest at ``path``."""
    m = load_manifest(path)
    assert isinstance(m, AudiobookManifest)
    return m


def edit(path: Path, change) -> Path:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(raw)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_minimal_manifest_from_the_issue_loads_with_defaults(project: Path) -> None:
    p = load_project(project)
    assert isinstance(p.manifest, AudiobookManifest)
    assert p.manifest.title == "Alice's Adventures in Wonderland"
    assert p.inputs == {"source": project.parent / "alice.epub"}
    assert p.output_dir == project.parent / "out"
    assert p.manifest.output.formats == ["m4b", "mp3"]
    assert p.manifest.mastering.rms_db == -20.0 and p.manifest.output.mp3_bitrate == "192k"
    assert p.manifest.chapters.front_matter is False


def test_round_trip_through_dict(project: Path) -> None:
    m = load_manifest(project)
    assert AudiobookManifest.model_validate(m.model_dump()) == m
    assert AudiobookManifest.model_validate(yaml.safe_load(yaml.safe_dump(m.model_dump()))) == m


def test_misspelt_key_names_file_key_and_suggestion(project: Path) -> None:
    edit(project, lambda r: r["output"].update(fromats=["m4b"]))
    with pytest.raises(ManifestError) as err:
        load_manifest(project)
    assert str(project) in str(err.value)
    assert "output.fromats" in str(err.value) and "did you mean 'formats'" in str(err.value)


def test_misspelt_top_level_key(project: Path) -> None:
    edit(project, lambda r: r.update(auther="x"))
    with pytest.raises(ManifestError, match=r"auther: unknown key \(did you mean 'author'\?\)"):
        load_manifest(project)


@pytest.mark.parametrize(
    "change, key, problem",
    [
        (lambda r: r.pop("title"), "title", "required key is missing"),
        (lambda r: r.update(voices={"reader": "joe"}), "voices", "narrator"),
        (lambda r: r["output"].update(formats=["wav"]), "output.formats.0", "'m4b' or 'mp3'"),
        (lambda r: r.update(mastering={"rms_db": -10}), "mastering.rms_db", "less than or equal to -18"),
        (lambda r: r.update(pauses={"tail": 9}), "pauses.tail", "less than or equal to 5"),
        (lambda r: r.update(kind="podcast"), "kind", "unsupported kind 'podcast' (known kinds: audiobook, dub)"),
        (lambda r: r.pop("kind"), "kind", "required key is missing (known kinds: audiobook, dub)"),
        (lambda r: r.update(chapters={"select": [{"a": 1}]}), "chapters.select.0", "valid"),
    ],
)
def test_errors_name_the_key_and_the_problem(project: Path, change, key: str, problem: str) -> None:
    edit(project, change)
    with pytest.raises(ManifestError) as err:
        load_manifest(project)
    message = str(err.value)
    assert message.startswith(f"{project}: {key}"), message
    assert problem in message


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed", encoding="utf-8")
    with pytest.raises(ManifestError, match="not valid YAML"):
        load_manifest(bad)
    bad.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="must be a YAML mapping"):
        load_manifest(bad)
    with pytest.raises(ManifestError, match="manifest not found"):
        load_manifest(tmp_path / "missing.yaml")


def test_missing_source_is_named(project: Path) -> None:
    (project.parent / "alice.epub").unlink()
    with pytest.raises(ManifestError, match=r"source: file not found: .*alice\.epub"):
        load_project(project)


@pytest.mark.parametrize("out", ["../elsewhere", "/tmp/castline-escape", ".", "out/../../x"])
def test_output_dir_outside_the_project_is_refused(project: Path, out: str) -> None:
    edit(project, lambda r: r["output"].update(dir=out))
    with pytest.raises(ManifestError, match="output.dir: .* outside the project directory"):
        load_project(project)


def test_output_dir_symlink_that_escapes_is_refused(project: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    os.symlink(elsewhere, project.parent / "link")
    edit(project, lambda r: r["output"].update(dir="link/out"))
    with pytest.raises(ManifestError, match="outside the project directory"):
        load_project(project)


def test_command_line_output_dir_is_trusted(project: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("cli-out")
    assert load_project(project, elsewhere).output_dir == elsewhere


def test_each_kind_has_its_model_and_a_literal_kind() -> None:
    for kind, model in MANIFEST_KINDS.items():
        assert model.model_fields["kind"].annotation.__args__ == (kind,)  # type: ignore[union-attr]


def test_cover_is_an_input_file_when_given(project: Path) -> None:
    edit(project, lambda r: r.update(cover="cover.jpg"))
    with pytest.raises(ManifestError, match=r"cover: file not found: .*cover\.jpg"):
        load_project(project)
    (project.parent / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    assert load_project(project).inputs["cover"] == project.parent / "cover.jpg"


# -- hostile YAML: castline.yamlsafe ---------------------------------------------------------------

BILLION_LAUGHS = """\
a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
kind: *i
"""


@pytest.fixture(params=sorted(yamlsafe._LOADERS))
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test below runs with libyaml's events and with PyYAML's pure-Python parser."""
    monkeypatch.setattr(yamlsafe, "_LOADER", yamlsafe._LOADERS[request.param])
    return str(request.param)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "book.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_alias_bomb_is_refused_at_once_with_its_line(tmp_path: Path, loader: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ManifestError) as err:
        load_manifest(write(tmp_path, BILLION_LAUGHS))
    assert time.perf_counter() - start < 1.0
    message = str(err.value)
    assert message == (
        f"{tmp_path / 'book.yaml'}: line 2, column 8: aliases (*name) are not allowed in a manifest "
        "(found *a); write the value out in full"
    )


def test_an_alias_in_a_valid_manifest_and_merge_keys_are_refused(tmp_path: Path, loader: str) -> None:
    aliased = MINIMAL.replace("author: Lewis Carroll", "author: &who Lewis Carroll\nnarrator: *who")
    with pytest.raises(ManifestError, match=r"line 4, column 11: aliases \(\*name\) are not allowed in a manifest"):
        load_manifest(write(tmp_path, aliased))
    merged = MINIMAL + "chapters:\n  <<: {front_matter: true}\n"
    with pytest.raises(ManifestError, match=r"line 12, column 3: merge keys \(<<\) are not allowed in a manifest"):
        load_manifest(write(tmp_path, merged))
    anchored = MINIMAL.replace("author: Lewis Carroll", "author: &who Lewis Carroll")
    assert audiobook(write(tmp_path, anchored)).author == "Lewis Carroll"  # an anchor alone is harmless


@pytest.mark.parametrize(
    "extra, message",
    [
        ("title: Again\n", "line 11, column 1: duplicate key 'title' (first given on line 2)"),
        ("chapters:\n  select: [1]\n  select: [2]\n", "line 13, column 3: duplicate key 'select' (first given on line 12)"),
        ("voices:\n  narrator: joe\n", "line 11, column 1: duplicate key 'voices' (first given on line 6)"),
    ],
)
def test_duplicate_keys_are_refused_naming_the_key_and_lines(tmp_path: Path, loader: str, extra: str, message: str) -> None:
    with pytest.raises(ManifestError) as err:
        load_manifest(write(tmp_path, MINIMAL + extra))
    assert str(err.value) == f"{tmp_path / 'book.yaml'}: {message}"


@pytest.mark.parametrize(
    "text, problem",
    [
        ("[" * 10_000, "nested more than 32 levels deep"),
        ("a: 1\n---\nb: 2\n", "a second document in the stream; a manifest is one YAML document"),
        ("year: " + "9" * 5000 + "\n", "a number of 5000 characters; at most 100 are allowed"),
        ("year: 1" + ":59" * 60 + "\n", "a number of 181 characters"),  # sexagesimal: quadratic time
        ("year: 2024-13-45\n", "not a valid date or time: month must be in 1..12"),
        # found by tests/test_properties_manifest.py: PyYAML's constructors raise IndexError,
        # KeyError, AttributeError or ValueError (not YAMLError) for these
        ("year: !!int\n", "line 1, column 7: '' is not a valid int"),
        ("year: !!float ''\n", "line 1, column 7: '' is not a valid float"),
        ("genre: !!bool maybe\n", "line 1, column 8: 'maybe' is not a valid bool"),
        ("year: !!timestamp soon\n", "line 1, column 7: 'soon' is not a valid timestamp"),
        ("year: 1" + "0" * 5000 + "\n", "a number of 5001 characters"),  # int() refuses > 4300 digits
        ('title: "\x00"\n', "control character U+0000 is not allowed in YAML"),
        ("kind: [unclosed", "not valid YAML: line "),
        ("? [a, b]\n: 1\n", "found unhashable key"),
        ("a: !!python/object/apply:os.system [echo]\n", "could not determine a constructor"),
    ],
)
def test_hostile_or_broken_yaml_is_one_error_with_a_line(tmp_path: Path, loader: str, text: str, problem: str) -> None:
    with pytest.raises(ManifestError) as err:
        load_manifest(write(tmp_path, text))
    message = str(err.value)
    assert problem in message
    assert re.search(r": (not valid YAML: )?line \d+", message), message


def test_too_many_values_are_refused(tmp_path: Path, loader: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yamlsafe, "MAX_NODES", 1000)
    with pytest.raises(ManifestError, match=r"line 1, column \d+: more than 1000 values; a manifest is never that large"):
        load_manifest(write(tmp_path, "a: [" + ", ".join(["1"] * 2000) + "]\n"))


def test_a_large_manifest_is_refused_and_a_megabyte_is_read_quickly(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_bytes(b"# " + b"x" * (MAX_MANIFEST_BYTES - 2) + b"\n")
    with pytest.raises(ManifestError, match=rf"manifest is larger than {MAX_MANIFEST_BYTES} bytes"):
        load_manifest(path)
    for text in ("a: [" + ",".join(["1"] * 400_000) + "]\n", "".join(f"k{i}: v\n" for i in range(100_000))):
        start = time.perf_counter()
        with pytest.raises(ManifestError, match="more than 100000 values"):
            load_manifest(write(tmp_path, text[:MAX_MANIFEST_BYTES]))
        assert time.perf_counter() - start < 10


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_bytes(MINIMAL.encode() + b"narrator: \xff\n")
    with pytest.raises(ManifestError, match=r"line 11: not UTF-8 text \(byte 0xff at offset \d+\)"):
        load_manifest(path)


# -- stricter values -------------------------------------------------------------------------------


def test_an_empty_selection_is_an_error(project: Path) -> None:
    edit(project, lambda r: r.update(chapters={"select": []}))
    with pytest.raises(ManifestError) as err:
        load_manifest(project)
    assert str(err.value) == (
        f"{project}: chapters.select: an empty selection selects nothing; "
        "leave 'select' out to render every body chapter"
    )


@pytest.mark.parametrize(
    "select, message",
    [
        ([True], 'chapters.select.0: not a valid chapter: true is a yes/no value; give a number (3), a range ("5-9") or an exact title'),
        ([2, False], "chapters.select.1: not a valid chapter: false is a yes/no value"),
        ([0], "chapters.select.0: not a valid chapter: 0; chapters are numbered from 1"),
        ([1.5], "chapters.select.0: not a valid chapter: 1.5; give a number"),
        ([None], "chapters.select.0: not a valid chapter: None; give a number"),
    ],
)
def test_select_items_are_numbers_or_strings_never_booleans(project: Path, select: list, message: str) -> None:
    edit(project, lambda r: r.update(chapters={"select": select}))
    with pytest.raises(ManifestError) as err:
        load_manifest(project)
    assert str(err.value).startswith(f"{project}: {message}")


def test_select_keeps_numbers_ranges_and_titles(project: Path) -> None:
    edit(project, lambda r: r.update(chapters={"select": [3, "5-9", "I—DOWN THE RABBIT-HOLE"]}))
    assert audiobook(project).chapters.select == [3, "5-9", "I—DOWN THE RABBIT-HOLE"]


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda r: r.update(year=True), "year"),
        (lambda r: r.update(engine={"seed": True}), "engine.seed"),
        (lambda r: r.update(engine={"batch_size": True}), "engine.batch_size"),
        (lambda r: r.update(engine={"max_chars": False}), "engine.max_chars"),
        (lambda r: r.update(engine={"retries": True}), "engine.retries"),
        (lambda r: r.update(pauses={"tail": True}), "pauses.tail"),
        (lambda r: r.update(mastering={"rms_db": False}), "mastering.rms_db"),
    ],
)
def test_booleans_are_not_numbers(project: Path, change, key: str) -> None:
    edit(project, change)
    with pytest.raises(ManifestError, match=rf"{key}: a number is expected here, not (true|false) \(a yes/no value\)"):
        load_manifest(project)


def test_whole_numbers_are_fine_where_seconds_are_expected(project: Path) -> None:
    edit(project, lambda r: r.update(pauses={"tail": 2}, year=1865, engine={"seed": 7, "batch_size": 4}))
    m = audiobook(project)
    assert (m.pauses.tail, m.year, m.engine.seed, m.engine.batch_size) == (2.0, 1865, 7, 4)


@pytest.mark.parametrize("key", ["title", "author", "narrator", "publisher", "description", "genre"])
@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x9b", "\r"])
def test_control_characters_in_tags_are_refused(project: Path, key: str, char: str) -> None:
    edit(project, lambda r: r.update({key: f"A{char}B"}))
    with pytest.raises(ManifestError) as err:
        load_manifest(project)
    message = str(err.value)
    assert message.startswith(f"{project}: {key}: control character U+{ord(char):04X} (at character 2) is not allowed in a tag")
    assert "ffmpeg" in message and char not in message


def test_a_description_may_hold_tabs_and_newlines(project: Path) -> None:
    edit(project, lambda r: r.update(description="One\tline.\nAnother line."))
    assert audiobook(project).description == "One\tline.\nAnother line."
    edit(project, lambda r: r.update(title="One\tline"))
    with pytest.raises(ManifestError, match=r"title: control character U\+0009"):
        load_manifest(project)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r.update(source="a\x00b.epub"), r"source: control character U\+0000 \(at character 2\) is not allowed in a path"),
        (lambda r: r.update(cover="c" * 300), r"cover: a file or directory name of more than 255 bytes"),
        (lambda r: r["voices"].update(narrator="v/" * 600), r"voices.narrator: a path of more than 1024 bytes"),
        (lambda r: r["output"].update(dir="o\x1bx"), r"output.dir: control character U\+001B"),
        (lambda r: r.update(source="~no-such-user-castline/a.epub"), r"source: cannot expand '~no-such-user-castline': no such user"),
    ],
)
def test_paths_no_file_system_accepts_are_refused(project: Path, change, message: str) -> None:
    edit(project, change)
    with pytest.raises(ManifestError, match=message):
        load_manifest(project)


# -- long values -----------------------------------------------------------------------------------

LONG = 140_000


def test_a_very_long_title_is_legal(project: Path) -> None:
    edit(project, lambda r: r.update(title="T" * LONG))
    assert load_manifest(project).title == "T" * LONG


@pytest.mark.parametrize(
    "text",
    [
        MINIMAL.replace("kind: audiobook", "kind: " + "k" * LONG),
        MINIMAL.replace("kind: audiobook", "kind: [" + ", ".join(["k" * 1000] * 100) + "]"),
        MINIMAL.replace('title: "Alice\'s Adventures in Wonderland"', 'title: "' + "t" * LONG + '\\0"'),
        MINIMAL + "? " + "u" * LONG + "\n: 1\n",
        MINIMAL + "? " + "u" * LONG + "\n: 1\n? " + "u" * LONG + "\n: 2\n",
        MINIMAL.replace("narrator: joe", "narrator: joe\n  ? " + "r" * LONG + "\n  : " + "v" * LONG),
        MINIMAL.replace("narrator: joe", "? " + "r" * LONG + "\n  : joe"),
        MINIMAL + "year: '" + "9" * LONG + "'\n",
        MINIMAL + "year: 0x" + "f" * LONG + "\n",
        MINIMAL.replace("language: en", "language: " + "e" * LONG),
        MINIMAL.replace("formats: [m4b, mp3]", "formats: [" + "f" * LONG + "]"),
        MINIMAL + "chapters:\n  select: [{" + "s" * LONG + ": 1}]\n",
        MINIMAL + "a: !<tag:" + "x" * LONG + "> 1\n",
        MINIMAL + "description: !!binary " + "A" * LONG + "\n",
    ],
)
def test_errors_quote_at_most_about_200_characters_of_a_value(tmp_path: Path, loader: str, text: str) -> None:
    with pytest.raises(ManifestError) as err:
        load_manifest(write(tmp_path, text))
    message = str(err.value)
    assert len(message) < len(str(tmp_path)) + 700, message
    assert not re.search(r"([a-zA-Z0-9])\1{250}", message), message


def test_helpers_shorten_and_quote() -> None:
    assert shorten("short") == "short"
    assert shorten("x" * 5000, 40) == "x" * 19 + "... (5000 characters)"
    assert len(shorten("x" * 5000)) == 200
    assert quoted("a'b") == repr("a'b")
    long = quoted("y" * LONG)
    assert len(long) <= 200 and long.startswith("'yyy") and long.endswith(f"... ({LONG} characters)")
    assert quoted(list(range(1000))) == "[0, 1, 2, 3, 4, 5, ...]"
    assert quoted("\x00" * 1000).startswith("'\\x00\\x00")


# -- voice profiles share the loader ---------------------------------------------------------------

PROFILE = "name: alan\nversion: 1\nengine: piper\nlanguage: en\nparams:\n  model: m.onnx\n"


@pytest.mark.parametrize(
    "text, message",
    [
        (PROFILE + "name: bob\n", "line 7, column 1: duplicate key 'name' (first given on line 1)"),
        ("p: &p [1, 2]\n" + PROFILE + "  x: *p\n", "aliases (*name) are not allowed in a voice profile"),
        (PROFILE.replace("version: 1", "version: true"), "version: Input should be a valid integer"),
        (PROFILE.replace("engine: piper", "engine: " + "e" * LONG), "engine: String should have at most 100 characters"),
        ("[" * 100, "nested more than 32 levels deep"),
    ],
)
def test_voice_profiles_are_read_by_the_same_safe_loader(tmp_path: Path, loader: str, text: str, message: str) -> None:
    path = tmp_path / "alan.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(VoiceError) as err:
        load_profile(path)
    assert message in str(err.value)
    assert len(str(err.value)) < len(str(path)) + 700


def test_a_large_voice_profile_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(PROFILE.encode() + b"#" * MAX_PROFILE_BYTES)
    with pytest.raises(VoiceError, match=rf"voice profile is larger than {MAX_PROFILE_BYTES} bytes"):
        load_profile(path)


def test_voice_names_no_file_system_accepts_are_not_found(tmp_path: Path) -> None:
    with pytest.raises(VoiceError, match="no voice profile named 'xxxx"):
        find_profile("x" * 300, (tmp_path,))
    with pytest.raises(VoiceError, match="cannot expand '~no-such-user-castline/v.yaml'"):
        find_profile("~no-such-user-castline/v.yaml", (tmp_path,))


DUB_MINIMAL = """\
kind: dub
video: clip.webm
subtitles: clip.en.srt
language: en
voices:
  default: joe
output:
  dir: out
"""


@pytest.fixture
def dub_project(tmp_path: Path) -> Path:
    (tmp_path / "clip.webm").write_bytes(b"\x1aE")
    (tmp_path / "clip.en.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nHi.\n", encoding="utf-8")
    path = tmp_path / "dub.yaml"
    path.write_text(DUB_MINIMAL, encoding="utf-8")
    return path


def test_the_minimal_dub_manifest_from_the_issue_loads_with_defaults(dub_project: Path) -> None:
    from castline.manifest import DubManifest

    p = load_project(dub_project)
    m = p.manifest
    assert isinstance(m, DubManifest)
    assert p.inputs == {"video": dub_project.parent / "clip.webm", "subtitles": dub_project.parent / "clip.en.srt"}
    assert (m.timing.max_tempo, m.timing.min_gap, m.timing.overflow) == (1.25, 0.1, "trim")
    assert (m.mix.original, m.loudness.integrated_lufs, m.loudness.true_peak_db) == ("duck", -23.0, -1.0)
    assert m.output.container == "auto" and m.speakers == []


def test_subtitles_may_be_left_out_for_the_videos_own(dub_project: Path) -> None:
    edit(dub_project, lambda r: r.pop("subtitles"))
    assert load_project(dub_project).inputs == {"video": dub_project.parent / "clip.webm"}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r.update(voices={"BUNNY": "joe"}), "voices: a dub needs a 'default' voice"),
        (lambda r: r.update(speakers=[{"speaker": "BIRD"}]), "speakers.0: a speaker rule needs 'cues', 'pattern' or both"),
        (lambda r: r.update(speakers=[{"speaker": "BIRD", "cues": True}]), "yes/no value"),
        (lambda r: r.update(timing={"max_tempo": 0.8}), "timing.max_tempo: Input should be greater than or equal to 1"),
        (lambda r: r.update(loudness={"true_peak_db": 0}), "loudness.true_peak_db: Input should be less than or equal to -1"),
        (lambda r: r.update(mix={"original": "keep"}), "mix.original: Input should be 'duck' or 'replace'"),
        (lambda r: r.update(output={"container": "avi"}), "output.container"),
        (lambda r: r.update(chapters={}), "chapters: unknown key"),
        (lambda r: r.update(subtitles="missing.srt"), "subtitles: file not found"),
    ],
)
def test_dub_manifest_errors_name_the_key(dub_project: Path, change, message: str) -> None:
    edit(dub_project, change)
    with pytest.raises(ManifestError) as err:
        load_project(dub_project)
    assert str(err.value).startswith(f"{dub_project}: ") and message in str(err.value)
