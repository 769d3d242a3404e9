"""The review page (tasks/review_page.py) and ``castline review``: self-contained, escaped, with
plots and players that a real headless browser decodes. Every test name has ``qa`` in it."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import time
import webbrowser
from dataclasses import dataclass, replace
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml
from epub_fixtures import NO_CREDITS
from typer.testing import CliRunner

from castline.layout import OutputLayout
from tasks.fit import CueWindow, fit_cues
from tasks.review_page import FlaggedTake, ReviewPage, _hop_energy, _windowed_db, latest_review_page, write_review_page
from tasks.timeline_plot import timeline_svg

HOSTILE = "Tom & Jerry <script>alert('x')</script>"
"""Untrusted text (a book's, a subtitle's): must reach the reader as text, never as markup."""
TAKE_LENGTHS_S = (1.5, 2.5)


def _speech_like(path: Path, seconds: float, rate: int, amplitude: float) -> Path:
    """A 220 Hz tone swelling at 0.3 Hz: speech-like enough for levels and the Opus encoder."""
    t = np.arange(int(seconds * rate)) / rate
    samples = amplitude * np.sin(2 * np.pi * 220 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.3 * t))
    soundfile.write(path, samples.astype(np.float32), rate, format="FLAC")
    return path


def _page(folder: Path, **changes: object) -> ReviewPage:
    chapters = [("Chapter One", _speech_like(folder / "ch1.flac", 8.0, 44100, 0.14)),
                (HOSTILE, _speech_like(folder / "ch2.flac", 6.0, 44100, 0.07))]
    takes = [
        FlaggedTake("ch1-0003", f"The cat sat on the mat. {HOSTILE}", "the cat sat on a hat tom and jerry",
                    ("word error rate 0.62 > 0.35",), {"WER": "0.62", "attempts": "3"},
                    _speech_like(folder / "take1.flac", TAKE_LENGTHS_S[0], 22050, 0.2)),
        FlaggedTake(f"ch2-0001 {HOSTILE}", "Hello world.", "", ("1.4 s of silence at the end", HOSTILE),
                    {"duration": "2.50 s (0.8-1.6 s expected)", HOSTILE: HOSTILE},
                    _speech_like(folder / "take2.flac", TAKE_LENGTHS_S[1], 24000, 0.2)),
    ]
    windows = [CueWindow(1.0, 3.0), CueWindow(5.0, 6.0)]
    page = ReviewPage(
        title=f"Alice {HOSTILE}",
        subtitle="audiobook by A. Writer, rendered 2026-12-02 07:30 UTC",
        summary=[("duration", "0:00:14"), ("flagged takes", "2 of 5"), (HOSTILE, HOSTILE)],
        warnings=[f"chapter 2: {HOSTILE}"],
        tables=[("Chapters", [{"#": 1, "title": "Chapter One", "rms_db": -20.04, "acx": True},
                              {"#": 2, "title": HOSTILE, "rms_db": float("-inf"), "acx": False}])],
        loudness=chapters,
        wers=[0.0, 0.05, 0.1, 0.4, 0.62],
        flagged=takes,
        timeline_svg=timeline_svg(fit_cues(windows, [6.0, 0.5], 10.0), windows, [HOSTILE, "two"], 10.0),
    )
    return replace(page, **changes)  # type: ignore[arg-type]


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str]


class _Parsed(HTMLParser):
    """Every start tag with its attributes, and the page's text as a reader sees it."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[_Element] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(_Element(tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def tags(self, name: str) -> list[_Element]:
        return [e for e in self.elements if e.tag == name]


def _parse(html_text: str) -> _Parsed:
    parsed = _Parsed()
    parsed.feed(html_text)
    parsed.close()
    return parsed


SVG_NAMESPACE = 'xmlns="http://www.w3.org/2000/svg"'
"""The timeline's namespace declaration (a name, not a reference: nothing fetches it)."""
URL_ATTRIBUTES = ("src", "href", "xlink:href", "poster", "data", "action", "srcset", "background")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("review")
    path = folder / "out" / "report.html"
    write_review_page(_page(folder), path)
    return path, path.read_text(encoding="utf-8")


def test_qa_review_page_is_self_contained(written: tuple[Path, str]) -> None:
    _, page = written
    assert "http://" not in page.replace(SVG_NAMESPACE, "") and "https://" not in page
    assert not re.search(r"url\(\s*['\"]?(?!#)", page), "a CSS url() other than a fragment"
    parsed = _parse(page)
    for element in parsed.elements:
        for name in URL_ATTRIBUTES:
            value = element.attrs.get(name)
            if value is not None:
                assert value.startswith(("data:", "#")), f"<{element.tag} {name}={value[:60]!r}>"
    assert not parsed.tags("link") and not parsed.tags("iframe") and not parsed.tags("object")
    scripts = parsed.tags("script")
    assert len(scripts) == 1 and "src" not in scripts[0].attrs  # the page's own, inline
    policy = next(e.attrs["content"] for e in parsed.tags("meta") if e.attrs.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in policy


def test_qa_review_page_has_plots_and_one_player_per_flagged_take(written: tuple[Path, str]) -> None:
    _, page = written
    parsed = _parse(page)
    section_ids = [e.attrs["id"] for e in parsed.tags("section")]
    assert section_ids[:5] == ["summary", "warnings", "wer", "flagged", "loudness"]
    assert "timeline" in section_ids and "table-1" in section_ids
    assert len(parsed.tags("svg")) == 3  # WER histogram, loudness, the dub timeline
    assert {e.attrs.get("aria-label") for e in parsed.tags("svg")} >= {"wer plot", "loudness plot"}
    ids = [e.attrs["id"] for e in parsed.elements if "id" in e.attrs]
    assert len(ids) == len(set(ids)), "two plots share an element id"
    players = parsed.tags("audio")
    assert len(players) == 2 and len(parsed.tags("article")) == 2
    for player in players:
        assert "controls" in player.attrs
        prefix = "data:audio/ogg;base64,"
        assert player.attrs["src"].startswith(prefix)
        ogg = base64.b64decode(player.attrs["src"][len(prefix):])
        assert ogg[:4] == b"OggS" and b"OpusHead" in ogg[:100]
        assert len(ogg) < 4000 * max(TAKE_LENGTHS_S) + 2000  # ~32 kbit/s
    text = "".join(parsed.text)
    assert "1.4 s of silence at the end" in text and "2.50 s (0.8-1.6 s expected)" in text
    assert "RMS over 3 s windows every 1 s" in text


def test_qa_review_page_escapes_untrusted_text(written: tuple[Path, str]) -> None:
    _, page = written
    assert "<script>alert" not in page and "Tom &amp; Jerry &lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    parsed = _parse(page)
    text = "".join(parsed.text)
    assert text.count("alert('x')") >= 10  # title, summary, warning, table, card, chapter key, timeline...
    assert len(parsed.tags("script")) == 1
    utterances = [e.attrs["data-utterance"] for e in parsed.tags("article")]
    assert utterances == ["ch1-0003", f"ch2-0001 {HOSTILE}"]  # an attribute value, quotes and all
    marks = [e.attrs.get("class") for e in parsed.tags("mark")]
    assert "miss" in marks and "extra" in marks  # words that differ are marked


def test_qa_review_page_caps_players_and_omits_plots_without_data(tmp_path: Path) -> None:
    path = tmp_path / "capped.html"
    write_review_page(_page(tmp_path, max_players=1, loudness=[], wers=[], timeline_svg=None), path)
    parsed = _parse(path.read_text(encoding="utf-8"))
    assert len(parsed.tags("audio")) == 1 and len(parsed.tags("article")) == 2
    assert "1 more flagged takes are only listed" in "".join(parsed.text)
    assert not parsed.tags("svg")
    assert [e.attrs["id"] for e in parsed.tags("section")] == ["summary", "warnings", "flagged", "table-1"]


def test_qa_review_page_notes_missing_audio_instead_of_failing(tmp_path: Path) -> None:
    page = _page(tmp_path)
    gone = replace(page.flagged[0], audio=tmp_path / "gone.flac")
    path = tmp_path / "page.html"
    write_review_page(replace(page, flagged=[gone], loudness=[("lost", tmp_path / "lost.flac"), *page.loudness]), path)
    parsed = _parse(path.read_text(encoding="utf-8"))
    text = "".join(parsed.text)
    assert not parsed.tags("audio") and "gone.flac is missing" in text
    assert "lost: cannot read" in text  # and the other chapters are still plotted:
    assert "loudness plot" in {e.attrs.get("aria-label") for e in parsed.tags("svg")}


def test_qa_loudness_windows_match_the_signal_level(tmp_path: Path) -> None:
    rate, seconds = 16000, 10.5
    t = np.arange(int(rate * seconds)) / rate
    stereo = np.stack([0.1 * np.sin(2 * np.pi * 300 * t)] * 2, axis=1)  # RMS 0.1/sqrt(2): -23.0 dBFS
    stereo[int(8 * rate):] = 0.0  # digital silence at the end
    path = tmp_path / "level.flac"
    soundfile.write(path, stereo.astype(np.float32), rate)
    energy = _hop_energy(path, 1.0)
    assert energy.sums.size == 11 and int(energy.counts.sum()) == t.size and energy.duration_s == pytest.approx(seconds)
    rms_db = _windowed_db(energy, group=1, window_steps=3)
    assert rms_db[1:7] == pytest.approx(-23.01, abs=0.05)
    assert rms_db[-1] == -90.0  # silence sits on the plot's floor
    coarse = _windowed_db(energy, group=4, window_steps=1)
    assert coarse.size == 3 and coarse[0] == pytest.approx(-23.01, abs=0.05)


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("chromium is not installed (make setup installs Debian's)")
    return found


def test_qa_review_page_plays_in_headless_chromium(written: tuple[Path, str], tmp_path: Path) -> None:
    """Chromium loads the page offline; the page's script records each player's decoded length."""
    path, _ = written
    command = [
        _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--mute-audio",
        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--virtual-time-budget=10000",
        "--dump-dom", path.as_uri(),
    ]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=dict(os.environ, HOME=str(tmp_path)))
    took_s = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Content Security Policy" not in done.stderr, "the page blocked its own script or media"
    dom = _parse(done.stdout)
    players = dom.tags("audio")
    assert len(players) == len(TAKE_LENGTHS_S), done.stdout[:500]
    durations_s = [float(p.attrs.get("data-duration", "nan")) for p in players]
    assert durations_s == pytest.approx(list(TAKE_LENGTHS_S), abs=0.05), [p.attrs.get("data-error") for p in players]
    assert all("data-error" not in p.attrs for p in players)
    assert {e.attrs.get("aria-label") for e in dom.tags("svg")} >= {"wer plot", "loudness plot"}
    assert len(dom.tags("path")) > 10 and dom.tags("rect")  # the plots' lines and bars are in the DOM
    print(f"chromium: {took_s:.1f} s, durations {durations_s}")


# --- castline review ------------------------------------------------------------------------


def _project(folder: Path) -> Path:
    (folder / "book.epub").write_bytes(b"not read by castline review")
    spec = {"kind": "audiobook", "credits": NO_CREDITS, "title": "T", "author": "A", "language": "en", "source": "book.epub",
            "voices": {"narrator": "joe"}, "output": {"dir": "out", "formats": ["m4b"]}}
    manifest = folder / "book.yaml"
    manifest.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return manifest


def _no_browser(url: str, *args: object, **kwargs: object) -> bool:
    raise AssertionError(f"a browser was opened for {url}")


def test_qa_review_command_without_a_page_says_to_render_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from castline.cli import app

    monkeypatch.setattr(webbrowser, "open", _no_browser)
    result = CliRunner().invoke(app, ["review", str(_project(tmp_path)), "--no-open"], env={"COLUMNS": "300", "NO_COLOR": "1"})
    assert result.exit_code == 1
    said = " ".join(result.output.split())
    assert f"error: {tmp_path / 'out'}: no review page there yet; render first" in said


def test_qa_review_command_prints_or_opens_the_newest_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from castline.cli import app

    manifest = _project(tmp_path)
    layout = OutputLayout(tmp_path / "out")
    layout.work_dir.mkdir(parents=True)
    stopped = layout.review_page
    stopped.write_text("<!doctype html><title>stopped by QA</title>", encoding="utf-8")
    monkeypatch.setattr(webbrowser, "open", _no_browser)
    runner = CliRunner()
    for flag in ("--no-open", "--print"):
        result = runner.invoke(app, ["review", str(manifest), flag])
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == str(stopped)

    published = layout.output_dir / "report.html"
    published.write_text("<!doctype html><title>published</title>", encoding="utf-8")
    os.utime(stopped, (time.time() - 60, time.time() - 60))  # the QA-stopped render came first
    assert latest_review_page(layout) == published
    opened: list[str] = []

    def open_browser(url: str, *args: object, **kwargs: object) -> bool:
        opened.append(url)
        return True

    monkeypatch.setattr(webbrowser, "open", open_browser)
    result = runner.invoke(app, ["review", str(manifest)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(published) and opened == [published.as_uri()]

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "report.html").write_text("<!doctype html>", encoding="utf-8")
    result = runner.invoke(app, ["review", str(manifest), "--out", str(elsewhere), "--print"])
    assert result.exit_code == 0 and result.stdout.strip() == str(elsewhere / "report.html")
