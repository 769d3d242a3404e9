"""End to end: the dubbing demo (a real film clip, a two-speaker SRT, the real Piper voice, real
ffmpeg) inside a Prefect flow, checked with ffprobe, silencedetect and ebur128 rather than with
castline's own timing data."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import srt
import yaml
from piper_fixtures import EngineCalls

from castline.errors import CastlineError
from castline.ffmpeg import ffprobe_binary, measure_loudness, probe, run_ffmpeg

pytestmark = pytest.mark.e2e  # end-to-end renders: left out of make test-fast

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "projects" / "demo-dub.yaml"


def copy_demo(folder: Path) -> Path:
    for name in ("demo-dub.yaml", "bunny.webm", "bunny.en.srt"):
        shutil.copy(ROOT / "projects" / name, folder / name)
    shutil.copytree(ROOT / "projects" / "voices", folder / "voices")
    return folder / "demo-dub.yaml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, prefect_harness) -> Path:
    from flows.dubbing import dub

    manifest = copy_demo(tmp_path_factory.mktemp("dub"))
    dub(str(manifest))
    return manifest


def out_dir(manifest: Path) -> Path:
    return manifest.parent / "out-dub"


def packets(path: Path) -> list[tuple[str, str, int]]:
    """(type, codec, packet count) of every stream, counted by ffprobe."""
    done = subprocess.run(
        [ffprobe_binary(), "-v", "error", "-count_packets", "-show_entries",
         "stream=codec_type,codec_name,nb_read_packets", "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )
    return [(s["codec_type"], s["codec_name"], int(s["nb_read_packets"])) for s in json.loads(done.stdout)["streams"]]


def test_the_dub_is_one_more_default_audio_track_with_every_original_stream_copied(demo: Path) -> None:
    video = out_dir(demo) / "bunny.en.mkv"
    streams = probe(video)["streams"]
    assert [s["codec_type"] for s in streams] == ["video", "audio", "audio"]
    dub = streams[2]
    assert dub["tags"]["language"] == "eng" and dub["tags"]["title"] == "Dub (en)"
    assert dub["disposition"]["default"] == 1 and streams[1]["disposition"]["default"] == 0
    original, dubbed = packets(ROOT / "projects" / "bunny.webm"), packets(video)
    assert dubbed[:2] == original  # same codecs (vp8, vorbis), same packet counts


def speech_islands(wav: Path) -> list[tuple[float, float]]:
    """Where ffmpeg's silencedetect hears something in ``wav``."""
    log = run_ffmpeg(["-i", str(wav), "-af", "silencedetect=noise=-50dB:duration=0.05", "-f", "null", "-"])
    starts = [float(x) for x in re.findall(r"silence_start: (-?[\d.]+)", log)]
    ends = [float(x) for x in re.findall(r"silence_end: ([\d.]+)", log)]
    length = measure_loudness(wav, true_peak=False).duration_s
    islands, position = [], 0.0
    for start, end in zip(starts, [*ends, length]):
        if start > position:
            islands.append((position, start))
        position = end
    if position < length:
        islands.append((position, length))
    return [(a, b) for a, b in islands if b - a > 0.05]


def test_speech_lies_inside_its_cue_window_and_every_cue_is_spoken(demo: Path) -> None:
    cues = list(srt.parse((ROOT / "projects" / "bunny.en.srt").read_text(encoding="utf-8")))
    windows = [(c.start.total_seconds(), n.start.total_seconds() if n else 30.0) for c, n in zip(cues, [*cues[1:], None])]
    islands = speech_islands(out_dir(demo) / "bunny.en.dialog.wav")
    for start, end in islands:
        assert any(a - 0.05 <= start and end <= b for a, b in windows), (start, end, windows)
    for a, b in windows:
        assert any(a - 0.05 <= s < b for s, _ in islands), f"no speech in the cue at {a} s"


def test_the_mix_meets_ebu_r128(demo: Path) -> None:
    out = out_dir(demo)
    mix = measure_loudness(out / "bunny.en.mix.wav")
    assert abs(mix.integrated_lufs - (-23.0)) <= 1.0 and mix.true_peak_dbtp is not None and mix.true_peak_dbtp <= -1.0
    extracted = out.parent / "dub-track.wav"
    run_ffmpeg(["-y", "-i", str(out / "bunny.en.mkv"), "-map", "0:a:1", str(extracted)])
    track = measure_loudness(extracted)
    assert abs(track.integrated_lufs - (-23.0)) <= 1.0
    assert abs(track.duration_s - probe_duration(ROOT / "projects" / "bunny.webm")) <= 0.05


def probe_duration(path: Path) -> float:
    return float(probe(path)["format"]["duration"])


def test_the_report_has_every_cue_with_its_fit_and_the_overflow(demo: Path) -> None:
    out = out_dir(demo)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [c["cue"] for c in report["cues"]] == list(range(1, 9))
    assert {c["speaker"] for c in report["cues"]} == {"NARRATOR", "BIRD"}
    assert {c["voice"] for c in report["cues"]} == {"joe", "bird"}
    assert report["cues"][5]["text"] == "Good morning, sleepy head!"  # markup and speaker prefix gone
    squeezed = report["cues"][4]  # a long sentence in a 1.8 s cue
    assert squeezed["tempo"] == pytest.approx(1.25) and squeezed["overflow_s"] > 0 and squeezed["action"] == "trimmed"
    rows = (out / "cues.csv").read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("cue,speaker,voice,text,start_s,end_s,speech_s,tempo") and len(rows) == 9
    assert "did not fit" in (out / "report.md").read_text(encoding="utf-8")
    assert (out / "timeline.svg").read_text(encoding="utf-8").lstrip().startswith("<svg")
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["dub-cues"])))
    tables = [str(a.data) for a in artifacts if a.type == "table" and "Deep in a quiet green forest" in str(a.data)]
    assert tables and any("Good morning, sleepy head!" in t and "overflow_s" in t for t in tables)


def test_editing_one_cue_synthesizes_it_alone_and_moving_cues_synthesizes_nothing(
    demo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.dubbing import dub

    subtitles = demo.parent / "bunny.en.srt"
    original = subtitles.read_text(encoding="utf-8")
    calls = EngineCalls(monkeypatch)
    subtitles.write_text(original.replace("sleepy head", "little rabbit"), encoding="utf-8")
    result = dub(str(demo))
    assert calls.texts == ["Good morning, little rabbit!"] and result["synthesized"] == 1
    calls.texts.clear()
    subtitles.write_text(original.replace("00:00:23,000 --> 00:00:26,000", "00:00:22,500 --> 00:00:25,800"), encoding="utf-8")
    result = dub(str(demo))
    assert calls.texts == [] and result["synthesized"] == 0
    report = json.loads((out_dir(demo) / "report.json").read_text(encoding="utf-8"))
    assert report["cues"][6]["start_s"] == 22.5


def write_manifest(folder: Path, **spec: object) -> Path:
    path = folder / "dub.yaml"
    path.write_text(yaml.safe_dump({"kind": "dub", "language": "en", "voices": {"default": "joe"}, **spec}), encoding="utf-8")
    return path


def test_a_video_without_audio_gets_one_clear_message(tmp_path: Path) -> None:
    from castline.project import load_project
    from flows.preflight import preflight

    run_ffmpeg(["-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10:duration=3", "-c:v", "mpeg4",
                str(tmp_path / "silent.mp4")])
    (tmp_path / "a.srt").write_text("1\n00:00:00,500 --> 00:00:01,500\nHello.\n", encoding="utf-8")
    manifest = write_manifest(tmp_path, video="silent.mp4", subtitles="a.srt")
    with pytest.raises(CastlineError, match=r"silent\.mp4: has no audio stream to keep under the dub"):
        preflight(load_project(manifest))


def test_subtitles_longer_than_the_video_and_subtitles_without_cues_are_refused(tmp_path: Path) -> None:
    from castline.project import load_project
    from flows.preflight import preflight

    shutil.copy(ROOT / "projects" / "bunny.webm", tmp_path / "bunny.webm")
    (tmp_path / "late.srt").write_text("1\n00:00:01,000 --> 00:00:02,000\nHi.\n\n2\n00:01:00,000 --> 00:01:02,000\nBye.\n",
                                       encoding="utf-8")
    with pytest.raises(CastlineError, match=r"bunny\.webm: lasts 30\.0\d s but 1 of its 2 cues start after that"):
        preflight(load_project(write_manifest(tmp_path, video="bunny.webm", subtitles="late.srt")))
    (tmp_path / "empty.srt").write_text("\n\n", encoding="utf-8")
    with pytest.raises(CastlineError, match=r"empty\.srt"):
        preflight(load_project(write_manifest(tmp_path, video="bunny.webm", subtitles="empty.srt")))


DATA = Path(__file__).parent / "data" / "video"


def test_without_a_subtitle_file_the_videos_own_subtitle_stream_is_dubbed(tmp_path: Path, prefect_harness) -> None:
    from flows.dubbing import dub

    shutil.copy(DATA / "exo_sample_with_srt.mkv", tmp_path / "sample.mkv")
    manifest = write_manifest(tmp_path, video="sample.mkv", output={"dir": "out"})
    dub(str(manifest))
    out = tmp_path / "out"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [c["text"] for c in report["cues"]] == ["This is the first subtitle."]
    assert report["cues"][0]["start_s"] == 0.0 and report["cues"][0]["end_s"] == pytest.approx(1.234)
    assert report["cues"][0]["tempo"] > 1.0  # about 1.5 s of speech for 1.23 s of film
    streams = probe(out / "sample.en.mkv")["streams"]
    assert [(s["codec_type"], s["codec_name"]) for s in streams] == [
        ("video", "h264"), ("audio", "ac3"), ("subtitle", "subrip"), ("audio", "aac")]
    assert packets(out / "sample.en.mkv")[:3] == packets(DATA / "exo_sample_with_srt.mkv")


def test_an_mp4_stays_mp4_with_the_speech_alone_at_a_streaming_target_and_soft_subtitles(
    tmp_path: Path, prefect_harness
) -> None:
    from flows.dubbing import dub

    shutil.copy(DATA / "moviepy_smpte-2997.mp4", tmp_path / "smpte.mp4")
    (tmp_path / "smpte.srt").write_text(
        "1\n00:00:01,000 --> 00:00:04,000\nOne, two, three, four.\n\n"
        "2\n00:00:05,000 --> 00:00:09,000\n[ANNOUNCER] This is a test of the dubbing track.\n", encoding="utf-8")
    manifest = write_manifest(tmp_path, video="smpte.mp4", subtitles="smpte.srt", mix={"original": "replace"},
                              loudness={"integrated_lufs": -16.0}, output={"dir": "out", "embed_subtitles": True})
    dub(str(manifest))
    video = tmp_path / "out" / "smpte.en.mp4"
    streams = probe(video)["streams"]
    assert [s["codec_type"] for s in streams] == ["video", "audio", "audio", "subtitle"]
    assert streams[3]["codec_name"] == "mov_text" and streams[3]["tags"]["language"] == "eng"
    assert streams[2]["disposition"]["default"] == 1
    mix = measure_loudness(tmp_path / "out" / "smpte.en.mix.wav")
    assert abs(mix.integrated_lufs - (-16.0)) <= 1.0 and mix.true_peak_dbtp is not None and mix.true_peak_dbtp <= -1.0
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert [c["speaker"] for c in report["cues"]] == ["default", "ANNOUNCER"]
    assert report["cues"][1]["text"] == "This is a test of the dubbing track."


def castline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run([sys.executable, "-m", "castline.cli", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_validate_a_dub_and_bad_subtitles_fail_with_the_line_and_nothing_written(tmp_path: Path) -> None:
    manifest = copy_demo(tmp_path)
    done = castline("validate", str(manifest), cwd=tmp_path)
    assert done.returncode == 0 and "8 cues (21.5 s of 30.0 s), 2 speakers" in done.stdout, done.stdout + done.stderr
    listed = castline("chapters", str(manifest), cwd=tmp_path)
    assert listed.returncode == 1 and listed.stderr.count("\n") == 1, listed.stderr
    assert listed.stderr.startswith("error: ") and "a dub manifest has no book to list chapters of" in listed.stderr
    subtitles = tmp_path / "bunny.en.srt"
    subtitles.write_text(subtitles.read_text(encoding="utf-8").replace("00:00:09,500 --> 00:00:12,500\n", ""),
                         encoding="utf-8")
    warned = castline("validate", str(manifest), cwd=tmp_path)
    assert warned.returncode == 0 and "bunny.en.srt:9: no timing line (cue skipped)" in warned.stderr, warned.stderr
    raw = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    manifest.write_text(yaml.safe_dump({**raw, "subtitle": {"strict": True}}), encoding="utf-8")
    failed = castline("render", str(manifest), cwd=tmp_path)
    assert failed.returncode == 1 and "bunny.en.srt:9: no timing line" in failed.stderr, failed.stdout + failed.stderr
    manifest.write_text(yaml.safe_dump({**raw, "speakers": [{"speaker": "BIRD", "pattern": "(a+)+"}]}), encoding="utf-8")
    failed = castline("render", str(manifest), cwd=tmp_path)
    assert failed.returncode == 1 and "speakers.0:" in failed.stderr, failed.stdout + failed.stderr
    assert not (tmp_path / "out-dub").exists()
