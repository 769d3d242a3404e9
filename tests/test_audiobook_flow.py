"""End to end: a real EPUB, the real Piper voice, real ffmpeg, inside a Prefect flow."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from epub_fixtures import NO_CREDITS, write_epub
from piper_fixtures import EngineCalls

from castline.ffmpeg import measure_loudness, probe
from voices.engines.piper import PiperEngine

pytestmark = pytest.mark.e2e  # end-to-end renders: left out of make test-fast

CHAPTERS = [
    ("Chapter One: The Bank", ["Alice sat by the river. It was 3 o'clock on a hot day.", "Her sister read a book."]),
    ("Chapter Two: The Rabbit", ["A White Rabbit ran by.", "\"Oh dear!\" it said. \"I shall be late!\""]),
    ("Chapter Three: The Hole", ["Down went Alice after it.", "She fell for a long time."]),
]


def manifest(folder: Path, source: str, **extra) -> Path:
    spec = {
        "kind": "audiobook", "credits": NO_CREDITS, "title": "A Small Book", "author": "A. Writer", "language": "en", "source": source,
        "narrator": "Joe", "year": 2026, "voices": {"narrator": "joe"},
        "output": {"dir": "out", "formats": ["m4b", "mp3"]}, **extra,
    }
    path = folder / "book.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, prefect_harness) -> Path:
    from flows.audiobook import audiobook

    folder = tmp_path_factory.mktemp("book")
    write_epub(folder / "book.epub", CHAPTERS)
    path = manifest(folder, "book.epub")
    audiobook(str(path))
    return path


def acx_ok(path: Path) -> None:
    s = measure_loudness(path)
    assert -23.0 <= s.rms_db <= -18.0, (path.name, s)
    assert s.peak_db <= -3.0, (path.name, s)
    assert s.noise_floor_db <= -60.0, (path.name, s)


def test_m4b_chapters_tags_and_loudness(rendered: Path) -> None:
    out = rendered.parent / "out"
    m4b = out / "A Small Book.m4b"
    info = probe(m4b)
    titles = [c["tags"]["title"] for c in info["chapters"]]
    assert titles == [t for t, _ in CHAPTERS]
    total = sum(float(c["end_time"]) - float(c["start_time"]) for c in info["chapters"])
    assert abs(total - float(info["format"]["duration"])) <= 0.1
    tags = {k.lower(): v for k, v in info["format"]["tags"].items()}
    assert tags["title"] == "A Small Book" and tags["artist"] == "A. Writer" and tags["composer"] == "Joe"
    acx_ok(m4b)


def test_mp3_per_chapter_to_acx(rendered: Path) -> None:
    mp3s = sorted((rendered.parent / "out" / "mp3").glob("*.mp3"))
    assert [p.name for p in mp3s] == [f"0{n} - {t.replace(':', ' ')}.mp3".replace("  ", " ") for n, (t, _) in enumerate(CHAPTERS, 1)]
    for mp3 in mp3s:
        stream = probe(mp3)["streams"][0]
        assert stream["codec_name"] == "mp3" and int(stream["sample_rate"]) == 44100
        assert int(stream["bit_rate"]) == 192000
        acx_ok(mp3)


def test_script_and_report_are_written(rendered: Path) -> None:
    out = rendered.parent / "out"
    table = pd.read_parquet(out / "utterances.parquet")
    for column in ("id", "chapter", "index", "speaker", "text", "voice", "duration"):
        assert column in table.columns
    assert table["voice"].eq("joe").all() and table["duration"].gt(0).all()
    assert "three o'clock" in " ".join(table["text"]) or "three o clock" in " ".join(table["text"])
    assert table["id"].is_unique
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [c["title"] for c in report["chapters"]] == [t for t, _ in CHAPTERS]
    assert all(f["acx_ok"] for f in report["files"])
    assert report["utterances"] == len(table)
    assert (out / "report.md").read_text(encoding="utf-8").startswith("# A Small Book")
    assert not list((out / ".castline" / "staging").iterdir())


def test_rerender_calls_the_engine_zero_times(rendered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.audiobook import audiobook

    calls = EngineCalls(monkeypatch)
    result = audiobook(str(rendered))
    assert calls.texts == []
    assert result["synthesized"] == 0 and result["cache_hits"] > 0
    report = json.loads((rendered.parent / "out" / "report.json").read_text(encoding="utf-8"))
    assert not any(c["remastered"] for c in report["chapters"])
    assert not any(f["encoded"] for f in report["files"])


def test_editing_one_paragraph_resynthesizes_only_it(rendered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.audiobook import audiobook

    edited = list(CHAPTERS)
    edited[1] = ("Chapter Two: The Rabbit", ["A White Rabbit hopped by.", CHAPTERS[1][1][1]])
    write_epub(rendered.parent / "book.epub", edited)
    calls = EngineCalls(monkeypatch)
    audiobook(str(rendered))
    assert calls.texts == ["A White Rabbit hopped by."]
    report = json.loads((rendered.parent / "out" / "report.json").read_text(encoding="utf-8"))
    assert [c["remastered"] for c in report["chapters"]] == [False, True, False]
    encoded = {f["path"] for f in report["files"] if f["encoded"]}
    assert encoded == {"A Small Book.m4b", "mp3/02 - Chapter Two The Rabbit.mp3"}


def test_corpus_epub_with_nested_toc(tmp_path: Path, data_dir: Path, prefect_harness) -> None:
    from flows.audiobook import audiobook

    shutil.copy(data_dir / "palace_nestedtoc.epub", tmp_path / "nested.epub")
    path = manifest(tmp_path, "nested.epub", output={"dir": "out", "formats": ["m4b"]})
    audiobook(str(path))
    info = probe(next((tmp_path / "out").glob("*.m4b")))
    assert [c["tags"]["title"] for c in info["chapters"]] == ["Something", "Something Nested", "Something Else Nested"]


def test_render_project_dispatches_on_kind(rendered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.render_project import render_project

    calls = EngineCalls(monkeypatch)
    result = render_project(str(rendered))
    assert result["title"] == "A Small Book" and result["synthesized"] == 0 and calls.texts == []


def test_report_and_progress_are_prefect_artifacts(rendered: Path) -> None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts()
    kinds = {(a.key, a.type) for a in artifacts}
    assert ("render-report", "markdown") in kinds
    assert any(a.type == "progress" and a.data == 100.0 for a in artifacts)
    reports = [str(a.data) for a in artifacts if a.key == "render-report" and "from `book.epub`" in str(a.data)]
    assert reports and all("| 1 | Chapter One: The Bank |" in r for r in reports)
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        chapters = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["render-chapters"])))
    tables = [str(a.data) for a in chapters if a.type == "table" and "Chapter One: The Bank" in str(a.data)]
    assert tables and all("Chapter Two: The Rabbit" in t and "rms_db" in t for t in tables)


def test_a_140000_character_title_renders_with_its_whole_title(tmp_path: Path, prefect_harness) -> None:
    from flows.audiobook import audiobook

    write_epub(tmp_path / "book.epub", CHAPTERS[:1])
    title = "The Longest Title " * 7800  # 140,400 characters: ffmpeg's argv once refused it
    path = manifest(tmp_path, "book.epub", title=title, output={"dir": "out", "formats": ["m4b"]})
    result = audiobook(str(path))
    (m4b,) = (tmp_path / "out").glob("*.m4b")
    assert len(m4b.name) <= 130 and result["files"] == [m4b.name]
    assert {k.lower(): v for k, v in probe(m4b)["format"]["tags"].items()}["title"] == title


def test_up_to_date_when_nothing_would_change(rendered: Path) -> None:
    from castline.project import load_project
    from flows.audiobook_plan import up_to_date
    from flows.preflight import AudiobookPlan, preflight

    def plan() -> AudiobookPlan:
        found = preflight(load_project(rendered))
        assert isinstance(found, AudiobookPlan)
        return found

    assert up_to_date(plan())
    out = rendered.parent / "out"
    m4b = next(out.glob("*.m4b"))
    kept = m4b.read_bytes()
    m4b.unlink()
    assert not up_to_date(plan())  # a deliverable gone
    m4b.write_bytes(kept)
    assert up_to_date(plan())
    original = rendered.read_text(encoding="utf-8")
    rendered.write_text(original.replace("A. Writer", "B. Writer"), encoding="utf-8")
    try:
        assert not up_to_date(plan())  # the tags change
    finally:
        rendered.write_text(original, encoding="utf-8")


def test_chapters_are_mastered_while_later_ones_are_synthesized(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                prefect_harness) -> None:
    import time

    import flows.audiobook as flow_module
    from flows.audiobook import audiobook

    events: list[tuple[str, float]] = []
    real_synthesize, real_master = PiperEngine.synthesize, flow_module.render_chapter

    def synthesize(engine, requests):
        out = real_synthesize(engine, requests)
        events.append(("synthesized", time.monotonic()))
        return out

    def master(*args, **kwargs):
        events.append(("mastering", time.monotonic()))
        return real_master(*args, **kwargs)

    monkeypatch.setattr(PiperEngine, "synthesize", synthesize)
    monkeypatch.setattr(flow_module, "render_chapter", master)
    write_epub(tmp_path / "book.epub", CHAPTERS)
    audiobook(str(manifest(tmp_path, "book.epub", engine={"batch_size": 1}, output={"dir": "out", "formats": ["m4b"]})))
    first_mastering = min(t for what, t in events if what == "mastering")
    last_synthesis = max(t for what, t in events if what == "synthesized")
    assert first_mastering < last_synthesis  # chapter one was being mastered before chapter three was spoken
