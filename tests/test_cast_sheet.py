"""The cast sheet, the characters in the manifest and the book's own lexicon, before any
synthesis: what the preflight and the script make of them (the bundled voice joe, no render)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from epub_fixtures import write_epub
from test_lexicon import PLS
from typer.testing import CliRunner

from castline.errors import CastlineError, InputError
from castline.model import Utterance
from castline.project import load_project
from tasks.cast_sheet import SheetRow, apply_cast_sheet, read_cast_sheet, write_cast_sheet

PARAGRAPHS = ["\u201cHello, Hermione,\u201d said Harry.", "\u201cHello,\u201d she said.", "It rained on Cheshire."]


def _project(folder: Path, **extra: object) -> Path:
    write_epub(folder / "book.epub", [("One", PARAGRAPHS)], resources=[("lexicon.pls", "application/pls+xml", PLS)])
    spec = {"kind": "audiobook", "title": "T", "author": "A", "language": "en", "source": "book.epub",
            "voices": {"narrator": "joe"}, "qa": {"mode": "off"}, **extra}
    path = folder / "book.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _u(n: int, text: str, speaker: str = "narrator", chapter: str = "c001") -> Utterance:
    from castline.model import utterance_id

    return Utterance(utterance_id(chapter, n, text), chapter, n, speaker, text)


def test_cast_sheet_rows_apply_by_id_or_moved_text_and_bad_rows_are_named(tmp_path: Path) -> None:
    script = [_u(0, "One"), _u(1, "Hello,", "Harry"), _u(2, "said Harry.")]
    sheet = tmp_path / "cast.csv"
    write_cast_sheet(script, sheet)
    rows = read_cast_sheet(sheet)
    assert [(r.line, r.speaker) for r in rows] == [(2, "narrator"), (3, "Harry"), (4, "narrator")]
    moved = _u(5, "Hello,", "Harry")  # one paragraph earlier in the chapter changed: same text, new index
    speakers = {"Harry": "Harry", "hermione": "Hermione", "narrator": "narrator"}
    edited = [SheetRow(3, script[1].id, "c001", "Hermione"), SheetRow(4, "c001-0009-deadbeef", "c001", "Harry"),
              SheetRow(5, script[0].id, "c001", "Ron")]
    out, notes = apply_cast_sheet([script[0], moved], edited, speakers, "cast.csv")
    assert (out[1].speaker, out[1].attributed_by) == ("Hermione", "sheet")
    assert out[0] == script[0]
    assert notes == [
        "cast.csv line 4: no utterance c001-0009-deadbeef in the book now (it changed?): row left out",
        "cast.csv line 5: unknown speaker 'Ron' (known: Harry, Hermione, narrator): row left out",
    ]


def test_a_sheet_without_its_columns_or_not_utf8_is_one_error_naming_it(tmp_path: Path) -> None:
    sheet = tmp_path / "cast.csv"
    sheet.write_text("who,what\nx,y\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"cast.csv: line 1: no 'id' or 'speaker' column"):
        read_cast_sheet(sheet)
    sheet.write_bytes(b"id,speaker\n\xff\xfe,x\n")
    with pytest.raises(InputError, match="not UTF-8"):
        read_cast_sheet(sheet)


def test_a_character_cast_to_a_role_that_does_not_exist_is_a_manifest_error(tmp_path: Path) -> None:
    path = _project(tmp_path, characters={"Harry": {"role": "harry"}})
    with pytest.raises(CastlineError, match=r"characters.Harry.role: 'harry' is not a role of 'voices' \(narrator\)"):
        load_project(path)


def test_the_books_pls_applies_after_the_manifests_lexicon(tmp_path: Path) -> None:
    from flows.audiobook_plan import write_the_script
    from flows.preflight import preflight_audiobook

    (tmp_path / "lexicon.yaml").write_text("Hermione: her MY oh nee\n", encoding="utf-8")
    plan = preflight_audiobook(load_project(_project(tmp_path, lexicon="lexicon.yaml", characters={"Harry": {"gender": "male"}})))
    said = {u.text: u.pronounced for u in write_the_script(plan)}
    assert said["Hello, Hermione"] == "Hello, her my oh nee"  # the manifest's entry, not the book's alias
    assert said["It rained on Cheshire."] == "It rained on [[ tʃˈɛʃɚ ]]."  # the book's PLS, IPA for Piper
    assert said["said Harry."] is None


def test_phonemes_the_voice_cannot_say_are_refused_naming_the_entry(tmp_path: Path) -> None:
    from flows.preflight import preflight

    (tmp_path / "lexicon.yaml").write_text("Hermione:\n  ipa: \"h3maIni\"\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"lexicon.yaml line 1: voice 'joe' cannot say the phonemes"):
        preflight(load_project(_project(tmp_path, lexicon="lexicon.yaml")))


def test_castline_characters_lists_speakers_and_cast_needs_characters(tmp_path: Path) -> None:
    from castline.cli import app

    path = _project(tmp_path)
    listed = CliRunner().invoke(app, ["characters", str(path)])
    assert listed.exit_code == 0, listed.output
    assert "Harry" in listed.output and "tag 1" in listed.output and "narrator reads every quotation" in listed.output
    refused = CliRunner().invoke(app, ["cast", str(path)])
    assert refused.exit_code == 1 and "no characters" in refused.output
