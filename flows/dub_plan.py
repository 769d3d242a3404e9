"""What a dub render works from, checked before anything is synthesized: the video probed, the
subtitles read, every cue given its speaker, the voices cast; then the script of the cues.

A problem with the inputs fails here with one line: a file that is not a video, a video
without the audio the mix needs, subtitles with no cue, subtitles that run past the end of the
video. What does not stop a render (a skipped malformed cue, a speaker nobody cast) becomes a
warning, said before the render and listed in its report.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from castline.errors import InputError, ManifestError
from castline.manifest.dub import DEFAULT_ROLE, DubManifest
from castline.model import Utterance, utterance_id
from castline.project import Project
from castline.text import script_paragraph
from flows.preflight import Plan, cache_storage, cast_voices, check_output_tree, engine_max_chars, voice_language_warnings
from tasks.cast import Cast, cast_utterances
from tasks.ingest.embedded_subtitles import embedded_subtitles
from tasks.ingest.subtitles import Cue, Subtitles, read_subtitles
from tasks.media import MediaInfo, probe_media
from tasks.mux import choose_container
from tasks.speakers import SpeakerRule, assign_speakers, parse_cue_ranges
from tasks.synthesize import plan_takes

__all__ = ["DubPlan", "preflight_dub", "write_the_cue_script", "cue_track"]


@dataclass(frozen=True)
class DubPlan(Plan):
    """A dub's plan: the video as probed, its cues (read once) and who speaks each."""

    video: MediaInfo
    subtitles: Subtitles
    speakers: tuple[str, ...]
    """The speaker (role) of each cue of :attr:`subtitles`, in order."""

    @property
    def manifest(self) -> DubManifest:
        m = self.project.manifest
        assert isinstance(m, DubManifest)
        return m

    def summary(self) -> str:
        spoken = sum(c.end_s - c.start_s for c in self.subtitles.cues)
        return (f"{len(self.subtitles.cues)} cues ({spoken:.1f} s of {self.video.duration_s:.1f} s), "
                f"{len(set(self.speakers))} speakers; {super().summary()}")


def cue_track(cue: Cue) -> str:
    """The utterance table's ``chapter`` of a cue's utterances: ``cue00007``."""
    return f"cue{cue.index:05d}"


def _subtitles(project: Project, m: DubManifest, video: MediaInfo) -> Subtitles:
    options = m.subtitle
    file = project.inputs.get("subtitles")
    if file is not None:
        return read_subtitles(file, encoding=options.encoding, strict=options.strict)
    with tempfile.TemporaryDirectory(prefix="castline-subtitles-") as folder:
        extracted = embedded_subtitles(video.path, options.stream_language or m.language, Path(folder))
        return read_subtitles(extracted, encoding=options.encoding, strict=options.strict)


def _rules(project: Project, m: DubManifest) -> list[SpeakerRule]:
    rules = []
    for n, item in enumerate(m.speakers):
        try:
            ranges = parse_cue_ranges(item.cues) if item.cues is not None else ()
            rules.append(SpeakerRule(item.speaker, ranges, item.pattern))
        except ValueError as exc:
            raise ManifestError(project.manifest_path, f"speakers.{n}", str(exc)) from None
    return rules


def _check_video(m: DubManifest, video: MediaInfo, subtitles: Subtitles) -> list[str]:
    """Refuse a video the subtitles do not belong to; warn about cues cut short by its end."""
    if m.mix.original == "duck" and not video.audio:
        raise InputError(video.path, "has no audio stream to keep under the dub (mix.original: duck); "
                                     "set mix.original: replace to dub it with the speech alone")
    late = [c for c in subtitles.cues if c.start_s >= video.duration_s]
    if late:
        raise InputError(video.path, f"lasts {video.duration_s:.2f} s but {len(late)} of its {len(subtitles.cues)} cues "
                                     f"start after that (the last at {late[-1].start_s:.2f} s): is it the right video "
                                     f"for {subtitles.source.name}?")
    cut = [c for c in subtitles.cues if c.end_s > video.duration_s]
    return [f"cue {c.index} ends at {c.end_s:.2f} s, after the video ({video.duration_s:.2f} s)" for c in cut]


def _warnings(m: DubManifest, cast: Cast, subtitles: Subtitles, speakers: list[str]) -> list[str]:
    name = subtitles.source.name
    notes = [f"{name}: {w}" for w in subtitles.warnings]
    notes += [f"{name}:{s.line}: {s.problem} (cue skipped)" for s in subtitles.skipped]
    uncast = sorted(set(speakers) - set(cast.roles))
    if uncast:
        shown = ", ".join(repr(s) for s in uncast[:10]) + (" ..." if len(uncast) > 10 else "")
        notes.append(f"speakers without a voice in 'voices', read by the {DEFAULT_ROLE!r} voice: {shown}")
    return notes + voice_language_warnings(cast, m.language, "the subtitles are")


def preflight_dub(project: Project, cache: str | None = None) -> DubPlan:
    """Cast the voices, probe the video, read the subtitles, name each cue's speaker."""
    m = project.manifest
    assert isinstance(m, DubManifest)
    check_output_tree(project)
    cast = cast_voices(project, DEFAULT_ROLE)
    video = probe_media(project.inputs["video"])
    try:
        choose_container(video, m.output.container)
    except ValueError as exc:
        raise ManifestError(project.manifest_path, "output.container", str(exc)) from None
    subtitles = _subtitles(project, m, video)
    speakers = assign_speakers(subtitles.cues, _rules(project, m))
    warnings = _check_video(m, video, subtitles) + _warnings(m, cast, subtitles, speakers)
    return DubPlan(project, cast, cache_storage(project, cache), warnings, video, subtitles, tuple(speakers))


def _lines(sentences: list[str], max_chars: int) -> list[str]:
    """Consecutive sentences joined while they fit in ``max_chars``."""
    lines: list[str] = []
    for sentence in sentences:
        if lines and len(lines[-1]) + 1 + len(sentence) <= max_chars:
            lines[-1] += " " + sentence
        else:
            lines.append(sentence)
    return lines


def write_the_cue_script(plan: DubPlan) -> list[Utterance]:
    """The utterances of every cue, in time order, cast, with their takes planned.

    A cue is normalized for speech like a paragraph of a book, and spoken as one utterance
    (its sentences in one take, as an actor would say the line); only a cue longer than the
    engine's limit becomes several, spoken one after the other in its window. Each utterance
    carries its cue's window (``start``, ``end``), and its ``chapter`` is the cue
    (:func:`cue_track`), so that the takes of a cue stay together.
    """
    m = plan.manifest
    max_chars = m.engine.max_chars or engine_max_chars(plan)
    script = []
    for cue, speaker in zip(plan.subtitles.cues, plan.speakers):
        for n, text in enumerate(_lines(script_paragraph(cue.text, m.language, max_chars), max_chars)):
            track = cue_track(cue)
            script.append(Utterance(id=utterance_id(track, n, text), chapter=track, index=n, speaker=speaker, text=text,
                                    start=cue.start_s, end=cue.end_s))
    return plan_takes(cast_utterances(script, plan.cast), plan.cast.voices, language=m.language, seed=m.engine.seed)
