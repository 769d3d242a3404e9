"""An averaged timbre: a GPT-SoVITS voice's style over all its reference clips, computed once.

The SoVITS decoder takes a voice's timbre from its style vector ``ge`` (:meth:`SoVITSDecoder.style_vector`
of a clip's spectrogram; v2Pro/v2ProPlus fold in the clip's speaker-verification embedding). Given
several clips, upstream's ``SynthesizerTrn.decode`` uses the mean of the per-clip styles;
:func:`average_timbre` computes that mean once, through the engine's own reference code
(:meth:`ReferenceEncoder.encode`, then the decoder's :meth:`~SoVITSDecoder.style_vector` per clip),
along with the mean speaker-verification embedding. :func:`save_timbre` stores it as ``.npz``
beside a voice version; a profile naming it (``params.timbre``) is decoded with that fixed style,
while its reference clip still gives the prompt (semantic tokens and transcript).

A timbre belongs to the SoVITS model that made it (its ``ref_enc`` weights): the file records the
model's version and the SHA-256 of its s2 ``.pth``, and the engine refuses it with another model.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from castline.digest import file_sha256
from castline.errors import CheckpointError
from castline.tempfiles import atomic_path

if TYPE_CHECKING:
    from voices.engines.gpt_sovits.engine import GPTSoVITSEngine
    from voices.engines.gpt_sovits.sovits import SoVITSDecoder

__all__ = ["AveragedTimbre", "average_timbre", "save_timbre", "load_timbre", "timbre_mismatch", "TIMBRE_FORMAT"]

TIMBRE_FORMAT = 1
"""Version of the ``.npz`` layout :func:`save_timbre` writes."""
_MAX_FILE_BYTES = 16 << 20
"""A timbre file is a few kilobytes (v2Pro: ~80 KB); anything far larger is not one."""


@dataclass(frozen=True)
class AveragedTimbre:
    """A voice's style averaged over its reference clips (tensors float32 on the CPU)."""

    ge: torch.Tensor
    """The decoder's style vector, mean over the clips, [1, gin, 1] (what decoding uses)."""
    sv_emb: torch.Tensor | None
    """v2Pro/v2ProPlus: the speaker-verification embedding, mean over the clips, [1, sv_dim]; else None."""
    clips: int
    """How many clips were averaged."""
    version: str
    """SoVITS version of the model that made it (``v2``, ``v2Pro``...)."""
    model_sha256: str
    """SHA-256 of that model's s2 ``.pth``."""


def average_timbre(engine: GPTSoVITSEngine, clips: Sequence[str | Path]) -> AveragedTimbre:
    """The mean style (and speaker embedding) of ``clips`` under ``engine``'s SoVITS model.

    Each clip goes through the engine's reference encoder (cached by content, 3-10 s enforced:
    :class:`AudioError` naming a bad clip) and the decoder's style computation, as in decoding.
    """
    if not clips:
        raise ValueError("average_timbre: no clips")
    styles: list[torch.Tensor] = []
    embeddings: list[torch.Tensor] = []
    for clip in clips:
        prompt = engine.references.encode(clip)
        styles.append(engine.decoder.style_vector(prompt.refer_spec, prompt.sv_emb).float().cpu())
        if prompt.sv_emb is not None:
            embeddings.append(prompt.sv_emb.float().cpu())
    return AveragedTimbre(
        ge=torch.stack(styles).mean(0),
        sv_emb=torch.stack(embeddings).mean(0) if embeddings else None,
        clips=len(clips),
        version=engine.version,
        model_sha256=file_sha256(engine.files.sovits),
    )


def timbre_mismatch(timbre: AveragedTimbre, decoder: SoVITSDecoder, model_sha256: str) -> str | None:
    """Why ``timbre`` cannot be used with ``decoder`` (loaded from a file of ``model_sha256``), or None."""
    if timbre.model_sha256 != model_sha256:
        return (f"made with another SoVITS model ({timbre.version}, sha256 {timbre.model_sha256[:12]}); "
                f"this one is {decoder.version}, sha256 {model_sha256[:12]}")
    if timbre.ge.shape != (1, decoder.dims.gin, 1):
        return f"style has shape {tuple(timbre.ge.shape)}; this model's is (1, {decoder.dims.gin}, 1)"
    if decoder.needs_sv and timbre.sv_emb is None:
        return f"no speaker-verification embedding, which SoVITS {decoder.version} needs"
    return None


def save_timbre(timbre: AveragedTimbre, path: str | Path) -> None:
    """Write ``timbre`` to ``path`` (``.npz``) atomically; the folder is made if need be."""
    path = Path(path)
    arrays: dict[str, Any] = {  # Any: np.savez's stubs type **kwds like its allow_pickle flag
        "format": np.array(TIMBRE_FORMAT, dtype=np.int64),
        "ge": timbre.ge.detach().float().cpu().numpy(),
        "clips": np.array(timbre.clips, dtype=np.int64),
        "version": np.array(timbre.version),
        "model_sha256": np.array(timbre.model_sha256),
    }
    if timbre.sv_emb is not None:
        arrays["sv_emb"] = timbre.sv_emb.detach().float().cpu().numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.savez adds no suffix
        np.savez(f, **arrays)


def load_timbre(path: str | Path) -> AveragedTimbre:
    """Read a timbre :func:`save_timbre` wrote; :class:`CheckpointError` naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "timbre file not found")
    if path.stat().st_size > _MAX_FILE_BYTES:
        raise CheckpointError(path, f"not a timbre file (over {_MAX_FILE_BYTES >> 20} MB)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(path, f"not a timbre file ({type(exc).__name__}: {exc})") from None
    try:
        return _from_arrays(arrays)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(path, f"not a timbre file ({exc})") from None


def _from_arrays(arrays: dict[str, np.ndarray]) -> AveragedTimbre:
    """The timbre in a file's arrays; TypeError or ValueError saying what is wrong."""
    missing = [k for k in ("format", "ge", "clips", "version", "model_sha256") if k not in arrays]
    if missing:
        raise ValueError(f"no {', '.join(missing)}")
    if int(arrays["format"]) != TIMBRE_FORMAT:
        raise ValueError(f"format {int(arrays['format'])}; this castline reads format {TIMBRE_FORMAT}")
    ge, sv = arrays["ge"], arrays.get("sv_emb")
    for name, value, ndim in (("ge", ge, 3), ("sv_emb", sv, 2)):
        if value is not None and (value.ndim != ndim or value.shape[0] != 1 or value.dtype.kind != "f"
                                  or not np.isfinite(value).all()):
            raise ValueError(f"{name} is not a finite float array [1, ...] of {ndim} dimensions")
    return AveragedTimbre(
        ge=torch.from_numpy(ge.astype(np.float32)),
        sv_emb=torch.from_numpy(sv.astype(np.float32)) if sv is not None else None,
        clips=int(arrays["clips"]),
        version=str(arrays["version"]),
        model_sha256=str(arrays["model_sha256"]),
    )
