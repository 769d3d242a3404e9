"""The command line: one clear error, a non-zero exit, and nothing written, for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from epub_fixtures import NO_CREDITS, write_epub

pytestmark = pytest.mark.e2e  # subprocess CLI runs: left out of make test-fast

BOOK = [("Chapter One", ["It was a dark night."]), ("Chapter Two", ["The sun rose."])]


def castline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "castline.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def project(folder: Path, **changes) -> Path:
    spec = {"kind": "audiobook", "credits": NO_CREDITS, "title": "T", "author": "A", "language": "en", "source": "book.epub",
            "voices": {"narrator": "joe"}, "output": {"dir": "out", "formats": ["m4b", "mp3"]}}
    spec.update(changes)
    path = folder / "book.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def rezip(src: Path, dst: Path, replace: dict[str, bytes] | None = None, extra: dict[str, bytes] | None = None) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = (replace or {}).get(info.filename, zin.read(info.filename))
            zout.writestr(info.filename, data, compress_type=zipfile.ZIP_STORED if info.filename == "mimetype" else zipfile.ZIP_DEFLATED)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata>&lol3;</metadata></package>"""


def hostile(kind: str, folder: Path) -> Path:
    good = write_epub(folder / "good.epub", BOOK)
    bad = folder / "book.epub"
    if kind == "random-bytes":
        bad.write_bytes(os.urandom(4096))
    elif kind == "truncated":
        bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    elif kind == "entity-bomb":
        rezip(good, bad, replace={"OEBPS/content.opf": BOMB})
    elif kind == "zip-bomb":
        rezip(good, bad, replace={"OEBPS/ch01.xhtml": b"<p>" + b" " * (300 << 20) + b"</p>"})
    elif kind == "escaping-entry":
        rezip(good, bad, extra={"../../escaped.xhtml": b"<html/>"})
    good.unlink()
    return bad


@pytest.mark.parametrize("kind", ["random-bytes", "truncated", "entity-bomb", "zip-bomb", "escaping-entry"])
def test_hostile_epub_fails_with_one_clear_error(tmp_path: Path, kind: str) -> None:
    bad = hostile(kind, tmp_path)
    path = project(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = castline("render", str(path), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(bad) in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written, not even out/
    assert not (tmp_path.parent / "escaped.xhtml").exists()


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"titel": "x"}, "titel: unknown key (did you mean 'title'?)"),
        ({"voices": {"narrator": "nobody"}}, "voices.narrator: "),
        ({"output": {"dir": "../outside"}}, "output.dir: '../outside' is outside the project directory"),
        ({"source": "missing.epub"}, "source: file not found"),
    ],
)
def test_bad_manifest_fails_before_anything_runs(tmp_path: Path, changes: dict, message: str) -> None:
    write_epub(tmp_path / "book.epub", BOOK)
    path = project(tmp_path, **changes)
    for command in ("validate", "render"):
        result = castline(command, str(path), cwd=tmp_path)
        assert result.returncode == 1
        errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and str(path) in errors[0] and message in errors[0], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.epub", "book.yaml"]


def test_validate_and_chapters_on_a_good_project(tmp_path: Path) -> None:
    write_epub(tmp_path / "book.epub", BOOK)
    path = project(tmp_path)
    result = castline("validate", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ok: 2 of 2 chapters" in result.stdout and "narrator=joe (piper)" in result.stdout
    listing = castline("chapters", str(path), cwd=tmp_path)
    assert listing.returncode == 0 and "Chapter One" in listing.stdout and "Chapter Two" in listing.stdout
    assert not (tmp_path / "out").exists()


def test_every_command_has_help(tmp_path: Path) -> None:
    for command in ("render", "validate", "chapters", "voices"):
        result = castline(command, "--help", cwd=tmp_path)
        assert result.returncode == 0 and "Usage" in result.stdout
    render_help = castline("render", "--help", cwd=tmp_path).stdout
    for option in ("--out", "--cache-dir", "--verbose"):
        assert option in render_help


def test_error_text_is_printed_as_is(tmp_path: Path) -> None:
    folder = tmp_path / "proj [draft]"
    folder.mkdir()
    path = project(folder, source="[bold]book.epub")
    result = castline("validate", str(path), cwd=folder)
    assert result.returncode == 1
    assert f"error: {path}: source: file not found: {folder / '[bold]book.epub'}" in result.stderr.replace("\n", "")


HOLD_LOCK = """
import sys, time
from pathlib import Path
from castline.layout import OutputLayout
from castline.lock import output_lock
layout = OutputLayout(Path(sys.argv[1]))
with output_lock(layout.lock, layout.output_dir):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_render_into_an_output_folder_in_use_is_refused(tmp_path: Path) -> None:
    write_epub(tmp_path / "book.epub", BOOK)
    path = project(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(tmp_path / "out")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = castline("render", str(path), cwd=tmp_path)
    finally:
        holder.kill()
        holder.wait()
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 1 and len(errors) == 1, result.stderr
    assert result.stderr.strip().splitlines() == errors  # the one line and nothing else: no Prefect traceback
    assert f"{tmp_path / 'out'}: another render is using this output directory (pid {holder.pid} on " in errors[0]
    assert not list((tmp_path / "out" / ".castline").glob("cache"))  # refused before anything was synthesized


def test_gc_prunes_the_project_stores_by_age(tmp_path: Path) -> None:
    import numpy as np

    from castline.cache import AudioStore
    from castline.storage import LocalStorage

    write_epub(tmp_path / "book.epub", BOOK)
    path = project(tmp_path)
    store = AudioStore(LocalStorage(tmp_path / "out" / ".castline" / "cache" / "utterances"))
    store.put("ab" * 32, np.zeros(1600, dtype=np.float32), 16000)
    store.put("cd" * 32, np.zeros(1600, dtype=np.float32), 16000)
    old = 1_000_000_000  # 2001
    for name in store.storage.list("ab"):
        os.utime(store.storage.local_path(name), (old, old))
    missing = castline("gc", str(path), cwd=tmp_path)
    assert missing.returncode == 1 and "give --max-age, --max-size or both" in missing.stderr
    done = castline("gc", str(path), "--max-age", "30d", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "utterance cache" in done.stdout and "removed 1 entries" in done.stdout
    assert "ab" * 32 not in store and "cd" * 32 in store


UNCHANGED_RENDER_IMPORTS = """
import sys
from castline.cli import app
try:
    app(["render", sys.argv[1]])
except SystemExit:
    pass
print(sorted(name for name in ("prefect", "scipy", "pandas", "onnxruntime", "torch") if name in sys.modules))
"""


def test_an_unchanged_render_says_up_to_date_and_an_edit_renders_again(tmp_path: Path) -> None:
    write_epub(tmp_path / "book.epub", BOOK)
    path = project(tmp_path, output={"dir": "out", "formats": ["m4b"]})
    first = castline("render", str(path), cwd=tmp_path)
    assert first.returncode == 0 and "rendered 'T'" in first.stdout, first.stderr
    again = castline("render", str(path), cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.startswith(f"up to date: {tmp_path / 'out'} already holds"), again.stdout
    heavy = subprocess.run([sys.executable, "-c", UNCHANGED_RENDER_IMPORTS, str(path)], capture_output=True, text=True,
                           cwd=tmp_path, timeout=120)
    assert heavy.stdout.splitlines()[-1] == "[]", heavy.stdout + heavy.stderr  # an up-to-date check needs none of them
    write_epub(tmp_path / "book.epub", [BOOK[0], ("Chapter Two", ["The sun set."])])
    edited = castline("render", str(path), cwd=tmp_path)
    assert edited.returncode == 0 and "1 utterances synthesized" in edited.stdout, edited.stdout
