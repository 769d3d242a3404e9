"""A GPT-SoVITS voice reads an audiobook like any other voice (tiny random models: noise, not speech)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from epub_fixtures import NO_CREDITS, write_epub
from sovits_fixtures import build_sovits_assets, reference_clip

from castline.ffmpeg import probe

pytestmark = pytest.mark.e2e  # an end-to-end render: left out of make test-fast

CHAPTERS = [("First", ["A short line."]), ("Second", ["Another short line.", "And one more."])]


def test_audiobook_read_by_a_cloned_voice(tmp_path: Path, prefect_harness) -> None:
    from flows.audiobook import audiobook

    assets = build_sovits_assets(tmp_path / "models", "v2", with_bert=False)
    clip = reference_clip(tmp_path / "voices" / "ref.wav", duration_s=4.0)
    profile = {
        "name": "clone", "engine": "gpt-sovits", "language": "en",
        "reference": {"audio": "ref.wav", "text": assets.reference_text, "language": "en"},
        "params": {"gpt": os.path.relpath(assets.s1_ckpt, clip.parent), "sovits": os.path.relpath(assets.s2_pth, clip.parent),
                   "hubert": os.path.relpath(assets.hubert_dir, clip.parent), "device": "cpu"},
    }
    (tmp_path / "voices" / "clone.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    write_epub(tmp_path / "book.epub", CHAPTERS)
    manifest = tmp_path / "book.yaml"
    manifest.write_text(yaml.safe_dump({
        "kind": "audiobook", "credits": NO_CREDITS, "title": "Cloned", "author": "A", "language": "en", "source": "book.epub",
        "voices": {"narrator": "clone"}, "output": {"dir": "out", "formats": ["m4b", "mp3"]},
    }), encoding="utf-8")

    first = audiobook(str(manifest))
    out = tmp_path / "out"
    info = probe(out / "Cloned.m4b")
    assert [c["tags"]["title"] for c in info["chapters"]] == ["First", "Second"]
    table = pd.read_parquet(out / "utterances.parquet")
    assert table["voice"].eq("clone").all() and table["duration"].gt(0).all()
    assert first["synthesized"] == len(table)
    again = audiobook(str(manifest))
    assert again["synthesized"] == 0
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert len(report["files"]) == 3
    # the gate compared every take of the cloned voice with its reference (tiny random models
    # speak noise, so every one of them is on the review list, with its similarity)
    gate = report["gate"]
    assert gate["checked"] == len(set(table["cache_key"])) and len(gate["review"]) == gate["checked"]
    assert all("speaker similarity" in row["problems"] for row in gate["review"])


def test_characters_cloned_on_one_checkpoint_share_a_batch(tmp_path: Path, prefect_harness, monkeypatch) -> None:
    """Two cloned voices on the same checkpoints (different reference clips) are one loaded
    model: the narrator's and the character's takes are spoken in one batch, each in its voice."""
    from flows.audiobook import audiobook
    from voices.engines.gpt_sovits.engine import GPTSoVITSEngine

    assets = build_sovits_assets(tmp_path / "models", "v2", with_bert=False)
    for name, start_s in (("teller", 0.0), ("alice", 4.0)):
        clip = reference_clip(tmp_path / "voices" / f"{name}.wav", start_s=start_s, duration_s=4.0)
        profile = {
            "name": name, "engine": "gpt-sovits", "language": "en",
            "reference": {"audio": clip.name, "text": assets.reference_text, "language": "en"},
            "params": {"gpt": os.path.relpath(assets.s1_ckpt, clip.parent), "sovits": os.path.relpath(assets.s2_pth, clip.parent),
                       "hubert": os.path.relpath(assets.hubert_dir, clip.parent), "device": "cpu"},
        }
        (tmp_path / "voices" / f"{name}.yaml").write_text(yaml.safe_dump(profile), encoding="utf-8")
    write_epub(tmp_path / "book.epub", [("One", ['"A short line," said Alice.'])])
    manifest = tmp_path / "book.yaml"
    manifest.write_text(yaml.safe_dump({
        "kind": "audiobook", "credits": NO_CREDITS, "title": "Cast", "author": "A", "language": "en", "source": "book.epub",
        "voices": {"narrator": "teller", "alice": "alice"}, "characters": {"Alice": {"role": "alice"}},
        "qa": {"mode": "off"}, "output": {"dir": "out", "formats": ["m4b"]},
    }), encoding="utf-8")
    batches: list[list[tuple[str, str]]] = []
    real = GPTSoVITSEngine.synthesize

    def recording(engine, requests):
        batches.append([(r.voice.name, r.text) for r in requests])
        return real(engine, requests)

    monkeypatch.setattr(GPTSoVITSEngine, "synthesize", recording)
    audiobook(str(manifest))
    assert len(batches) == 1
    assert sorted(batches[0]) == [("alice", "A short line"), ("teller", "One"), ("teller", "said Alice.")]
    table = pd.read_parquet(tmp_path / "out" / "utterances.parquet")
    assert dict(zip(table["text"], table["voice"])) == {"One": "teller", "A short line": "alice", "said Alice.": "teller"}
