"""The ``enroll_voice`` flow: recordings in, a validated version of a voice in the registry out.

    prefect deployment run 'enroll-voice/default' --param name=alice --param 'clips=["a.wav","b.wav"]' ...

The work is :func:`voices.enroll.enroll`; this flow runs it where a worker can, and publishes
its figures as a markdown artifact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from flows.run_log import log_to_the_flow_run
from voices.enroll import Enrollment, enroll
from voices.profile import find_profile
from voices.registry import VoiceRegistry

__all__ = ["enroll_voice", "enrollment_summary"]


def enrollment_summary(e: Enrollment) -> str:
    """The figures of an enrollment, as lines for a person."""
    v, verdict = e.version, e.verdict
    lines = [
        f"{v.id}: {v.status}" + (f" ({v.reason})" if v.reason else ""),
        f"{v.clips} reference clips, {v.duration_s:.1f} s of speech; engine {v.engine} ({v.model})",
        f"similarity {verdict.similarity:.2f}, word error rate {verdict.wer:.2f} on {len(verdict.probes)} probes",
        f"time: VAD and checks {e.timings.load_vad_s:.1f} s, ASR {e.timings.asr_s:.1f} s, "
        f"embeddings {e.timings.embeddings_s:.1f} s, probes {e.timings.probes_s:.1f} s",
    ]
    return "\n".join([*lines, *e.notes])


@flow(name="enroll-voice", flow_run_name="enroll: {name}")
def enroll_voice(
    name: str, clips: list[str], language: str = "en", engine: str = "gpt-sovits", transcript: str | None = None,
    consent: str | None = None, consent_check: str | None = None, base: str | None = None, registry: str | None = None,
) -> dict[str, Any]:
    """Enroll ``clips`` as a new version of the voice ``name`` (see :func:`voices.enroll.enroll`)."""
    log_to_the_flow_run()
    done = enroll(
        name, [Path(c) for c in clips], VoiceRegistry.open(registry), language=language, engine=engine,
        transcript=Path(transcript) if transcript else None, consent=Path(consent) if consent else None,
        consent_check=Path(consent_check) if consent_check else None, base=find_profile(base) if base else None,
    )
    summary = enrollment_summary(done)
    create_markdown_artifact("```\n" + summary + "\n```", key="voice-enrollment", description=f"Enrollment of {name}")
    return {"version": done.version.id, "status": done.version.status, "similarity": done.verdict.similarity,
            "wer": done.verdict.wer}
