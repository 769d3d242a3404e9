"""Casting: who speaks each utterance.

Every utterance carries a speaker: a *role* (``narrator``, a subtitle actor) or a character
of the book (``Alice``). The cast maps roles to voice profiles, and characters to roles (the
manifest's ``characters``); casting fills each utterance's voice from it. A speaker the cast
does not name is read by the ``dialogue`` role's voice when there is one, else by the default
role's, so a script can grow new speakers (a character nobody cast yet) without failing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from castline.errors import CastlineError, VoiceError
from castline.model import Utterance
from voices.engines import engine_class
from voices.profile import VoiceProfile, find_profile

if TYPE_CHECKING:
    from voices.registry import VoiceRegistry

__all__ = ["NARRATOR", "DIALOGUE", "Cast", "find_voice", "cast_utterances"]

NARRATOR = "narrator"
"""The role that reads an audiobook's text."""
DIALOGUE = "dialogue"
"""The role, when the manifest has one, that speaks the quotations of characters nobody cast."""


@dataclass(frozen=True)
class Cast:
    """Role -> voice profile, character -> role, and the role whose voice reads what nobody was cast for."""

    roles: Mapping[str, VoiceProfile]
    default_role: str = NARRATOR
    characters: Mapping[str, str] = field(default_factory=dict)
    """Character -> the role that speaks it."""

    def role_for(self, speaker: str) -> str:
        """The role that speaks for ``speaker``: its own, its character's, else ``dialogue`` or the default role."""
        role = self.characters.get(speaker, speaker)
        if role in self.roles:
            return role
        return DIALOGUE if DIALOGUE in self.roles and speaker != self.default_role else self.default_role

    def voice_for(self, speaker: str) -> VoiceProfile:
        return self.roles[self.role_for(speaker)]

    @property
    def voices(self) -> dict[str, VoiceProfile]:
        """The cast's profiles by name (the utterance table's ``voice`` column)."""
        return {p.name: p for p in self.roles.values()}


def find_voice(ref: str, search: Sequence[Path]) -> VoiceProfile:
    """A role's profile, checked by its engine; nothing is loaded.

    ``ref`` is a profile file, a profile's name (the project's ``voices/``, then the bundled
    ones), or a voice of the registry (:mod:`voices.registry`): ``alice`` is its published
    version, ``alice@3`` a pinned one, ``alice@candidate`` the newest candidate, read now, so a
    render picks up what was published since the last one, without a restart.
    """
    if "@" in ref:
        profile = _registered(ref)
    else:
        try:
            profile = find_profile(ref, tuple(search))
        except VoiceError:
            registry = _registry_with(ref)
            if registry is None:
                raise
            profile = registry.profile(registry.resolve(ref))
    engine_class(profile).check(profile)
    return profile


def _registered(ref: str) -> VoiceProfile:
    from voices.registry import VoiceRegistry

    registry = VoiceRegistry.open()
    return registry.profile(registry.resolve(ref))


def _registry_with(name: str) -> VoiceRegistry | None:
    """The registry (``CASTLINE_VOICES`` or its default), if it has a voice ``name``."""
    from voices.registry import VoiceRegistry

    where = VoiceRegistry.location()
    if isinstance(where, Path) and not where.is_dir():
        return None  # no registry made yet (opening it would make the folder)
    try:
        registry = VoiceRegistry.open()
        return registry if name in registry.names() else None
    except CastlineError:  # no registry there, or not a usable one: the name is simply unknown
        return None


def cast_utterances(utterances: Sequence[Utterance], cast: Cast) -> list[Utterance]:
    """The utterances with each one's voice filled in from its speaker's role."""
    return [replace(u, voice=cast.voice_for(u.speaker).name) for u in utterances]
