from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from castline.errors import ManifestError
from castline.manifest import MANIFEST_KINDS, AudiobookManifest, load_manifest
from castline.project import load_project

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


def edit(path: Path, change) -> Path:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(raw)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_minimal_manifest_from_the_issue_loads_with_defaults(project: Path) -> None:
    p = load_project(project)
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
        (lambda r: r.update(kind="podcast"), "kind", "unsupported kind 'podcast' (known kinds: audiobook)"),
        (lambda r: r.pop("kind"), "kind", "required key is missing (known kinds: audiobook)"),
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
