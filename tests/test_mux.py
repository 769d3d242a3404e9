"""tasks.media and tasks.mux: probing videos and muxing the dub into them, checked with ffprobe
(stream codecs, packet counts, tags and dispositions)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from castline.errors import InputError
from castline.ffmpeg import ffprobe_binary, probe, run_ffmpeg
from castline.language import iso639_2
from tasks.media import MediaInfo, MediaStream, probe_media
from tasks.mix import master_loudness, mix_dub
from tasks.mux import choose_container, mux_dub

RATE_HZ = 48000
SMPTE = "moviepy_smpte-2997.mp4"
BUNNY_51 = "lhotse_big_buck_bunny_small_5.1ch.mp4"
EXO_MKV = "exo_sample_with_srt.mkv"
SRT = "1\n00:00:00,200 --> 00:00:01,000\nGuten Tag.\n\n2\n00:00:01,100 --> 00:00:02,000\nWie geht's?\n"


@pytest.fixture(scope="module")
def videos(data_dir: Path) -> Path:
    return data_dir / "video"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mux")


@pytest.fixture(scope="module")
def subtitles(folder: Path) -> Path:
    path = folder / "dub.de.srt"
    path.write_text(SRT, encoding="utf-8")
    return path


def _mix(folder: Path, duration_s: float, name: str = "mix.wav") -> Path:
    """A stereo float WAV of a quiet 440 Hz tone, as long as the video."""
    t = np.arange(round(duration_s * RATE_HZ)) / RATE_HZ
    tone = 0.1 * np.sin(2 * np.pi * 440 * t)
    path = folder / name
    sf.write(path, np.stack([tone, tone], axis=1).astype(np.float32), RATE_HZ, subtype="FLOAT")
    return path


def _packets(path: Path) -> list[tuple[str, str, int]]:
    """``(codec_type, codec_name, packets)`` of each stream, counted by ffprobe."""
    count = ["-count_packets", "-print_format", "json", "-show_entries", "stream=codec_type,codec_name,nb_read_packets"]
    done = subprocess.run([ffprobe_binary(), "-v", "error", *count, str(path)], check=True, capture_output=True)
    streams = json.loads(done.stdout)["streams"]
    return [(s["codec_type"], s.get("codec_name", "unknown"), int(s["nb_read_packets"])) for s in streams]


def _originals_kept(source: MediaInfo, out: Path) -> list[tuple[str, str, int]]:
    """Assert that every non-data stream of ``source`` is in ``out``, in order, with its codec and
    packet count; return the streams ``out`` has besides them."""
    before = [p for p in _packets(source.path) if p[0] != "data"]
    after = _packets(out)
    assert after[: len(before)] == before
    return after[len(before) :]


# --- tasks.media ---------------------------------------------------------------------------


LANGUAGES = [
    ("en", "eng"), ("en-US", "eng"), ("EN", "eng"), ("eng", "eng"), ("en_GB", "eng"), ("de", "ger"),
    ("de-AT", "ger"), ("fr", "fre"), ("zh-CN", "chi"), ("zh-Hant-TW", "chi"), ("ja", "jpn"), ("es", "spa"),
    ("nl", "dut"), ("cs", "cze"), ("pt-BR", "por"), ("ko", "kor"), ("iw", "heb"), ("DEU", "deu"),
    ("yue", "yue"), ("xx", "und"), ("", "und"), ("x-klingon", "und"), ("12", "und"),
]  # fmt: skip


@pytest.mark.parametrize("tag, code", LANGUAGES)
def test_iso639_2(tag: str, code: str) -> None:
    assert iso639_2(tag) == code


def test_probe_media_reads_streams_and_tags(videos: Path) -> None:
    mp4 = probe_media(videos / SMPTE)
    assert "mp4" in mp4.format_name and mp4.duration_s == pytest.approx(10.048, abs=0.01)
    assert [(s.codec_type, s.codec_name) for s in mp4.streams] == [("video", "h264"), ("audio", "aac")]
    expected = MediaStream(1, "audio", "aac", language="und", channels=2, sample_rate=48000, title=None, default=True)
    assert mp4.audio[0] == expected  # its handler name "SoundHandler" is no title
    mkv = probe_media(videos / EXO_MKV)
    assert mkv.duration_s == pytest.approx(1.234, abs=0.01)
    (sub,) = mkv.subtitles
    assert (sub.codec_name, sub.language, sub.title, sub.default) == ("subrip", "eng", "Subs Label", True)
    assert probe_media(videos / BUNNY_51).audio[0].channels == 6


def test_probe_media_refuses_what_is_not_media(folder: Path, data_dir: Path) -> None:
    text = folder / "notes.txt"
    text.write_text("This is not a video.\n")
    for path in (text, data_dir / "palace_nestedtoc.epub"):
        with pytest.raises(InputError, match="not a video or audio file ffmpeg can read") as caught:
            probe_media(path)
        assert caught.value.path == path
    with pytest.raises(InputError, match="no such file"):
        probe_media(folder / "missing.mp4")


# --- choose_container ----------------------------------------------------------------------


def _info(format_name: str, *codecs: tuple[str, str]) -> MediaInfo:
    streams = tuple(MediaStream(i, kind, codec, None, None, None, None, False) for i, (kind, codec) in enumerate(codecs))
    return MediaInfo(Path("in"), format_name, 10.0, streams)


def test_choose_container(videos: Path) -> None:
    assert choose_container(probe_media(videos / SMPTE)) == "mp4"
    assert choose_container(probe_media(videos / BUNNY_51)) == "mp4"
    assert choose_container(probe_media(videos / EXO_MKV)) == "mkv"
    assert choose_container(_info("matroska,webm", ("video", "vp8"), ("audio", "vorbis"))) == "mkv"
    assert choose_container(_info("matroska,webm", ("video", "h264"), ("audio", "aac")), "mp4") == "mp4"
    assert choose_container(probe_media(videos / SMPTE), "mkv") == "mkv"
    mov = ("video", "h264"), ("audio", "aac"), ("data", "unknown")  # a timecode track does not count
    assert choose_container(_info("mov,mp4,m4a,3gp,3g2,mj2", *mov)) == "mp4"
    with_srt = _info("mov,mp4,m4a,3gp,3g2,mj2", ("video", "h264"), ("audio", "aac"), ("subtitle", "subrip"))
    assert choose_container(with_srt) == "mkv"
    with pytest.raises(ValueError, match=r"stream 2 \(subtitle subrip\)"):
        choose_container(with_srt, "mp4")
    with pytest.raises(ValueError, match=r"stream 2 \(subtitle subrip\)"):
        choose_container(probe_media(videos / EXO_MKV), "mp4")


# --- mux_dub -------------------------------------------------------------------------------


def _stream(info: MediaInfo, index: int) -> MediaStream:
    return next(s for s in info.streams if s.index == index)


def test_mp4_dub_of_a_real_mix(folder: Path, videos: Path) -> None:
    """The whole back end: mix a tone-burst "speech" stem over the original, master, mux."""
    video = probe_media(videos / SMPTE)
    n_samples = round(video.duration_s * RATE_HZ)
    t = np.arange(n_samples) / RATE_HZ
    speech = np.where((t > 2) & (t < 4), 0.3 * np.sin(2 * np.pi * 1000 * t), 0.0).astype(np.float32)
    sf.write(folder / "stem.wav", speech, RATE_HZ, subtype="FLOAT")
    mix_dub(folder / "stem.wav", video, folder / "smpte_mix.wav")
    master_loudness(folder / "smpte_mix.wav", folder / "smpte_master.wav")
    out = folder / "smpte.dub.mp4"
    container = choose_container(video)
    mux_dub(video, folder / "smpte_master.wav", out, container=container, language="en", title="English dub")
    added = _originals_kept(video, out)
    assert added[0][:2] == ("audio", "aac")
    dubbed = probe_media(out)
    assert "mp4" in dubbed.format_name
    original, dub = dubbed.audio
    assert not original.default and original.codec_name == "aac"
    assert (dub.language, dub.title, dub.default, dub.channels, dub.sample_rate) == ("eng", "English dub", True, 2, RATE_HZ)
    assert _stream(dubbed, 0).default  # video disposition untouched
    head = out.read_bytes()[:200_000]
    assert 0 <= head.find(b"moov") < head.find(b"mdat")  # faststart: the index comes first
    assert not list(folder.glob(".smpte.dub.mp4.*"))  # no temporary file left


def test_mkv_dub_with_soft_subtitles(folder: Path, videos: Path, subtitles: Path) -> None:
    video = probe_media(videos / EXO_MKV)
    out = folder / "exo.dub.mkv"
    title = "Deutsch (Synchronfassung)"
    mux_dub(video, _mix(folder, video.duration_s), out, container="mkv", language="de-DE", title=title, subtitles=subtitles)
    added = _originals_kept(video, out)
    assert [a[:2] for a in added] == [("audio", "aac"), ("subtitle", "subrip")]
    dubbed = probe_media(out)
    assert dubbed.format_name.startswith("matroska")
    original_audio, dub = dubbed.audio
    assert not original_audio.default and original_audio.codec_name == "ac3"
    assert (dub.language, dub.title, dub.default) == ("ger", title, True)
    original_sub, soft_sub = dubbed.subtitles
    assert (original_sub.language, original_sub.title, original_sub.default) == ("eng", "Subs Label", True)
    assert (soft_sub.codec_name, soft_sub.language, soft_sub.default) == ("subrip", "ger", False)


def test_mp4_dub_of_a_5_1_video_with_mov_text_subtitles(folder: Path, videos: Path, subtitles: Path) -> None:
    video = probe_media(videos / BUNNY_51)
    out = folder / "bunny.dub.mp4"
    mix = _mix(folder, video.duration_s)
    mux_dub(video, mix, out, container="mp4", language="fr", title="Doublage", subtitles=subtitles, subtitle_language="de")
    added = _originals_kept(video, out)
    assert [a[:2] for a in added] == [("audio", "aac"), ("subtitle", "mov_text")]
    dubbed = probe_media(out)
    assert [(s.channels, s.default) for s in dubbed.audio] == [(6, False), (2, True)]
    assert (dubbed.audio[1].language, dubbed.audio[1].title) == ("fre", "Doublage")
    assert dubbed.subtitles[0].language == "ger"


def test_a_timecode_track_is_rebuilt_and_a_silent_video_gets_the_dub_as_its_only_audio(folder: Path) -> None:
    source = folder / "timecode.mp4"
    picture = ["-f", "lavfi", "-i", "testsrc=size=64x48:rate=25:duration=2", "-c:v", "libx264", "-preset", "ultrafast"]
    run_ffmpeg(["-v", "error", "-y", *picture, "-timecode", "01:00:00:00", str(source)])
    video = probe_media(source)
    assert [s.codec_type for s in video.streams] == ["video", "data"]  # H.264 and tmcd, no audio
    assert choose_container(video) == "mp4"
    out = folder / "timecode.dub.mp4"
    mux_dub(video, _mix(folder, video.duration_s), out, container="mp4", language="ja", title="日本語吹き替え")
    added = _originals_kept(video, out)
    assert ("audio", "aac") in [a[:2] for a in added]
    raw = probe(out)
    tmcd = [s for s in raw["streams"] if s.get("codec_tag_string") == "tmcd"]
    assert len(tmcd) == 1 and tmcd[0]["tags"]["timecode"] == "01:00:00:00"
    (dub,) = probe_media(out).audio
    assert (dub.language, dub.title, dub.default) == ("jpn", "日本語吹き替え", True)
    mkv = folder / "timecode.dub.mkv"
    mux_dub(video, _mix(folder, video.duration_s), mkv, container="mkv", language="ja", title="Dub")
    assert [s.codec_type for s in probe_media(mkv).streams] == ["video", "audio"]


def test_mux_refuses_an_impossible_mp4_and_leaves_no_file(folder: Path, videos: Path) -> None:
    video = probe_media(videos / EXO_MKV)
    out = folder / "refused.mp4"
    with pytest.raises(ValueError, match="MP4 cannot carry stream 2"):
        mux_dub(video, _mix(folder, 1.0), out, container="mp4", language="en", title="Dub")
    with pytest.raises(InputError, match="no such subtitle file"):
        missing = folder / "missing.srt"
        mux_dub(video, _mix(folder, 1.0), out, container="mkv", language="en", title="Dub", subtitles=missing)
    assert not out.exists()
