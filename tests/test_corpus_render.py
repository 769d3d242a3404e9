"""Every EPUB of ../shared/corpus renders (slow; skipped without the corpus).

English books are read by the bundled voice; the French and the Japanese book by a tiny
Piper voice of their language (tests/piper_fixtures.py), since no real French or Japanese
voice ships offline. To keep the sweep to minutes, each book renders its two shortest body
chapters that have text.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from epub_fixtures import NO_CREDITS
from piper_fixtures import build_tiny_piper_voice

from castline.ffmpeg import measure_loudness, probe
from tasks.ingest import read_source

pytestmark = pytest.mark.slow

TINY_VOICES = {"fr": ("fr", "espeak"), "ja": ("ja", "japanese")}


def corpus_books() -> list[Path]:
    from conftest import CORPUS

    return sorted((CORPUS / "epub").glob("*.epub")) if CORPUS.is_dir() else []


def voice_for(language: str, folder: Path) -> str:
    if language not in TINY_VOICES:
        return "joe"
    espeak_voice, phoneme_type = TINY_VOICES[language]
    model = build_tiny_piper_voice(folder / "models", espeak_voice=espeak_voice, phoneme_type=phoneme_type)
    profile = folder / "voices" / f"tiny-{language}.yaml"
    profile.parent.mkdir(exist_ok=True)
    profile.write_text(yaml.safe_dump({"name": f"tiny-{language}", "engine": "piper", "language": language,
                                       "params": {"model": str(model), "speaker": 0}}))
    return f"tiny-{language}"


@pytest.mark.parametrize("epub", [p for p in corpus_books() if not p.name.startswith("BROKEN")], ids=lambda p: p.stem)
def test_corpus_book_renders(epub: Path, tmp_path: Path, prefect_harness) -> None:
    from flows.audiobook import audiobook

    shutil.copy(epub, tmp_path / epub.name)
    book = read_source(tmp_path / epub.name)
    language = (book.language or "en").split("-")[0]
    numbered = [(n, c) for n, c in enumerate(book.chapters, 1) if c.matter == "body" and c.paragraphs]
    chosen = sorted(sorted(numbered, key=lambda nc: sum(len(p) for p in nc[1].paragraphs))[:2])
    spec = {"kind": "audiobook", "credits": NO_CREDITS, "title": book.title, "author": (book.authors or ("Unknown",))[0],
            "language": language, "source": epub.name, "voices": {"narrator": voice_for(language, tmp_path)},
            "chapters": {"select": [n for n, _ in chosen]}, "output": {"dir": "out", "formats": ["m4b"]},
            "qa": {"mode": "off"}}  # a tiny test voice speaks tones: nothing for the gate to hear
    manifest = tmp_path / "book.yaml"
    manifest.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    audiobook(str(manifest))
    m4b = next((tmp_path / "out").glob("*.m4b"))
    info = probe(m4b)
    assert [c["tags"]["title"] for c in info["chapters"]] == [c.title for _, c in chosen]
    s = measure_loudness(m4b)
    assert -23 <= s.rms_db <= -18 and s.peak_db <= -3 and s.noise_floor_db <= -60, s
    if "MISSING-AUDIO" in epub.name:  # the text renders; the missing media files are warned about
        warnings = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))["warnings"]
        assert sum("missing from the archive" in w for w in warnings) == 2, warnings


def test_broken_corpus_epub_fails_with_one_error(tmp_path: Path) -> None:
    broken = next((p for p in corpus_books() if p.name.startswith("BROKEN")), None)
    if broken is None:
        pytest.skip("shared corpus not found")
    shutil.copy(broken, tmp_path / "broken.epub")
    spec = {"kind": "audiobook", "credits": NO_CREDITS, "title": "T", "author": "A", "language": "en", "source": "broken.epub",
            "voices": {"narrator": "joe"}, "output": {"dir": "out"}}
    (tmp_path / "book.yaml").write_text(yaml.safe_dump(spec))
    result = subprocess.run([sys.executable, "-m", "castline.cli", "render", str(tmp_path / "book.yaml")],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert [line for line in result.stderr.splitlines() if line.startswith("error:")] == [
        f"error: {tmp_path / 'broken.epub'}: not an EPUB: not a ZIP archive"
    ]
    assert not (tmp_path / "out").exists()
