"""gpt-sovits-api engine against a fake api_v2 server on 127.0.0.1."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
import soundfile as sf

from castline.errors import EngineError, VoiceError
from voices.engines import engine_class
from voices.engines.base import SynthesisRequest
from voices.engines.gpt_sovits_api import GPTSoVITSAPIEngine
from voices.profile import Reference, VoiceProfile

REQUIRED_FIELDS = ("text", "text_lang", "ref_audio_path", "prompt_lang")


class FakeAPI:
    """What the fake server answers next, and what it was asked."""

    def __init__(self) -> None:
        self.status = 200
        self.error: dict[str, Any] = {}
        self.rate_hz = 32000
        self.delay_s = 0.0
        self.bodies: list[dict[str, Any]] = []
        self.gets: list[tuple[str, dict[str, list[str]]]] = []

    def wav(self, text: str) -> bytes:
        n = int(self.rate_hz * 0.01 * len(text))  # 10 ms per character
        tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / self.rate_hz)
        buf = io.BytesIO()
        sf.write(buf, tone.astype(np.float32), self.rate_hz, format="WAV", subtype="PCM_16")
        return buf.getvalue()


def _handler(api: FakeAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def _reply(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            api.gets.append((url.path, parse_qs(url.query)))
            self._reply(200, json.dumps({"message": "success"}).encode(), "application/json")

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            api.bodies.append(body)
            time.sleep(api.delay_s)
            missing = [k for k in REQUIRED_FIELDS if not body.get(k)]
            if self.path != "/tts" or missing:
                self._reply(400, json.dumps({"message": f"{missing} is required"}).encode(), "application/json")
            elif api.status != 200:
                self._reply(api.status, json.dumps(api.error).encode(), "application/json")
            else:
                self._reply(200, api.wav(body["text"]), "audio/wav")

    return Handler


@pytest.fixture()
def server() -> Iterator[tuple[str, FakeAPI]]:
    api = FakeAPI()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(api))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", api
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    path = tmp_path / "alice.wav"
    rng = np.random.default_rng(0)
    sf.write(path, (0.1 * rng.standard_normal(16000 * 4)).astype(np.float32), 16000)
    return path


def _voice(clip: Path, url: str, **params: Any) -> VoiceProfile:
    return VoiceProfile(
        name="alice",
        engine="gpt-sovits-api",
        language="en",
        params={"url": url, **params},
        reference=Reference(audio=clip, text="This is how I sound.", language="en"),
    )


def _speak(voice: VoiceProfile, text: str = "Hello there.", seed: int = 7) -> np.ndarray:
    engine = GPTSoVITSAPIEngine.load(voice)
    try:
        [audio] = engine.synthesize([SynthesisRequest(text=text, voice=voice, seed=seed)])
    finally:
        engine.close()
    return audio


def test_posts_api_v2_body_and_decodes_the_wav(server: tuple[str, FakeAPI], clip: Path) -> None:
    url, api = server
    voice = _voice(clip, url, top_k=5, temperature=0.8, speed_factor=1.1, text_split_method="cut0")
    assert engine_class(voice) is GPTSoVITSAPIEngine
    audio = _speak(voice, "Hello there.")
    [body] = api.bodies
    assert body["text"] == "Hello there." and body["text_lang"] == "en"
    assert body["ref_audio_path"] == str(clip)
    assert body["prompt_text"] == "This is how I sound." and body["prompt_lang"] == "en"
    assert body["top_k"] == 5 and body["temperature"] == 0.8 and body["speed_factor"] == 1.1
    assert body["text_split_method"] == "cut0" and body["seed"] == 7
    assert body["media_type"] == "wav" and body["streaming_mode"] is False
    assert "top_p" not in body  # unset knobs keep the server's defaults
    assert audio.dtype == np.float32 and audio.shape == (int(32000 * 0.12),)
    assert 0.4 < np.abs(audio).max() <= 0.51


def test_server_side_reference_path_and_resampling(server: tuple[str, FakeAPI], clip: Path) -> None:
    url, api = server
    api.rate_hz = 16000
    voice = _voice(clip, url, ref_audio_path="/srv/clips/alice.wav", sample_rate=32000)
    audio = _speak(voice, "abcd")
    assert api.bodies[0]["ref_audio_path"] == "/srv/clips/alice.wav"
    assert audio.shape == (int(32000 * 0.04),)


def test_server_down_is_a_retryable_engine_error(clip: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(EngineError, match=rf"api_v2 server at {url}: connection refused — is it running\?"):
        _speak(_voice(clip, url, connect_timeout_s=2))


def test_bad_parameters_are_voice_errors(server: tuple[str, FakeAPI], clip: Path) -> None:
    url, api = server
    api.status = 400
    api.error = {"message": "text_lang: xx is not supported in version v2"}
    with pytest.raises(VoiceError, match="rejected /tts \\(HTTP 400\\): text_lang: xx is not supported"):
        _speak(_voice(clip, url))


def test_inference_failures_retry_but_reference_failures_do_not(server: tuple[str, FakeAPI], clip: Path) -> None:
    url, api = server
    api.status = 400
    api.error = {"message": "tts failed", "Exception": "CUDA out of memory"}
    with pytest.raises(EngineError, match="tts failed: CUDA out of memory"):
        _speak(_voice(clip, url))
    api.error = {"message": "tts failed", "Exception": "Reference audio is outside the 3-10 second range"}
    with pytest.raises(VoiceError, match="Reference audio"):
        _speak(_voice(clip, url))
    api.status, api.error = 500, {"detail": "Internal Server Error"}
    with pytest.raises(EngineError, match="HTTP 500"):
        _speak(_voice(clip, url))


def test_slow_server_times_out(server: tuple[str, FakeAPI], clip: Path) -> None:
    url, api = server
    api.delay_s = 1.0
    with pytest.raises(EngineError, match="no answer to /tts within 0.2 s"):
        _speak(_voice(clip, url, timeout_s=0.2))


def test_weights_are_loaded_once_before_speaking(server: tuple[str, FakeAPI], clip: Path) -> None:
    url, api = server
    voice = _voice(clip, url, gpt_weights="GPT_weights_v2/a.ckpt", sovits_weights="SoVITS_weights_v2/a.pth")
    engine = GPTSoVITSAPIEngine.load(voice)
    try:
        engine.synthesize([SynthesisRequest(text="One.", voice=voice), SynthesisRequest(text="Two.", voice=voice)])
    finally:
        engine.close()
    assert [(path, q["weights_path"]) for path, q in api.gets] == [
        ("/set_gpt_weights", ["GPT_weights_v2/a.ckpt"]),
        ("/set_sovits_weights", ["SoVITS_weights_v2/a.pth"]),
    ]
    assert len(api.bodies) == 2


def test_fingerprint_covers_what_changes_the_sound(clip: Path, tmp_path: Path) -> None:
    base = _voice(clip, "http://127.0.0.1:9880")
    fp = GPTSoVITSAPIEngine.fingerprint(base)
    assert GPTSoVITSAPIEngine.fingerprint(_voice(clip, "http://gpu-box:9880", timeout_s=9)) == fp
    assert GPTSoVITSAPIEngine.fingerprint(_voice(clip, "http://127.0.0.1:9880", model_tag="e15")) != fp
    assert GPTSoVITSAPIEngine.fingerprint(_voice(clip, "http://127.0.0.1:9880", top_k=3)) != fp
    other = tmp_path / "other.wav"
    sf.write(other, np.zeros(16000 * 4, dtype=np.float32), 16000)
    assert GPTSoVITSAPIEngine.fingerprint(_voice(other, "http://127.0.0.1:9880")) != fp


def test_check_rejects_bad_profiles(clip: Path) -> None:
    with pytest.raises(VoiceError, match="params.url"):
        GPTSoVITSAPIEngine.check(_voice(clip, "localhost:9880"))
    with pytest.raises(VoiceError, match="params.top_k"):
        GPTSoVITSAPIEngine.check(_voice(clip, "http://127.0.0.1:9880", top_k=0))
    with pytest.raises(VoiceError, match="params.text_lang"):
        GPTSoVITSAPIEngine.check(_voice(clip, "http://127.0.0.1:9880", text_lang="fr"))
    bare = VoiceProfile(name="x", engine="gpt-sovits-api", language="en", params={"url": "http://127.0.0.1:9880"})
    with pytest.raises(VoiceError, match="needs a reference clip"):
        GPTSoVITSAPIEngine.check(bare)
