"""voices.registry and its CLI: versions, events, publication, resolution, concurrency."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from castline.errors import VoiceError
from castline.storage import FsspecStorage, LocalStorage, Storage
from voices.cli import voices_app as registry_app
from voices.profile import VoiceProfile
from voices.registry import DEFAULT_REGISTRY, REGISTRY_ENV, Consent, VoiceRegistry, VoiceVersion, parse_ref

ROOT = Path(__file__).resolve().parents[1]


def _wav(path: Path, seconds: float = 0.2, freq: float = 220.0) -> Path:
    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000)
    return path


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return _wav(tmp_path / "clip.wav")


@pytest.fixture
def registry(tmp_path: Path) -> VoiceRegistry:
    return VoiceRegistry.open(tmp_path / "registry")


@pytest.fixture
def memory_registry() -> Iterator[VoiceRegistry]:
    reg = VoiceRegistry.open(f"memory://castline-registry-{uuid.uuid4().hex}")
    yield reg
    assert isinstance(reg.storage, FsspecStorage)
    shutil.rmtree(reg.storage.mirror, ignore_errors=True)
    if reg.storage.fs.exists(reg.storage.root):
        reg.storage.fs.rm(reg.storage.root, recursive=True)


def _add(reg: VoiceRegistry, clip: Path, name: str = "alice", **fields: Any) -> VoiceVersion:
    args: dict[str, Any] = dict(
        engine="gpt-sovits", model="s2G-abc123", language="en", duration_s=42.5,
        references=(("ref-1.wav", "The first clip."),), params={"gpt": "/models/gpt.ckpt", "top_k": 5},
        consent=Consent(who="Alice Example", when="2026-01-02", scope="audiobooks"),
    )
    args.update(fields)
    files = args.pop("files", {"ref-1.wav": clip})
    return reg.add(name, files=files, **args)


def _listing(storage: Storage) -> list[tuple[str, bytes]]:
    return sorted((name, storage.read_bytes(name)) for name in storage.list(""))


# adding and reading


def test_add_numbers_increase_and_records_round_trip(registry: VoiceRegistry, clip: Path) -> None:
    first = _add(registry, clip)
    second = _add(registry, clip, parent=1, duration_s=50.0)
    assert (first.version, second.version) == (1, 2)
    assert first.status == "candidate" and first.id == "alice@1" and second.parent == 1
    assert first.clips == 1 and first.references == (("ref-1.wav", "The first clip."),)
    assert registry.versions("alice") == [first, second]
    assert registry.get("alice", 2) == second
    assert registry.names() == ["alice"]
    assert registry.published("alice") is None
    assert _add(registry, clip, name="bob").version == 1
    assert registry.names() == ["alice", "bob"]
    assert (registry.storage.local_path("alice/1/ref-1.wav")).read_bytes() == clip.read_bytes()


def test_add_checks_what_it_names(registry: VoiceRegistry, clip: Path) -> None:
    with pytest.raises(VoiceError, match="features.npz"):
        _add(registry, clip, features="features.npz")
    with pytest.raises(VoiceError, match="consent.wav"):
        _add(registry, clip, consent=Consent("A", "2026-01-01", "books", recording="consent.wav"))
    with pytest.raises(VoiceError, match="no parent version 4"):
        _add(registry, clip, parent=4)
    with pytest.raises(VoiceError, match="invalid registry file name"):
        _add(registry, clip, files={"../x.wav": clip}, references=())
    with pytest.raises(VoiceError, match="candidate or rejected"):
        _add(registry, clip, status="published")
    with pytest.raises(VoiceError, match="finite"):
        _add(registry, clip, similarity=float("nan"))
    assert registry.names() == []


@pytest.mark.parametrize("bad", ["", "a@1", "a/b", "a b", "x" * 65, "é", "a.b"])
def test_bad_names_are_refused(registry: VoiceRegistry, clip: Path, bad: str) -> None:
    with pytest.raises(VoiceError, match="invalid voice name"):
        _add(registry, clip, name=bad)
    with pytest.raises(VoiceError):
        registry.resolve(bad)


def test_parse_ref() -> None:
    assert parse_ref("alice") == ("alice", None)
    assert parse_ref("alice@3") == ("alice", 3)
    assert parse_ref("alice@candidate") == ("alice", "candidate")
    for bad in ("alice@", "alice@0", "alice@x", "alice@3@4"):
        with pytest.raises(VoiceError):
            parse_ref(bad)


def test_failed_add_leaves_the_storage_unchanged(registry: VoiceRegistry, clip: Path, tmp_path: Path) -> None:
    _add(registry, clip)
    before = _listing(registry.storage)
    with pytest.raises(VoiceError, match="missing.wav"):
        _add(registry, clip, files={"ref-1.wav": clip, "ref-2.wav": tmp_path / "missing.wav"})
    assert _listing(registry.storage) == before
    with pytest.raises(VoiceError):
        _add(registry, clip, name="newvoice", files={"ref-1.wav": tmp_path / "missing.wav"})
    assert _listing(registry.storage) == before


def test_a_copy_failing_midway_leaves_the_storage_unchanged(registry: VoiceRegistry, clip: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _add(registry, clip)
    before = _listing(registry.storage)
    real = registry.storage.put_file
    calls: list[str] = []

    def failing(name: str, local: Path) -> None:
        calls.append(name)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(name, local)

    monkeypatch.setattr(registry.storage, "put_file", failing)
    with pytest.raises(OSError, match="No space"):
        _add(registry, clip, files={"ref-1.wav": clip, "ref-2.wav": clip})
    assert _listing(registry.storage) == before
    assert not (registry.storage.root / "alice" / "2").exists()  # type: ignore[attr-defined]
    monkeypatch.undo()
    assert _add(registry, clip).version == 2


def test_malformed_record_is_named(registry: VoiceRegistry, clip: Path) -> None:
    _add(registry, clip)
    registry.storage.write_bytes("alice/1/version.json", b'{"format": 1, "name": "alice"}')
    with pytest.raises(VoiceError, match=r"alice/1/version.json: malformed version record"):
        registry.versions("alice")
    registry.storage.write_bytes("alice/1/version.json", b"not json")
    with pytest.raises(VoiceError, match="malformed"):
        registry.resolve("alice@1")


# decisions, publication, rollback


def test_records_are_immutable_status_comes_from_events(registry: VoiceRegistry, clip: Path) -> None:
    _add(registry, clip)
    _add(registry, clip)
    record = registry.storage.read_bytes("alice/1/version.json")
    decided = registry.decide("alice", 1, "published", similarity=0.87, wer=0.02)
    assert (decided.status, decided.similarity, decided.wer) == ("published", 0.87, 0.02)
    rejected = registry.decide("alice", 2, "rejected", reason="similarity 0.41 < 0.75", similarity=0.41, wer=0.1)
    assert (rejected.status, rejected.reason) == ("rejected", "similarity 0.41 < 0.75")
    registry.publish("alice", 1)
    assert registry.storage.read_bytes("alice/1/version.json") == record
    assert [v.status for v in registry.versions("alice")] == ["published", "rejected"]
    with pytest.raises(VoiceError, match="only a candidate"):
        registry.decide("alice", 1, "rejected", reason="changed my mind")
    with pytest.raises(VoiceError, match="needs a reason"):
        registry.decide("alice", 1, "rejected")
    events = sorted(n for n in registry.storage.list("alice/events/"))
    assert [n.split("/")[-1].split("-")[1] for n in events] == ["decide", "decide"]  # publishing it again wrote nothing


def test_publish_and_rollback_order(registry: VoiceRegistry, clip: Path) -> None:
    for _ in range(3):
        _add(registry, clip)
    with pytest.raises(VoiceError, match="nothing is published"):
        registry.rollback("alice")
    assert registry.publish("alice", 1).status == "published"
    with pytest.raises(VoiceError, match="nothing before it"):
        registry.rollback("alice")
    registry.publish("alice", 2)
    registry.publish("alice", 3)
    assert registry.published("alice").id == "alice@3"  # type: ignore[union-attr]
    assert registry.rollback("alice").id == "alice@2"
    assert registry.rollback("alice").id == "alice@1"
    with pytest.raises(VoiceError, match="no earlier published version"):
        registry.rollback("alice")
    registry.publish("alice", 3)  # an earlier published version becomes the published one again
    registry.publish("alice", 2)
    assert registry.rollback("alice").id == "alice@3"
    assert registry.published("alice").id == "alice@3"  # type: ignore[union-attr]


def test_a_rejected_version_is_never_published(registry: VoiceRegistry, clip: Path) -> None:
    _add(registry, clip, status="rejected", reason="too noisy")
    with pytest.raises(VoiceError, match="cannot publish a rejected version: too noisy"):
        registry.publish("alice", 1)
    assert registry.published("alice") is None


# resolution


def test_resolve(registry: VoiceRegistry, clip: Path) -> None:
    for _ in range(4):
        _add(registry, clip)
    with pytest.raises(VoiceError, match="no published version"):
        registry.resolve("alice")
    registry.publish("alice", 2)
    registry.decide("alice", 3, "rejected", reason="WER 0.40 > 0.15")
    assert registry.resolve("alice").version == 2
    assert registry.resolve("alice@published").version == 2
    assert registry.resolve("alice@1").version == 1  # a candidate may be pinned
    assert registry.resolve("alice@2").version == 2
    assert registry.resolve("alice@candidate").version == 4
    with pytest.raises(VoiceError, match=r"alice@3: version 3 of 'alice' was rejected: WER 0.40 > 0.15"):
        registry.resolve("alice@3")
    assert registry.get("alice", 3).status == "rejected"  # still readable, just not usable


def test_unknown_voice_and_version_name_what_exists(registry: VoiceRegistry, clip: Path) -> None:
    with pytest.raises(VoiceError, match="it has no voices"):
        registry.resolve("alice")
    _add(registry, clip)
    _add(registry, clip, name="bob")
    with pytest.raises(VoiceError, match=r"carol: no voice 'carol' in the registry .* \(voices: alice, bob\)"):
        registry.resolve("carol")
    with pytest.raises(VoiceError, match=r"alice@9: voice 'alice' has no version 9 \(versions: 1 candidate\)"):
        registry.resolve("alice@9")
    with pytest.raises(VoiceError, match="no version 9"):
        registry.get("alice", 9)
    registry.decide("bob", 1, "published")
    with pytest.raises(VoiceError, match=r"bob@candidate: voice 'bob' has no candidate version \(versions: 1 published\)"):
        registry.resolve("bob@candidate")


def test_profile_points_at_the_copied_clip(registry: VoiceRegistry, tmp_path: Path) -> None:
    source = _wav(tmp_path / "alice-take.wav", freq=330.0)
    v = _add(registry, source, features="features.npz",
             files={"ref-1.wav": source, "features.npz": _wav(tmp_path / "f.wav")})
    profile = registry.profile(v)
    assert isinstance(profile, VoiceProfile)
    assert (profile.name, profile.version, profile.engine, profile.language) == ("alice@1", 1, "gpt-sovits", "en")
    assert dict(profile.params) == {"gpt": "/models/gpt.ckpt", "top_k": 5}
    assert profile.reference is not None and profile.reference.text == "The first clip."
    assert profile.reference.audio.is_file() and profile.reference.audio != source
    assert profile.reference.audio.read_bytes() == source.read_bytes()
    assert profile.reference.audio.is_relative_to(tmp_path / "registry")
    assert profile.path is not None and profile.resolve("features.npz").is_file()


def test_diff(registry: VoiceRegistry, clip: Path) -> None:
    a = _add(registry, clip)
    b = _add(registry, clip, parent=1, duration_s=60.0, params={"gpt": "/models/gpt2.ckpt", "top_k": 5})
    changes = registry.diff(a, b)
    assert changes["duration_s"] == (42.5, 60.0)
    assert changes["parent"] == (None, 1)
    assert changes["version"] == (1, 2)
    assert "engine" not in changes and "consent" not in changes
    assert registry.diff(a, a) == {}


# where the registry is


def test_open_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv(REGISTRY_ENV, raising=False)
    default = VoiceRegistry.open()
    assert isinstance(default.storage, LocalStorage)
    assert default.storage.root == tmp_path / "home" / ".castline" / "voices"
    assert default.storage.root == DEFAULT_REGISTRY.expanduser()
    monkeypatch.setenv(REGISTRY_ENV, str(tmp_path / "from-env"))
    assert VoiceRegistry.open().storage.root == tmp_path / "from-env"  # type: ignore[attr-defined]
    assert VoiceRegistry.open(tmp_path / "argument").storage.root == tmp_path / "argument"  # type: ignore[attr-defined]
    assert VoiceRegistry.open(str(tmp_path / "arg2")).storage.root == tmp_path / "arg2"  # type: ignore[attr-defined]


def test_memory_registry(memory_registry: VoiceRegistry, clip: Path) -> None:
    _add(memory_registry, clip)
    _add(memory_registry, clip)
    memory_registry.decide("alice", 2, "published", similarity=0.9)
    assert memory_registry.resolve("alice").version == 2
    assert memory_registry.resolve("alice@candidate").version == 1
    profile = memory_registry.profile(memory_registry.resolve("alice"))
    assert profile.reference is not None and profile.reference.audio.read_bytes() == clip.read_bytes()
    assert not [n for n in memory_registry.storage.list("") if "claim-" in n]  # claims go once the record is written


def test_fsspec_claim_backs_off_from_a_rival(memory_registry: VoiceRegistry, clip: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    storage = memory_registry.storage
    real = storage.write_bytes

    def racing(name: str, data: bytes) -> None:  # another process claims the same number just before us
        if name.startswith("alice/1/claim-") and not storage.exists("alice/1/claim-rival.json"):
            real("alice/1/claim-rival.json", b"{}")
        real(name, data)

    monkeypatch.setattr(storage, "write_bytes", racing)
    assert _add(memory_registry, clip).version == 2
    assert sorted(storage.list("alice/1/")) == ["alice/1/claim-rival.json"]
    assert memory_registry.versions("alice")[0].version == 2


# concurrency


def test_concurrent_adds_from_threads(registry: VoiceRegistry, memory_registry: VoiceRegistry, clip: Path) -> None:
    for reg in (registry, memory_registry):
        got: list[int] = []
        errors: list[BaseException] = []

        def work(reg: VoiceRegistry = reg, got: list[int] = got, errors: list[BaseException] = errors) -> None:
            try:
                for _ in range(2):
                    got.append(_add(reg, clip).version)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert sorted(got) == list(range(1, 17))
        assert [v.version for v in reg.versions("alice")] == list(range(1, 17))


_SCRIPT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from voices.registry import VoiceRegistry
    reg = VoiceRegistry.open(sys.argv[1])
    print("ready", flush=True)
    while not Path(sys.argv[4]).exists():  # all start adding together
        time.sleep(0.005)
    for _ in range(int(sys.argv[3])):
        v = reg.add("alice", files={"ref-1.wav": Path(sys.argv[2])}, engine="piper", model="joe", language="en",
                    duration_s=1.0, references=(("ref-1.wav", "hi"),))
        print(v.version, flush=True)
""")


@pytest.mark.parametrize("kind", ["local", "file-url"])
def test_concurrent_adds_from_processes(tmp_path: Path, clip: Path, kind: str) -> None:
    location = str(tmp_path / "registry") if kind == "local" else f"file://{tmp_path}/registry"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", _SCRIPT, location, str(clip), "6", str(go)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    go.touch()
    numbers: list[int] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        numbers += [int(line) for line in out.split()]
    assert sorted(numbers) == list(range(1, 19))
    reg = VoiceRegistry.open(location)
    assert [v.version for v in reg.versions("alice")] == list(range(1, 19))
    assert all(reg.storage.read_bytes(f"alice/{n}/ref-1.wav") == clip.read_bytes() for n in range(1, 19))
    if isinstance(reg.storage, FsspecStorage):
        shutil.rmtree(reg.storage.mirror, ignore_errors=True)


# the CLI


def _cli(*args: str) -> Any:
    return CliRunner().invoke(registry_app, list(args))


def test_cli(registry: VoiceRegistry, clip: Path) -> None:
    where = ["--registry", str(registry.storage.url)]
    _add(registry, clip)
    _add(registry, clip, parent=1, duration_s=60.0)
    _add(registry, clip, name="bob", engine="piper")
    registry.decide("alice", 1, "published", similarity=0.87, wer=0.031)
    registry.decide("alice", 2, "candidate", similarity=0.8, wer=0.05)

    listed = _cli("list", *where)
    assert listed.exit_code == 0, listed.output
    assert "alice" in listed.stdout and "alice@1" in listed.stdout and "alice@2" in listed.stdout
    assert "1 published, 1 candidate" in listed.stdout and "bob" in listed.stdout

    shown = _cli("show", "alice", *where)
    assert shown.exit_code == 0, shown.output
    assert "similarity 0.87" in shown.stdout and "similarity 0.80" in shown.stdout
    assert "WER 0.031" in shown.stdout and "alice@1  published (current)" in shown.stdout
    assert "consent: Alice Example, 2026-01-02, scope: audiobooks" in shown.stdout
    assert "duration 42.5 s, 1 clip," in shown.stdout and "parent 1" in shown.stdout
    one = _cli("show", "alice@2", *where)
    assert "alice@2" in one.stdout and "alice@1  " not in one.stdout

    published = _cli("publish", "alice@2", *where)
    assert published.exit_code == 0, published.output
    assert "published alice@2 (was alice@1)" in published.stdout
    assert registry.published("alice").id == "alice@2"  # type: ignore[union-attr]

    rolled = _cli("rollback", "alice", *where)
    assert rolled.exit_code == 0, rolled.output
    assert "published alice@1 (rolled back from alice@2)" in rolled.stdout

    diffed = _cli("diff", "alice@1", "alice@2", *where)
    assert diffed.exit_code == 0, diffed.output
    assert "duration_s" in diffed.stdout and "60.0" in diffed.stdout and "42.5" in diffed.stdout
    assert "engine" not in diffed.stdout


def test_cli_errors_are_one_line(registry: VoiceRegistry, clip: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _add(registry, clip, status="rejected", reason="too noisy")
    monkeypatch.setenv(REGISTRY_ENV, str(registry.storage.url))  # --registry from the environment
    for args, message in [
        (["publish", "alice@1"], "cannot publish a rejected version: too noisy"),
        (["publish", "alice"], "say which version to publish: alice@N"),
        (["rollback", "alice"], "nothing is published"),
        (["show", "carol"], "error: carol: no voice 'carol'"),
        (["diff", "alice@1", "alice@7"], "no version 7"),
    ]:
        result = _cli(*args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("error: ") and message in result.stderr
        assert result.stderr.count("\n") == 1


def test_cli_list_empty_registry(tmp_path: Path) -> None:
    result = _cli("list", "--registry", str(tmp_path / "empty"))
    assert result.exit_code == 0 and "no voices" in result.stdout
