"""The preflight: plain modules, no Prefect, one error naming the file and the key."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from epub_fixtures import NO_CREDITS, write_epub

from castline.errors import ManifestError, OutputPathError, StorageError
from castline.project import load_project
from castline.storage import FsspecStorage, LocalStorage
from flows.preflight import AudiobookPlan, hand_over, plan_for, preflight

BOOK = [("Chapter One", ["It was a dark night."]), ("Chapter Two", ["The sun rose."])]


def project(folder: Path, **changes: object) -> Path:
    spec = {"kind": "audiobook", "credits": NO_CREDITS, "title": "T", "author": "A", "language": "en", "source": "book.epub",
            "voices": {"narrator": "joe"}, "output": {"dir": "out"}, **changes}
    write_epub(folder / "book.epub", BOOK)
    path = folder / "book.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


IN_PROCESS = """
import sys
from typer.testing import CliRunner
from castline.cli import app
result = CliRunner().invoke(app, ["validate", sys.argv[1]])
print(result.exit_code, "prefect" in sys.modules, "pandas" in sys.modules)
print(result.output)
"""


@pytest.mark.e2e
@pytest.mark.parametrize("exists", [False, True])
def test_validate_never_imports_prefect(tmp_path: Path, exists: bool) -> None:
    path = project(tmp_path) if exists else tmp_path / "missing.yaml"
    done = subprocess.run([sys.executable, "-c", IN_PROCESS, str(path)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, COLUMNS="200"))
    first, _, output = done.stdout.partition("\n")
    assert first == ("0 False False" if exists else "1 False False"), done.stdout + done.stderr
    assert ("ok: 2 of 2 chapters" if exists else "manifest not found") in output


def test_plan_has_the_book_the_chapters_and_the_cast(tmp_path: Path) -> None:
    plan = preflight(load_project(project(tmp_path)))
    assert isinstance(plan, AudiobookPlan)
    assert [c.title for c in plan.chapters] == ["Chapter One", "Chapter Two"]
    assert plan.cast.voice_for("narrator").name == "joe" and plan.warnings == []
    assert isinstance(plan.cache, LocalStorage) and plan.cache.root == tmp_path / "out" / ".castline" / "cache" / "utterances"
    assert not (tmp_path / "out").exists()  # the default cache is made when first written


def test_a_bad_chapter_selection_names_the_manifest_key(tmp_path: Path) -> None:
    path = project(tmp_path, chapters={"select": [7]})
    with pytest.raises(ManifestError, match=rf"{path}: chapters\.select: 7 is not a chapter number"):
        preflight(load_project(path))


def test_a_voice_in_another_language_is_a_warning(tmp_path: Path) -> None:
    plan = preflight(load_project(project(tmp_path, language="fr")))
    assert plan.warnings == [
        "voice 'joe' (narrator) speaks 'en' but the book is in 'fr'",
        "the book says it is in 'en' (dc:language) but is read as 'fr'",
    ]


def test_a_book_in_another_script_and_unspoken_paragraphs_are_warnings(tmp_path: Path) -> None:
    path = project(tmp_path)
    write_epub(tmp_path / "book.epub", [("Глава", ["Это было давно, в далёкой стране, где жили люди."] * 5),
                                        ("Two", ["Words.", "🙂🙂🙂"])], language="ru")
    warnings = preflight(load_project(path)).warnings
    assert "the book says it is in 'ru' (dc:language) but is read as 'en'" in warnings
    assert "most of the text is in Cyrillic script, which 'en' voices do not read" in warnings
    assert any(w.startswith("chapter 2 'Two': 1 paragraph has nothing to speak") for w in warnings), warnings


@pytest.mark.parametrize(
    "cache, problem",
    [("nosuch://bucket/cache", "unknown storage protocol 'nosuch'"), ("/proc/castline-cache", "cannot use this storage")],
)
def test_a_bad_cache_location_fails_the_preflight_naming_the_setting(tmp_path: Path, cache: str, problem: str) -> None:
    with pytest.raises(StorageError) as err:
        preflight(load_project(project(tmp_path)), cache)
    assert str(err.value).startswith(f"--cache-dir / CASTLINE_CACHE_DIR: {cache!r}: ") and problem in str(err.value)


def test_a_cache_url_is_opened_with_fsspec(tmp_path: Path) -> None:
    plan = preflight(load_project(project(tmp_path)), "memory://castline-preflight/cache")
    assert isinstance(plan.cache, FsspecStorage)


def test_the_flow_takes_the_handed_over_plan_only_while_its_files_are_unchanged(tmp_path: Path) -> None:
    path = project(tmp_path)
    plan = preflight(load_project(path))
    hand_over(plan, None)
    assert plan_for(path, None, None) is plan
    assert plan_for(path, None, None) is not plan  # handed over once
    hand_over(plan, None)
    assert plan_for(path, tmp_path / "elsewhere", None) is not plan  # another render
    hand_over(plan, None)
    write_epub(tmp_path / "book.epub", [*BOOK, ("Chapter Three", ["The end."])])
    fresh = plan_for(path, None, None)
    assert isinstance(fresh, AudiobookPlan) and fresh is not plan and len(fresh.chapters) == 3


def test_a_symlink_under_the_output_folder_that_leaves_the_project_is_refused(tmp_path: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    path = project(tmp_path)
    (tmp_path / "out").mkdir()
    os.symlink(elsewhere, tmp_path / "out" / ".castline")
    with pytest.raises(OutputPathError) as err:
        preflight(load_project(path))
    assert str(err.value).startswith(f"{tmp_path / 'out' / '.castline'}: a symbolic link to {elsewhere}, outside the project")
    (tmp_path / "out" / ".castline").unlink()
    (tmp_path / "out" / ".castline" / "cache").mkdir(parents=True)
    os.symlink(elsewhere, tmp_path / "out" / ".castline" / "cache" / "utterances")  # a store, deeper down
    with pytest.raises(OutputPathError, match="utterances: a symbolic link"):
        preflight(load_project(path))


def test_a_symlink_inside_the_project_is_fine(tmp_path: Path) -> None:
    path = project(tmp_path)
    (tmp_path / "shared-cache").mkdir()
    (tmp_path / "out" / ".castline" / "cache").mkdir(parents=True)
    os.symlink(tmp_path / "shared-cache", tmp_path / "out" / ".castline" / "cache" / "utterances")
    assert isinstance(preflight(load_project(path)), AudiobookPlan)


def test_a_cover_that_is_not_an_image_fails_the_preflight(tmp_path: Path) -> None:
    (tmp_path / "cover.jpg").write_text("not a picture")
    path = project(tmp_path, cover="cover.jpg")
    with pytest.raises(ManifestError, match=r"book\.yaml: cover: .*cover\.jpg: not an image"):
        preflight(load_project(path))


def test_a_good_cover_is_read_once_and_a_broken_book_cover_is_a_warning(tmp_path: Path) -> None:
    from castline.ffmpeg import run_ffmpeg

    run_ffmpeg(["-y", "-f", "lavfi", "-i", "color=c=red:s=16x16", "-frames:v", "1", str(tmp_path / "cover.jpg")])
    plan = preflight(load_project(project(tmp_path, cover="cover.jpg")))
    assert isinstance(plan, AudiobookPlan) and plan.cover == (tmp_path / "cover.jpg").read_bytes()
    path = project(tmp_path)
    write_epub(tmp_path / "book.epub", BOOK, cover=b"\xff\xd8\xff garbage")
    plan = preflight(load_project(path))
    assert isinstance(plan, AudiobookPlan) and plan.cover is None
    assert any("book.epub: its cover image is unusable" in w for w in plan.warnings), plan.warnings


def test_castline_cache_dir_is_the_cache_of_a_render_that_names_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from castline.storage import LocalStorage

    monkeypatch.setenv("CASTLINE_CACHE_DIR", str(tmp_path / "shared-cache"))
    plan = preflight(load_project(project(tmp_path)))  # as a deployment run calls it: no cache given
    assert isinstance(plan.cache, LocalStorage) and plan.cache.root == tmp_path / "shared-cache"
    monkeypatch.delenv("CASTLINE_CACHE_DIR")
    own = preflight(load_project(project(tmp_path))).cache
    assert isinstance(own, LocalStorage) and own.root == tmp_path / "out" / ".castline" / "cache" / "utterances"


def test_castline_storage_places_every_shared_store_and_each_own_setting_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voices.registry import VoiceRegistry

    monkeypatch.delenv("CASTLINE_CACHE_DIR", raising=False)
    monkeypatch.delenv("CASTLINE_VOICES", raising=False)
    monkeypatch.setenv("CASTLINE_STORAGE", f"{tmp_path}/shared/")
    plan = preflight(load_project(project(tmp_path)))
    assert isinstance(plan, AudiobookPlan)
    assert isinstance(plan.cache, LocalStorage) and plan.cache.root == tmp_path / "shared" / "utterances"
    assert isinstance(plan.chapter_store, LocalStorage) and plan.chapter_store.root == tmp_path / "shared" / "chapters"
    assert VoiceRegistry.location() == tmp_path / "shared" / "voices"

    monkeypatch.setenv("CASTLINE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("CASTLINE_VOICES", "memory://castline-voices")
    plan = preflight(load_project(project(tmp_path)))
    assert isinstance(plan.cache, LocalStorage) and plan.cache.root == tmp_path / "cache"
    assert VoiceRegistry.location() == "memory://castline-voices"

    monkeypatch.setenv("CASTLINE_STORAGE", "nosuch://bucket")
    with pytest.raises(StorageError, match=r"^CASTLINE_STORAGE: 'nosuch://bucket/chapters': unknown storage protocol"):
        preflight(load_project(project(tmp_path)))


def test_without_castline_storage_the_chapters_are_the_projects_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CASTLINE_STORAGE", raising=False)
    plan = preflight(load_project(project(tmp_path)))
    assert isinstance(plan, AudiobookPlan) and isinstance(plan.chapter_store, LocalStorage)
    assert plan.chapter_store.root == tmp_path / "out" / ".castline" / "chapters"


def test_a_readalong_of_an_epub2_is_webvtt_only_and_says_so(tmp_path: Path) -> None:
    import shutil

    from flows.audiobook_plan import readalong_files, write_the_script
    from tasks.deliverables import Deliverable

    path = project(tmp_path, source="alice.epub", chapters={"select": [3]}, output={"dir": "out", "readalong": True})
    shutil.copyfile(Path(__file__).parent / "data" / "pg19033_alice_epub2.epub", tmp_path / "alice.epub")
    plan = preflight(load_project(path))
    assert isinstance(plan, AudiobookPlan)
    assert "alice.epub is an EPUB 2.0: the read-along is delivered as WebVTT files only" in " ".join(plan.warnings)
    mp3 = Deliverable("mp3/01 - Chapter.mp3", "abc", lambda p: None)  # type: ignore[arg-type,return-value]
    assert list(readalong_files(plan, write_the_script(plan), [mp3])) == ["vtt/01 - Chapter.vtt"]
