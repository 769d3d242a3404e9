from __future__ import annotations

from pathlib import Path

import pytest

from castline.errors import OutputPathError
from castline.layout import OutputLayout
from tasks.publish import Staging, safe_filename


def test_nothing_is_published_until_publish(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Staging(OutputLayout(out)) as staging:
        staging.path("book.m4b", "d1").write_bytes(b"new")
        assert not (out / "book.m4b").exists()
        staging.publish()
    assert (out / "book.m4b").read_bytes() == b"new"
    assert not any((out / ".castline" / "staging").iterdir())


def test_a_failed_render_leaves_the_previous_deliverables(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Staging(OutputLayout(out)) as staging:
        staging.path("book.m4b", "d1").write_bytes(b"old")
        staging.publish()
    with pytest.raises(RuntimeError), Staging(OutputLayout(out)) as staging:
        staging.path("book.m4b", "d2").write_bytes(b"half-writ")
        raise RuntimeError("encoder died")
    assert (out / "book.m4b").read_bytes() == b"old"
    assert not any((out / ".castline" / "staging").iterdir())


def test_kept_and_removed_deliverables(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with Staging(OutputLayout(out)) as staging:
        staging.path("mp3/01.mp3", "a").write_bytes(b"1")
        staging.path("mp3/02.mp3", "b").write_bytes(b"2")
        staging.publish()
    with Staging(OutputLayout(out)) as staging:
        assert staging.published_digest("mp3/01.mp3") == "a"
        assert staging.published_digest("mp3/03.mp3") is None
        staging.keep("mp3/01.mp3", "a")
        staging.publish()
    assert (out / "mp3/01.mp3").read_bytes() == b"1"
    assert not (out / "mp3/02.mp3").exists()  # no longer produced


@pytest.mark.parametrize("name", ["../evil.mp3", "/etc/passwd", "mp3/../../x", "a/../../b"])
def test_paths_that_escape_are_refused(tmp_path: Path, name: str) -> None:
    with Staging(OutputLayout(tmp_path / "out")) as staging, pytest.raises(OutputPathError):
        staging.path(name)


def test_an_unwritten_deliverable_stops_the_publish(tmp_path: Path) -> None:
    with Staging(OutputLayout(tmp_path / "out")) as staging:
        staging.path("a.mp3", "x")
        with pytest.raises(FileNotFoundError):
            staging.publish()
    assert not (tmp_path / "out" / "a.mp3").exists()


@pytest.mark.parametrize(
    "title, expected",
    [("I—DOWN THE RABBIT-HOLE", "I—DOWN THE RABBIT-HOLE"), ("../../etc/passwd", "etc passwd"),
     ("a/b\\c:d*e?f", "a b c d e f"), ("...", "untitled"), ("Line\nbreak", "Line break")],
)
def test_safe_filename(title: str, expected: str) -> None:
    assert safe_filename(title) == expected
