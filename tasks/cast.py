"""Casting: who speaks each utterance.

Every utterance carries a speaker, a *role* (``narrator``; later characters and subtitle
actors). The cast maps roles to voice profiles; casting fills each utterance's voice from it.
A role the cast does not name is read by the default role's voice, so a script can grow new
roles (a character nobody cast yet) without failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from castline.model import Utterance
from voices.engines import engine_class
from voices.profile import VoiceProfile, find_profile

__all__ = ["NARRATOR", "Cast", "find_voice", "cast_utterances"]

NARRATOR = "narrator"
"""The role that reads an audiobook's text."""


@dataclass(frozen=True)
class Cast:
    """Role -> voice profile, and the role whose voice reads what nobody was cast for."""

    roles: Mapping[str, VoiceProfile]
    default_role: str = NARRATOR

    def voice_for(self, role: str) -> VoiceProfile:
        return self.roles.get(role) or self.roles[self.default_role]

    @property
    def voices(self) -> dict[str, VoiceProfile]:
        """The cast's profiles by name (the utterance table's ``voice`` column)."""
        return {p.name: p for p in self.roles.values()}


def find_voice(ref: str, search: Sequence[Path]) -> VoiceProfile:
    """A role's profile (a name or a profile file), checked by its engine; nothing is loaded."""
    profile = find_profile(ref, tuple(search))
    engine_class(profile).check(profile)
    return profile


def cast_utterances(utterances: Sequence[Utterance], cast: Cast) -> list[Utterance]:
    """The utterances with each one's voice filled in from its speaker's role."""
    return [replace(u, voice=cast.voice_for(u.speaker).name) for u in utterances]
