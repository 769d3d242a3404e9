"""The voice registry: every enrolled version of every voice, and which one is published.

Enrollment (:mod:`voices.enroll`) adds a *candidate* version of a voice; validation then
rejects it (with its reason and figures) or publishes it. A render names a voice as ``alice``
(its published version), ``alice@3`` (a pinned version, candidate or published) or
``alice@candidate`` (the newest candidate), and :meth:`VoiceRegistry.profile` turns the version
into the :class:`~voices.profile.VoiceProfile` the engines take.

The registry lives in a :class:`~castline.storage.Storage` (a directory, or any fsspec URL),
``$CASTLINE_VOICES``, ``$CASTLINE_STORAGE/voices`` or ``~/.castline/voices`` by default. Its layout::

    alice/1/version.json              the version's record: written last, never rewritten
    alice/1/ref-1.wav                 the files added with it (reference clips, features.npz,
    alice/1/features.npz              consent.wav...), under the names the enrollment gave them
    alice/events/000001-decide-<token>.json     the voice's append-only event log: one small
    alice/events/000002-publish-<token>.json    record per decision, publication or rollback
    alice/events/000003-rollback-<token>.json
    .alice.lock                       (a local directory only) the flock that serializes changes

A version exists once its ``version.json`` does; the files beside it are written first. A
version's audio, parameters and figures never change once recorded. Its status (and the
figures validation found) comes from the events, replayed in order: ``decide`` gives a
candidate its verdict, ``publish`` makes a version the published one, ``rollback`` returns to
the version published before the current one (the publications form a stack).

Concurrency: every change to one voice (an add, a decision, a publication, a rollback) runs
under a lock per voice in the process. In a local directory an ``flock`` on ``.NAME.lock``
serializes processes too, so version and event numbers are simply the next free ones. On
fsspec storage there is no lock: a new version is claimed by writing ``NAME/N/claim-<token>.json``
first and listing ``NAME/N/``; anyone who sees another entry there deletes its claim and tries
the next number. An event is written under its number and checked the same way. This holds
as long as the backend lists what was written before (read-after-write consistent: local
files, memory://, S3, GCS and Azure are). Until a racing change backs off, a reader may see
both its event and the winner's. A claim left by a process killed mid-add keeps its number
unused for good (as do the files of a local add killed mid-copy); they are never a version.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import random
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from castline.errors import VoiceError, quoted, shorten
from castline.settings import shared_location
from castline.storage import LocalStorage, Storage, open_storage
from voices.profile import Reference, VoiceProfile

__all__ = [
    "Status", "Consent", "VoiceVersion", "VoiceRegistry", "parse_ref", "check_name",
    "REGISTRY_ENV", "DEFAULT_REGISTRY", "REGISTRY_SETTING",
]

Status = Literal["candidate", "published", "rejected"]
REGISTRY_ENV = "CASTLINE_VOICES"
DEFAULT_REGISTRY = Path("~/.castline/voices")
"""Where the registry is when neither ``--registry`` nor ``$CASTLINE_VOICES`` says (``~`` expanded at use)."""
REGISTRY_SETTING = "--registry / CASTLINE_VOICES / CASTLINE_STORAGE"
LOCK_TIMEOUT_S = 120.0
"""How long a change waits for another process's change to the same voice (local directory)."""

RECORD = "version.json"
_FORMAT = 1
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FILE_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_EVENT = re.compile(r"(\d{6,})-(decide|publish|rollback)-[0-9a-f]+\.json")
_ATTEMPTS = 60
_GUARDS: dict[tuple[str, str], threading.Lock] = {}
_GUARDS_LOCK = threading.Lock()


@dataclass(frozen=True)
class Consent:
    """The speaker's consent to a synthetic copy of their voice."""

    who: str
    when: str
    """ISO 8601 date or date and time."""
    scope: str
    """What the voice may be used for, in the speaker's terms."""
    recording: str | None = None
    """Registry file name (within the version) of the spoken consent clip, if there is one."""


@dataclass(frozen=True)
class VoiceVersion:
    """One version of a voice as the registry holds it; ``status`` (and the figures) as of now."""

    name: str
    version: int
    """1, 2, 3... per voice."""
    created_at: str
    """ISO 8601 UTC (``2026-03-01T12:00:00Z``)."""
    engine: str
    """Engine name (``gpt-sovits``, ``piper``...)."""
    model: str
    """The engine's model identity: a checkpoint digest or file, or a preset name."""
    parent: int | None
    """The version this one was enrolled from (usually the one published then), if any."""
    duration_s: float
    """Total speech enrolled, in seconds."""
    clips: int
    """Number of reference clips."""
    similarity: float | None
    """Cosine similarity of the probes to the reference mean embedding (-1..1), once validated."""
    wer: float | None
    """ASR word error rate of the probes, a fraction (0.0 is perfect), once validated."""
    status: Status
    reason: str | None
    """Why the version was rejected."""
    consent: Consent | None
    language: str
    params: dict[str, Any]
    """Engine parameters of the profile (a Piper preset's, GPT-SoVITS checkpoints...)."""
    references: tuple[tuple[str, str], ...]
    """(registry file name of a reference clip, its transcript), the first one being the profile's."""
    features: str | None = None
    """Registry file name of precomputed averaged features (npz), if any."""

    @property
    def id(self) -> str:
        """``name@version``, as renders pin it."""
        return f"{self.name}@{self.version}"


def check_name(name: str) -> str:
    """``name`` if it is a valid voice name (letters, digits, ``-`` and ``_``; 1-64 characters)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise VoiceError(shorten(str(name), 80), f"invalid voice name {quoted(name, 80)}: use 1-64 letters, digits, '-' or '_'")
    return name


def parse_ref(ref: str) -> tuple[str, int | Literal["candidate", "published"] | None]:
    """``alice`` -> (alice, None); ``alice@3`` -> (alice, 3); ``alice@candidate`` / ``alice@published``."""
    name, at, selector = ref.partition("@")
    check_name(name)
    if not at:
        return name, None
    if selector.isascii() and selector.isdigit() and int(selector) >= 1:
        return name, int(selector)
    if selector in ("candidate", "published"):
        return name, selector  # type: ignore[return-value]  # narrowed by the test above
    raise VoiceError(shorten(ref, 80), "after '@' comes a version number, 'candidate' or 'published'")


@dataclass
class _State:
    """A voice as its records and events say now."""

    versions: dict[int, VoiceVersion] = field(default_factory=dict)
    folders: set[int] = field(default_factory=set)
    """Version numbers in use, records or not (a half-done add still takes its number)."""
    stack: list[int] = field(default_factory=list)
    """Publications in order; the last one is the published version."""
    last_event: int = 0

    @property
    def published(self) -> int | None:
        return self.stack[-1] if self.stack else None

    def summary(self) -> str:
        return ", ".join(f"{n} {v.status}" for n, v in sorted(self.versions.items())) or "none"


class _ConsentSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    who: str
    when: str
    scope: str
    recording: str | None = None


class _RecordSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    format: Literal[1]
    name: str
    version: int = Field(ge=1)
    created_at: str
    engine: str
    model: str
    parent: int | None
    duration_s: float
    clips: int
    similarity: float | None
    wer: float | None
    status: Literal["candidate", "rejected"]
    reason: str | None
    consent: _ConsentSchema | None
    language: str
    params: dict[str, Any]
    references: list[tuple[str, str]]
    features: str | None = None


class _EventSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    event: Literal["decide", "publish", "rollback"]
    version: int = Field(ge=1)
    """decide, publish: the version concerned; rollback: the version published again."""
    at: str
    status: Literal["candidate", "published", "rejected"] | None = None
    reason: str | None = None
    similarity: float | None = None
    wer: float | None = None
    previous: int | None = None
    """publish, rollback: the version that was published before."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dump(record: Mapping[str, Any]) -> bytes:
    return (json.dumps(record, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def _check_figure(label: str, value: float | None, where: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)):
        raise VoiceError(where, f"{label} must be a finite number, not {quoted(value, 60)}")


def _check_file_name(key: str, where: str) -> str:
    parts = key.split("/") if isinstance(key, str) else [""]
    if not all(_FILE_PART.fullmatch(p) for p in parts) or key == RECORD or parts[-1].startswith("claim-"):
        raise VoiceError(where, f"invalid registry file name {quoted(key, 80)}: plain names of letters, digits, '.', "
                                f"'-', '_' (folders with '/'), not {RECORD!r} nor 'claim-*'")
    return key


def _holder() -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}, since {time.strftime('%Y-%m-%d %H:%M:%S')}"


@contextlib.contextmanager
def _flock(path: Path, name: str, timeout_s: float) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (waiting up to ``timeout_s``); the kernel drops it if we die."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    holder = os.pread(fd, 1024, 0).decode("utf-8", "replace").strip() or "holder unknown"
                    raise VoiceError(name, f"another change to this voice holds {path} ({holder})") from None
                time.sleep(random.uniform(0.005, 0.03))
        os.ftruncate(fd, 0)
        os.pwrite(fd, _holder().encode("utf-8") + b"\n", 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _back_off(attempt: int) -> None:
    time.sleep(random.uniform(0.002, 0.02) * (1 + min(attempt, 10)))


class VoiceRegistry:
    """The versions of every voice in one storage; see the module docstring for layout and rules."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @property
    def url(self) -> str:
        """Where the registry is, as configured (for messages)."""
        return self.storage.url

    @classmethod
    def open(cls, location: str | Path | None = None) -> VoiceRegistry:
        """The registry at ``location``, else ``$CASTLINE_VOICES``, else ``~/.castline/voices``.

        A path is a local directory (created); a URL is any fsspec storage. A StorageError
        naming the settings says why it cannot be used.
        """
        return cls(open_storage(cls.location(location), setting=REGISTRY_SETTING))

    @staticmethod
    def location(location: str | Path | None = None) -> str | Path:
        """Where :meth:`open` looks: ``location``, else ``$CASTLINE_VOICES``, else
        ``$CASTLINE_STORAGE/voices``, else the default; a local directory as a Path, a URL as it is."""
        chosen: str | Path = (
            location if location not in (None, "")
            else (os.environ.get(REGISTRY_ENV) or shared_location("voices") or DEFAULT_REGISTRY)
        )
        if isinstance(chosen, Path) or "://" not in chosen:
            return Path(chosen).expanduser()
        return chosen

    # reading

    def names(self) -> list[str]:
        """The voices that have at least one version, sorted."""
        found = set()
        for entry in self.storage.list(""):
            parts = entry.split("/")
            if len(parts) == 3 and parts[2] == RECORD and parts[1].isdigit() and _NAME.fullmatch(parts[0]):
                found.add(parts[0])
        return sorted(found)

    def versions(self, name: str) -> list[VoiceVersion]:
        """Every version of ``name`` with its current status, oldest first ([] for an unknown voice)."""
        state = self._state(check_name(name))
        return [state.versions[n] for n in sorted(state.versions)]

    def get(self, name: str, version: int) -> VoiceVersion:
        """One version, whatever its status; a VoiceError naming what exists if there is no such version."""
        return self._version(self._known(check_name(name), f"{name}@{version}"), name, version)

    def published(self, name: str) -> VoiceVersion | None:
        """The published version of ``name``; None if nothing is published (or the voice is unknown)."""
        state = self._state(check_name(name))
        return state.versions[state.published] if state.published is not None else None

    def resolve(self, ref: str) -> VoiceVersion:
        """The version a render means by ``alice``, ``alice@3``, ``alice@candidate`` or ``alice@published``.

        A pinned version may be a candidate or published, never a rejected one.
        """
        name, selector = parse_ref(ref)
        state = self._known(name, ref)
        if selector is None or selector == "published":
            if state.published is None:
                raise VoiceError(ref, f"voice {name!r} has no published version (versions: {state.summary()}); "
                                      f"pin one as {name}@N or use {name}@candidate")
            return state.versions[state.published]
        if selector == "candidate":
            candidates = [n for n, v in state.versions.items() if v.status == "candidate"]
            if not candidates:
                raise VoiceError(ref, f"voice {name!r} has no candidate version (versions: {state.summary()})")
            return state.versions[max(candidates)]
        found = self._version(state, name, selector)
        if found.status == "rejected":
            raise VoiceError(ref, f"version {selector} of {name!r} was rejected: {found.reason or 'no reason given'}")
        return found

    def profile(self, v: VoiceVersion) -> VoiceProfile:
        """The profile an engine takes for ``v``: named ``name@version``, its first clip the reference.

        The profile's ``path`` is the version's record, so relative paths among its params
        resolve to files of the version; on fsspec storage they are all fetched to local files.
        """
        folder = f"{v.name}/{v.version}/"
        record = self.storage.local_path(folder + RECORD)
        for entry in self.storage.list(folder):  # fsspec: a local copy of each (the local mirror)
            self.storage.local_path(entry)
        reference = None
        if v.references:
            clip, text = v.references[0]
            reference = Reference(audio=self.storage.local_path(folder + clip), text=text, language=v.language)
        return VoiceProfile(name=v.id, engine=v.engine, language=v.language, version=v.version, params=dict(v.params),
                            reference=reference, description=f"{v.id} from the voice registry ({v.engine}, {v.model})", path=record)

    @staticmethod
    def diff(a: VoiceVersion, b: VoiceVersion) -> dict[str, tuple[Any, Any]]:
        """The fields in which ``a`` and ``b`` differ: field name -> (a's value, b's value)."""
        return {f.name: (getattr(a, f.name), getattr(b, f.name)) for f in fields(VoiceVersion)
                if getattr(a, f.name) != getattr(b, f.name)}

    # changing

    def add(
        self, name: str, *, files: Mapping[str, Path], engine: str, model: str, language: str, duration_s: float,
        clips: int | None = None, parent: int | None = None, similarity: float | None = None, wer: float | None = None,
        status: Status = "candidate", reason: str | None = None, consent: Consent | None = None,
        params: Mapping[str, Any] | None = None, references: tuple[tuple[str, str], ...] = (), features: str | None = None,
        created_at: str | None = None,
    ) -> VoiceVersion:
        """Record a new version of ``name`` with the next number; its files are copied from ``files``.

        ``files`` maps registry file names (``ref-1.wav``) to local files; ``references``,
        ``features`` and ``consent.recording`` name some of them. ``status`` is "candidate"
        or "rejected" (with ``reason``); publish with :meth:`decide` or :meth:`publish`.
        Everything is checked before anything is written, and a failed add leaves nothing.
        """
        check_name(name)
        version = VoiceVersion(
            name=name, version=1, created_at=created_at or _now(), engine=engine, model=model, parent=parent,
            duration_s=duration_s, clips=len(references) if clips is None else clips, similarity=similarity, wer=wer,
            status=status, reason=reason, consent=consent, language=language, params=dict(params or {}),
            references=tuple((str(f), str(t)) for f, t in references), features=features,
        )
        sources = self._check_new(version, files)
        with self._guard(name):
            state = self._state(name)
            if parent is not None and parent not in state.versions:
                raise VoiceError(f"{name}@{parent}", f"no parent version {parent} of {name!r} (versions: {state.summary()})")
            number, claim = self._claim_version(name, state)
            version = replace(version, version=number)
            folder = f"{name}/{number}/"
            written: list[str] = []
            try:
                for key, source in sources.items():
                    written.append(folder + key)
                    self.storage.put_file(folder + key, source)
                written.append(folder + RECORD)
                self.storage.write_bytes(folder + RECORD, _dump(self._record(version)))
            except BaseException:
                self._remove(written + ([claim] if claim else []), folder)
                raise
            if claim:
                with contextlib.suppress(OSError):  # the record now holds the number
                    self.storage.delete(claim)
        return self.get(name, number)

    def decide(self, name: str, version: int, status: Status, *, reason: str | None = None,
               similarity: float | None = None, wer: float | None = None) -> VoiceVersion:
        """A candidate's verdict after validation: "rejected" (give ``reason``), "published", or
        "candidate" (figures recorded, publication left to a person). Only a candidate is decided."""
        where = f"{name}@{version}"
        if status not in ("candidate", "published", "rejected"):
            raise VoiceError(where, f"unknown status {quoted(status, 40)}: candidate, published or rejected")
        if status == "rejected" and not reason:
            raise VoiceError(where, "a rejection needs a reason")
        _check_figure("similarity", similarity, where)
        _check_figure("wer", wer, where)

        def event(state: _State) -> dict[str, Any] | None:
            current = self._version(state, name, version)
            if current.status != "candidate":
                raise VoiceError(where, f"already {current.status}: only a candidate can be decided")
            return {"event": "decide", "version": version, "status": status, "reason": reason,
                    "similarity": similarity, "wer": wer, "previous": state.published}

        return self._change(name, where, event).versions[version]

    def publish(self, name: str, version: int) -> VoiceVersion:
        """Make ``version`` (a candidate, or one published before) the published version."""
        where = f"{name}@{version}"

        def event(state: _State) -> dict[str, Any] | None:
            current = self._version(state, name, version)
            if current.status == "rejected":
                raise VoiceError(where, f"cannot publish a rejected version: {current.reason or 'no reason given'}")
            if state.published == version:
                return None  # already published: nothing to record
            return {"event": "publish", "version": version, "previous": state.published}

        return self._change(name, where, event).versions[version]

    def rollback(self, name: str) -> VoiceVersion:
        """Publish again the version that was published before the current one."""

        def event(state: _State) -> dict[str, Any] | None:
            if len(state.stack) < 2:
                now = f"{name}@{state.published} is published, nothing before it" if state.stack else "nothing is published"
                raise VoiceError(name, f"no earlier published version to roll back to ({now})")
            return {"event": "rollback", "version": state.stack[-2], "previous": state.stack[-1]}

        state = self._change(name, check_name(name), event)
        assert state.published is not None
        return state.versions[state.published]

    # internals

    def _known(self, name: str, ref: str) -> _State:
        state = self._state(name)
        if not state.versions:
            voices = self.names()
            shown = ", ".join(voices[:20]) + (f" and {len(voices) - 20} more" if len(voices) > 20 else "")
            raise VoiceError(ref, f"no voice {name!r} in the registry {self.url} "
                                  f"({'voices: ' + shown if voices else 'it has no voices'})")
        return state

    @staticmethod
    def _version(state: _State, name: str, version: int) -> VoiceVersion:
        if version not in state.versions:
            raise VoiceError(f"{name}@{version}", f"voice {name!r} has no version {version} (versions: {state.summary()})")
        return state.versions[version]

    def _state(self, name: str) -> _State:
        state = _State()
        events: list[tuple[int, str]] = []
        for entry in self.storage.list(f"{name}/"):
            rest = entry[len(name) + 1:]
            first, _, tail = rest.partition("/")
            if first.isascii() and first.isdigit() and tail:
                state.folders.add(int(first))
                if tail == RECORD:
                    state.versions[int(first)] = self._read_record(name, int(first))
            elif first == "events" and (match := _EVENT.fullmatch(tail)):
                events.append((int(match[1]), entry))
        for seq, entry in sorted(events):
            self._apply(state, entry, self._read_event(entry))
            state.last_event = max(state.last_event, seq)
        return state

    def _read_record(self, name: str, number: int) -> VoiceVersion:
        entry = f"{name}/{number}/{RECORD}"
        try:
            spec = _RecordSchema.model_validate_json(self.storage.read_bytes(entry))
        except ValidationError as exc:
            err = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            raise VoiceError(f"{self.url}/{entry}", f"malformed version record: {where}: {err['msg']}") from None
        if spec.name != name or spec.version != number:
            raise VoiceError(f"{self.url}/{entry}", f"malformed version record: it says {spec.name}@{spec.version}")
        data = spec.model_dump()
        data.pop("format")
        data["consent"] = Consent(**data["consent"]) if data["consent"] else None
        data["references"] = tuple(tuple(r) for r in data["references"])
        return VoiceVersion(**data)

    def _read_event(self, entry: str) -> _EventSchema:
        try:
            return _EventSchema.model_validate_json(self.storage.read_bytes(entry))
        except ValidationError as exc:
            err = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            raise VoiceError(f"{self.url}/{entry}", f"malformed registry event: {where}: {err['msg']}") from None

    def _apply(self, state: _State, entry: str, ev: _EventSchema) -> None:
        if ev.version not in state.versions:
            raise VoiceError(f"{self.url}/{entry}", f"registry event about version {ev.version}, which does not exist")
        current = state.versions[ev.version]
        if ev.event == "decide":
            if ev.status is None:
                raise VoiceError(f"{self.url}/{entry}", "malformed registry event: a decision without a status")
            state.versions[ev.version] = replace(
                current, status=ev.status, reason=ev.reason,
                similarity=current.similarity if ev.similarity is None else ev.similarity,
                wer=current.wer if ev.wer is None else ev.wer)
            if ev.status == "published":
                state.stack.append(ev.version)
        elif ev.event == "publish":
            state.versions[ev.version] = replace(current, status="published")
            state.stack.append(ev.version)
        elif len(state.stack) >= 2:  # rollback
            state.stack.pop()

    def _record(self, v: VoiceVersion) -> dict[str, Any]:
        record = asdict(v)
        record["references"] = [list(r) for r in v.references]
        return {"format": _FORMAT, **record}

    def _check_new(self, v: VoiceVersion, files: Mapping[str, Path]) -> dict[str, Path]:
        """Everything about a new version that can be checked before writing; the files to copy."""
        where = f"{v.name}@new"
        for label, text in (("engine", v.engine), ("model", v.model), ("language", v.language), ("created_at", v.created_at)):
            if not isinstance(text, str) or not text:
                raise VoiceError(where, f"{label} must be a non-empty string")
        if not _iso(v.created_at):
            raise VoiceError(where, f"created_at {quoted(v.created_at, 60)} is not an ISO 8601 time")
        if v.status not in ("candidate", "rejected"):
            raise VoiceError(where, f"a new version is a candidate or rejected, not {quoted(v.status, 40)}; publish it after adding")
        if v.status == "rejected" and not v.reason:
            raise VoiceError(where, "a rejected version needs a reason")
        _check_figure("duration_s", v.duration_s, where)
        _check_figure("similarity", v.similarity, where)
        _check_figure("wer", v.wer, where)
        if v.duration_s < 0 or isinstance(v.clips, bool) or not isinstance(v.clips, int) or v.clips < 0:
            raise VoiceError(where, "duration_s and clips cannot be negative")
        if v.parent is not None and (isinstance(v.parent, bool) or not isinstance(v.parent, int)):
            raise VoiceError(where, f"parent must be a version number, not {quoted(v.parent, 40)}")
        if v.consent is not None and (not isinstance(v.consent, Consent) or not all((v.consent.who, v.consent.when, v.consent.scope))):
            raise VoiceError(where, "consent needs who, when and scope")
        sources = {_check_file_name(key, where): Path(source) for key, source in files.items()}
        named = [f for f, _ in v.references] + [v.features] + [v.consent.recording if v.consent else None]
        for key in named:
            if key is not None and key not in sources:
                raise VoiceError(where, f"{key!r} is named in the version but not among its files ({', '.join(sorted(sources))})")
        for key, source in sources.items():
            if not source.is_file():
                raise VoiceError(source, f"not a file (to add as {key!r} of {v.name})")
        try:
            _dump(self._record(v))
        except (TypeError, ValueError) as exc:
            raise VoiceError(where, f"params must be plain JSON values: {exc}") from None
        return sources

    @contextlib.contextmanager
    def _guard(self, name: str) -> Iterator[None]:
        """One change to ``name`` at a time: in this process, and across processes for a local directory."""
        with _GUARDS_LOCK:
            lock = _GUARDS.setdefault((self.url, name), threading.Lock())
        with lock:
            if isinstance(self.storage, LocalStorage):
                with _flock(self.storage.root / f".{name}.lock", name, LOCK_TIMEOUT_S):
                    yield
            else:
                yield

    @property
    def _optimistic(self) -> bool:
        """Whether changes must check for racing writers (no flock: fsspec storage)."""
        return not isinstance(self.storage, LocalStorage)

    def _sole(self, entry: str, prefix: str) -> bool:
        """Whether ``entry`` is the only entry under ``prefix`` (for a claim or an event number)."""
        return [e for e in self.storage.list(prefix.rpartition("/")[0] + "/") if e.startswith(prefix)] == [entry]

    def _claim_version(self, name: str, state: _State) -> tuple[int, str | None]:
        """The next version number, and on fsspec storage the claim object that holds it."""
        for attempt in range(_ATTEMPTS):
            number = max(state.folders, default=0) + 1
            if not self._optimistic:
                return number, None
            claim = f"{name}/{number}/claim-{uuid.uuid4().hex}.json"
            self.storage.write_bytes(claim, _dump({"claimed_by": _holder()}))
            if self._sole(claim, f"{name}/{number}/"):
                return number, claim
            self.storage.delete(claim)
            _back_off(attempt)
            state = self._state(name)
        raise VoiceError(name, f"could not claim a version number after {_ATTEMPTS} tries: too many concurrent adds")

    def _change(self, name: str, where: str, make: Callable[[_State], dict[str, Any] | None]) -> _State:
        """Append the event ``make`` plans for the current state (re-planned if a racing change won)."""
        check_name(name)
        with self._guard(name):
            for attempt in range(_ATTEMPTS):
                state = self._known(name, where)
                body = make(state)
                if body is None:
                    return state
                seq = state.last_event + 1
                entry = f"{name}/events/{seq:06d}-{body['event']}-{uuid.uuid4().hex}.json"
                self.storage.write_bytes(entry, _dump({**body, "at": _now()}))
                if not self._optimistic or self._sole(entry, f"{name}/events/{seq:06d}-"):
                    return self._state(name)
                self.storage.delete(entry)
                _back_off(attempt)
        raise VoiceError(where, f"could not record the change after {_ATTEMPTS} tries: too many concurrent changes")

    def _remove(self, entries: list[str], folder: str) -> None:
        """Undo a failed add: its entries, and (local directory) the folders it made."""
        for entry in entries:
            with contextlib.suppress(Exception):
                self.storage.delete(entry)
        if isinstance(self.storage, LocalStorage):  # empty folders are invisible to the storage, but tidy up
            top = self.storage.root / folder
            for here, _, _ in os.walk(top, topdown=False):
                with contextlib.suppress(OSError):  # not empty
                    os.rmdir(here)
            with contextlib.suppress(OSError):  # the voice's folder, if this was its first version
                top.parent.rmdir()

def _iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True
