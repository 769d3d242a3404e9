"""gpt-sovits-api: speak through a running upstream GPT-SoVITS ``api_v2.py`` server.

For users who already run GPT-SoVITS: castline sends one ``POST /tts`` per utterance and
reads back the WAV. Profile parameters::

    engine: gpt-sovits-api
    reference:                          # the cloned voice: clip and transcript
      audio: clips/alice.wav
      text: "The transcript of the clip."
      language: en
    params:
      url: http://127.0.0.1:9880       # the api_v2 server
      ref_audio_path: /srv/clips/alice.wav   # optional: the clip as the SERVER sees it
      model_tag: alice-e15-s480        # optional: names the weights the server has loaded
      gpt_weights: GPT_weights_v2/alice-e15.ckpt      # optional: make the server load these
      sovits_weights: SoVITS_weights_v2/alice_e8_s480.pth
      top_k: 15                        # sampling, as api_v2 names them
      top_p: 1.0
      temperature: 1.0
      repetition_penalty: 1.35
      speed_factor: 1.0
      text_split_method: cut5
      batch_size: 1
      timeout_s: 300                   # per request; connect_timeout_s: 5
      sample_rate: 32000               # rate castline hands on (the reply is resampled to it)

The server opens ``ref_audio_path`` itself, so that path must exist on the server's machine.
By default castline sends the profile's reference clip as an absolute local path, which works
when the server runs on the same machine (or sees the same mount). The cache fingerprint
hashes the clip when castline can read it, else uses the path.

api_v2 does not say which weights it has loaded, so switching weights on the server is
invisible to castline's cache: name them in ``model_tag`` (any string; it enters the
fingerprint), or give ``gpt_weights``/``sovits_weights`` (server-side paths), which castline
asks the server to load before speaking and which also enter the fingerprint.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Sequence
from math import gcd
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from castline.digest import digest, file_sha256
from castline.errors import EngineError, VoiceError
from castline.model import Hertz
from voices.engines.base import Engine, SynthesisRequest, engine_params
from voices.profile import VoiceProfile

__all__ = ["GPTSoVITSAPIEngine", "APIParams", "API_LANGUAGES"]

_log = logging.getLogger(__name__)

API_LANGUAGES = frozenset(
    {"auto", "auto_yue", "en", "zh", "ja", "yue", "ko", "all_zh", "all_ja", "all_yue", "all_ko"}
)
"""Language codes api_v2 accepts for ``text_lang`` and ``prompt_lang`` (v2 and later)."""
_SAMPLING_FIELDS = (
    "top_k", "top_p", "temperature", "repetition_penalty", "speed_factor", "text_split_method",
    "batch_size", "batch_threshold", "split_bucket", "fragment_interval", "parallel_infer",
    "sample_steps", "super_sampling",
)  # fmt: skip
_REFERENCE_HINTS = ("ref_audio", "reference", "参考音频", "3~10", "not exist", "No such file")


class APIParams(BaseModel):
    """The ``params`` of a gpt-sovits-api profile (sampling fields as api_v2 names them)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(pattern=r"^https?://[^\s/]+")
    """Base URL of the api_v2 server, e.g. ``http://127.0.0.1:9880``."""
    ref_audio_path: str | None = None
    """The reference clip as the server's filesystem names it (default: the profile's clip)."""
    aux_ref_audio_paths: list[str] = Field(default_factory=list)
    prompt_text: str | None = None
    """Transcript of the clip (default: the profile's ``reference.text``)."""
    prompt_lang: str | None = None
    """Language of the clip (default: the profile's ``reference.language``)."""
    text_lang: str | None = None
    """Language of the text to speak (default: the request's language)."""
    top_k: int | None = Field(default=None, ge=1)
    top_p: float | None = Field(default=None, gt=0, le=1)
    temperature: float | None = Field(default=None, gt=0)
    repetition_penalty: float | None = Field(default=None, gt=0)
    speed_factor: float | None = Field(default=None, gt=0, le=4)
    text_split_method: str | None = None
    batch_size: int | None = Field(default=None, ge=1)
    batch_threshold: float | None = None
    split_bucket: bool | None = None
    fragment_interval: float | None = Field(default=None, ge=0)
    parallel_infer: bool | None = None
    sample_steps: int | None = Field(default=None, ge=1)
    super_sampling: bool | None = None
    model_tag: str = ""
    """Names the weights loaded on the server; enters the cache fingerprint."""
    gpt_weights: str | None = None
    """Server-side path of a GPT (s1) checkpoint to load before speaking."""
    sovits_weights: str | None = None
    """Server-side path of a SoVITS (s2) checkpoint to load before speaking."""
    timeout_s: float = Field(default=300.0, gt=0)
    """How long one request may take, in seconds."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    sample_rate: Hertz = Field(default=32000, ge=8000, le=192000)
    """Rate of the waveforms castline gets, in Hertz; replies at other rates are resampled."""


def _params(voice: VoiceProfile) -> APIParams:
    params = engine_params(voice, APIParams)
    for key in ("prompt_lang", "text_lang"):
        value = getattr(params, key)
        if value is not None and value.lower() not in API_LANGUAGES:
            known = ", ".join(sorted(API_LANGUAGES))
            problem = f"params.{key}: {value!r} is not an api_v2 language ({known})"
            raise VoiceError(voice.path or voice.name, problem)
    return params


def _reference(voice: VoiceProfile, params: APIParams) -> tuple[str, str, str]:
    """(ref_audio_path as sent, prompt_text, prompt_lang)."""
    where = voice.path or voice.name
    ref = voice.reference
    path = params.ref_audio_path or (str(ref.audio) if ref else None)
    if not path:
        raise VoiceError(
            where, "gpt-sovits-api needs a reference clip: `reference.audio` or `params.ref_audio_path`"
        )
    text = params.prompt_text if params.prompt_text is not None else (ref.text if ref else "")
    lang = params.prompt_lang or (ref.language if ref else voice.language)
    if lang.lower() not in API_LANGUAGES:
        raise VoiceError(where, f"reference language {lang!r} is not an api_v2 language")
    return path, text, lang.lower()


def _clip_identity(voice: VoiceProfile, path: str) -> str:
    """sha256 of the clip when castline can read it (as the profile resolves it), else the path."""
    local = voice.resolve(path)
    try:
        return "sha256:" + file_sha256(local)
    except OSError:
        return "path:" + path


def _resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if rate_in == rate_out or audio.size == 0:
        return audio
    from scipy.signal import resample_poly

    g = gcd(rate_in, rate_out)
    return resample_poly(audio, rate_out // g, rate_in // g).astype(np.float32)


class _ServerState:
    """Per server URL: one request at a time, and which weights we last asked it to load."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.weights: dict[str, str] = {}


_SERVERS: dict[str, _ServerState] = {}
_SERVERS_LOCK = threading.Lock()


def _server(url: str) -> _ServerState:
    with _SERVERS_LOCK:
        return _SERVERS.setdefault(url, _ServerState())


class GPTSoVITSAPIEngine(Engine):
    """A client of one api_v2 server; voices on the same server and weights share it."""

    name: ClassVar[str] = "gpt-sovits-api"
    clones: ClassVar[bool] = True
    preferred_batch_size: ClassVar[int] = 4
    max_chars: ClassVar[int] = 400

    def __init__(self, params: APIParams) -> None:
        import httpx

        self.url = params.url.rstrip("/")
        self.sample_rate = params.sample_rate
        self.languages = frozenset({"en", "zh", "ja", "ko", "yue"})
        timeout = httpx.Timeout(params.timeout_s, connect=params.connect_timeout_s)
        self._client = httpx.Client(base_url=self.url, timeout=timeout)
        self._timeout_s = params.timeout_s
        self._state = _server(self.url)

    @classmethod
    def check(cls, voice: VoiceProfile) -> None:
        _reference(voice, _params(voice))

    @classmethod
    def fingerprint(cls, voice: VoiceProfile) -> str:
        params = _params(voice)
        path, text, lang = _reference(voice, params)
        sound = params.model_dump(
            exclude={"url", "ref_audio_path", "prompt_text", "prompt_lang", "timeout_s", "connect_timeout_s"}
        )
        return digest(
            {
                "engine": cls.name,
                "clip": _clip_identity(voice, path),
                "aux_clips": [_clip_identity(voice, p) for p in params.aux_ref_audio_paths],
                "prompt_text": text,
                "prompt_lang": lang,
                "params": sound,
            }
        )

    @classmethod
    def model_key(cls, voice: VoiceProfile) -> str:
        params = _params(voice)
        return digest([params.url.rstrip("/"), params.gpt_weights, params.sovits_weights, params.sample_rate,
                       params.timeout_s, params.connect_timeout_s])  # fmt: skip

    @classmethod
    def load(cls, voice: VoiceProfile) -> GPTSoVITSAPIEngine:
        return cls(_params(voice))

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def synthesize(self, requests: Sequence[SynthesisRequest]) -> list[np.ndarray]:
        return [self._speak(r) for r in requests]

    def request_body(self, request: SynthesisRequest) -> dict[str, Any]:
        """The JSON body of ``POST /tts`` for one request (api_v2's field names)."""
        params = _params(request.voice)
        path, text, lang = _reference(request.voice, params)
        body: dict[str, Any] = {
            "text": request.text,
            "text_lang": (params.text_lang or request.text_language).lower(),
            "ref_audio_path": path,
            "prompt_text": text,
            "prompt_lang": lang,
            "seed": int(request.seed),
            "media_type": "wav",
            "streaming_mode": False,
        }
        if params.aux_ref_audio_paths:
            body["aux_ref_audio_paths"] = list(params.aux_ref_audio_paths)
        for key in _SAMPLING_FIELDS:
            value = getattr(params, key)
            if value is not None:
                body[key] = value
        return body

    def _speak(self, request: SynthesisRequest) -> np.ndarray:
        params = _params(request.voice)
        body = self.request_body(request)
        with self._state.lock:
            self._ensure_weights(params, request.voice)
            reply = self._call("POST", "/tts", request.voice, json=body)
        return self._decode(reply.content, request.voice)

    def _ensure_weights(self, params: APIParams, voice: VoiceProfile) -> None:
        for kind, path in (("gpt", params.gpt_weights), ("sovits", params.sovits_weights)):
            if path and self._state.weights.get(kind) != path:
                self._call("GET", f"/set_{kind}_weights", voice, params={"weights_path": path})
                self._state.weights[kind] = path
                _log.info("GPT-SoVITS api_v2 server at %s loaded %s weights %s", self.url, kind, path)

    def _call(self, method: str, route: str, voice: VoiceProfile, **kwargs: Any) -> Any:
        import httpx

        where = f"GPT-SoVITS api_v2 server at {self.url}"
        try:
            reply = self._client.request(method, route, **kwargs)
        except httpx.ConnectError as exc:
            raise EngineError(f"{where}: connection refused — is it running? ({exc})") from None
        except httpx.TimeoutException:
            raise EngineError(f"{where}: no answer to {route} within {self._timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise EngineError(f"{where}: {route} failed: {exc}") from None
        if reply.status_code >= 500:
            raise EngineError(f"{where}: {route} answered HTTP {reply.status_code}: {_message(reply)}")
        if reply.status_code >= 400:
            message = _message(reply)
            if reply.status_code == 400 and message.startswith("tts failed") and not _about_reference(message):
                raise EngineError(f"{where}: {message}")
            problem = f"{where} rejected {route} (HTTP {reply.status_code}): {message}"
            raise VoiceError(voice.path or voice.name, problem)
        return reply

    def _decode(self, payload: bytes, voice: VoiceProfile) -> np.ndarray:
        import soundfile as sf

        try:
            audio, rate = sf.read(io.BytesIO(payload), dtype="float32", always_2d=True)
        except (RuntimeError, sf.LibsndfileError) as exc:
            where = f"GPT-SoVITS api_v2 server at {self.url}"
            raise EngineError(f"{where} sent audio castline cannot decode: {exc}") from None
        mono = audio.mean(axis=1) if audio.shape[1] > 1 else audio[:, 0]
        return np.clip(_resample(mono, int(rate), self.sample_rate), -1.0, 1.0).astype(np.float32)


def _message(reply: Any) -> str:
    """api_v2's error text: ``message`` (and ``Exception``) of its JSON body, else the raw text."""
    try:
        data = reply.json()
    except (json.JSONDecodeError, ValueError):
        return reply.text[:300].strip() or reply.reason_phrase
    if isinstance(data, dict):
        parts = [str(data.get("message") or data.get("detail") or "")]
        if data.get("Exception"):
            parts.append(str(data["Exception"]))
        return ": ".join(p for p in parts if p) or json.dumps(data)[:300]
    return json.dumps(data)[:300]


def _about_reference(message: str) -> bool:
    return any(hint.lower() in message.lower() for hint in _REFERENCE_HINTS)
