"""``castline voices ...``: the voice profiles, enrollment and the voice registry.

``castline voices`` alone lists the profiles a manifest can name (bundled, the project's own);
``enroll`` makes a new version of a voice from recordings; ``list``, ``show``, ``publish``,
``rollback`` and ``diff`` work on the registry. Each registry command takes ``--registry`` (a
directory or an fsspec URL; ``$CASTLINE_VOICES``, else ``~/.castline/voices``). A failure
prints one ``error: ...`` line on stderr and exits 1, like the rest of castline.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from castline.console import console, fail, guarded
from castline.errors import CastlineError, shorten
from voices.enroll import PIPER_PRESETS
from voices.profile import BUNDLED_DIR, load_profile
from voices.registry import REGISTRY_ENV, Consent, VoiceRegistry, VoiceVersion, parse_ref
from voices.voice_check import GateLimits

__all__ = ["voices_app"]

voices_app = typer.Typer(
    help="Voices: the profiles, enrollment, and the registry's versions (list, show, publish, rollback, diff).",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)

RegistryOpt = typer.Option(
    None, "--registry", envvar=REGISTRY_ENV, show_envvar=True,
    help="The voice registry: a directory or an fsspec URL (default ~/.castline/voices).",
)


def _out() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _lookup(registry: VoiceRegistry, ref: str) -> VoiceVersion:
    """``ref`` as show and diff read it: a pinned version whatever its status, else as a render resolves it."""
    name, selector = parse_ref(ref)
    return registry.get(name, selector) if isinstance(selector, int) else registry.resolve(ref)


def _figure(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _value(value: Any) -> str:
    if isinstance(value, Consent):
        text = f"{value.who}, {value.when}, scope: {value.scope}"
        return text + (f" (recording {value.recording})" if value.recording else "")
    if isinstance(value, dict | list | tuple):
        return shorten(json.dumps(value, ensure_ascii=False, sort_keys=True), 200)
    return "-" if value is None else shorten(str(value), 200)


def _describe(v: VoiceVersion, published: int | None) -> list[str]:
    """A version and its figures, a few lines."""
    status = f"{v.status} (current)" if v.version == published else v.status
    lines = [
        f"{v.id}  {status}  created {v.created_at}  engine {v.engine}  model {v.model}  language {v.language}",
        f"  duration {v.duration_s:.1f} s, {v.clips} clip{'' if v.clips == 1 else 's'}, similarity {_figure(v.similarity)}, "
        f"WER {_figure(v.wer, 3)}, parent {v.parent if v.parent is not None else '-'}",
    ]
    if v.consent is not None:
        lines.append(f"  consent: {_value(v.consent)}")
    if v.reason:
        lines.append(f"  reason: {v.reason}")
    return lines


@voices_app.callback(invoke_without_command=True)
def profiles(
    ctx: typer.Context,
    project_dir: Path = typer.Option(Path("."), "--project", "-p", help="Also list the profiles in PROJECT/voices/."),
) -> None:
    """List the voice profiles: the bundled ones and the project's own (subcommands: the registry)."""
    if ctx.invoked_subcommand is not None:
        return
    table = Table()
    for column in ("name", "engine", "language", "version", "file"):
        table.add_column(column)
    for folder in (project_dir / "voices", BUNDLED_DIR):
        for path in sorted(folder.glob("*.y*ml")):
            try:
                p = load_profile(path)
            except CastlineError as exc:
                console.print(f"[yellow]warning:[/] {escape(str(exc))}", highlight=False)
                continue
            table.add_row(p.name, p.engine, p.language, str(p.version), escape(str(path)))
    Console().print(table)


@voices_app.command()
def enroll(
    name: str = typer.Argument(..., help="The voice: a new version of it is made (letters, digits, - and _)."),
    clips: list[Path] = typer.Argument(..., help="Recordings of the speaker: wav, flac, mp3... (about a minute in all)."),
    transcript: Path | None = typer.Option(None, help="What each recording says, a line each (default: transcribed)."),
    language: str = typer.Option("en", help="The speaker's language."),
    engine: str = typer.Option("gpt-sovits", help="gpt-sovits (clones the voice) or piper (picks the nearest preset)."),
    base: str | None = typer.Option(None, help="A profile of the engine whose model the voice runs on (gpt-sovits)."),
    consent: Path | None = typer.Option(None, help="The consent record (YAML: who, when, scope); needed to clone."),
    consent_check: Path | None = typer.Option(None, "--consent-check",
                                              help="The speaker saying the consent sentence (castline voices enroll --help)."),
    min_similarity: float = typer.Option(GateLimits.min_similarity, help="The gate: least mean speaker similarity of the probes."),
    max_wer: float = typer.Option(GateLimits.max_wer, help="The gate: highest word error rate of the probes."),
    preset: list[str] = typer.Option(list(PIPER_PRESETS), help="Piper: a preset voice to choose from (repeatable)."),
    registry_dir: str | None = RegistryOpt,
) -> None:
    """Make a new version of voice NAME from recordings of its speaker.

    The recordings are trimmed and checked, cut into 3-10 s reference clips, transcribed and
    embedded; the version is published only if probe sentences spoken by it sound like the
    recordings (speaker similarity) and are understood (ASR word error rate), else it is rejected
    with its figures. With --consent-check the speaker must also say: "I agree that castline may
    make a synthetic copy of my voice for this production."
    """

    def run() -> None:
        from flows.enroll_voice import enrollment_summary
        from voices.enroll import enroll as enroll_voice
        from voices.profile import find_profile

        done = enroll_voice(
            name, clips, VoiceRegistry.open(registry_dir), language=language, engine=engine, transcript=transcript,
            consent=consent, consent_check=consent_check, base=find_profile(base, (Path.cwd(),)) if base else None,
            gate=GateLimits(min_similarity=min_similarity, max_wer=max_wer), presets=preset,
        )
        _out().print(enrollment_summary(done), markup=False)
        if done.version.status == "rejected":
            raise typer.Exit(1)

    guarded(run)


@voices_app.command("list")
def list_voices(registry_dir: str | None = RegistryOpt) -> None:
    """Every voice in the registry: its published and newest versions and how many of each status."""

    def run() -> None:
        registry = VoiceRegistry.open(registry_dir)
        names = registry.names()
        if not names:
            _out().print(f"no voices in the registry {registry.url}", markup=False)
            return
        table = Table(title=escape(f"voice registry {registry.url}"))
        for column in ("name", "published", "newest", "versions"):
            table.add_column(column)
        for name in names:
            versions = registry.versions(name)
            published = registry.published(name)
            counts = Counter(v.status for v in versions)
            table.add_row(name, published.id if published else "-", versions[-1].id,
                          ", ".join(f"{counts[s]} {s}" for s in ("published", "candidate", "rejected") if counts[s]))
        Console().print(table)

    guarded(run)


@voices_app.command()
def show(
    ref: str = typer.Argument(..., help="A voice (NAME: every version) or one version (NAME@V, NAME@candidate)."),
    registry_dir: str | None = RegistryOpt,
) -> None:
    """A voice's versions with their figures: status, engine, duration, similarity, WER, consent, parent."""

    def run() -> None:
        registry = VoiceRegistry.open(registry_dir)
        name, selector = parse_ref(ref)
        chosen = [_lookup(registry, ref)] if selector is not None else registry.versions(name)
        if not chosen:
            registry.resolve(name)  # an unknown voice: raises the error naming the voices that exist
        published = registry.published(name)
        out = _out()
        out.print(f"{name} in {registry.url}: published {published.id if published else '-'}", markup=False)
        for v in chosen:
            for line in _describe(v, published.version if published else None):
                out.print(line, markup=False)

    guarded(run)


@voices_app.command()
def publish(
    ref: str = typer.Argument(..., help="The version to publish: NAME@V."),
    registry_dir: str | None = RegistryOpt,
) -> None:
    """Make a version (a candidate, or one published before) the voice's published version."""

    def run() -> None:
        registry = VoiceRegistry.open(registry_dir)
        name, selector = parse_ref(ref)
        if not isinstance(selector, int):
            fail(f"{ref}: say which version to publish: {name}@N")
        before = registry.published(name)
        now = registry.publish(name, selector)
        was = f" (was {before.id})" if before is not None and before.version != now.version else ""
        _out().print(f"published {now.id}{was}", markup=False)

    guarded(run)


@voices_app.command()
def rollback(
    name: str = typer.Argument(..., help="The voice whose publication to undo."),
    registry_dir: str | None = RegistryOpt,
) -> None:
    """Publish again the version that was published before the current one."""

    def run() -> None:
        registry = VoiceRegistry.open(registry_dir)
        before = registry.published(name)
        now = registry.rollback(name)
        was = f" (rolled back from {before.id})" if before is not None else ""
        _out().print(f"published {now.id}{was}", markup=False)

    guarded(run)


@voices_app.command()
def diff(
    a: str = typer.Argument(..., help="A version: NAME@A (or NAME for the published one)."),
    b: str = typer.Argument(..., help="Another version: NAME@B."),
    registry_dir: str | None = RegistryOpt,
) -> None:
    """The fields in which two versions differ."""

    def run() -> None:
        registry = VoiceRegistry.open(registry_dir)
        first, second = _lookup(registry, a), _lookup(registry, b)
        changes = VoiceRegistry.diff(first, second)
        if not changes:
            _out().print(f"{first.id} and {second.id} do not differ", markup=False)
            return
        table = Table(title=escape(f"{first.id} -> {second.id}"))
        for column in ("field", first.id, second.id):
            table.add_column(escape(column))
        for key, (old, new) in changes.items():
            table.add_row(key, escape(_value(old)), escape(_value(new)))
        Console().print(table)

    guarded(run)
