"""Loading upstream GPT-SoVITS checkpoints as they are: s1 ``.ckpt`` and s2 ``.pth``.

File formats (as written by upstream RVC-Boss/GPT-SoVITS):

- s1 (text-to-semantic GPT): a ``torch.save`` zip holding ``{"weight": {"model.<key>": tensor},
  "config": dict, "info": str}``.
- s2 (SoVITS decoder): a ``torch.save`` zip holding ``{"weight": {<key>: tensor}, "config":
  utils.HParams | dict, "info": str}``. For v2Pro and v2ProPlus (and v3/v4 LoRA) upstream
  overwrites the zip's first two bytes ``PK`` with a version tag (``b"05"``, ``b"06"``...).

Both are read with ``torch.load(weights_only=True)``: nothing in a checkpoint can run code.
Upstream's pickled ``utils.HParams`` config object is mapped to a plain ``dict``.

Every failure raises :class:`~castline.errors.CheckpointError` naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import io
import logging
import pickle
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from castline.errors import CheckpointError

__all__ = [
    "S1Checkpoint",
    "S2Checkpoint",
    "load_s1",
    "load_s2",
    "detect_s2_version",
    "check_state_dict",
    "read_torch_file",
    "SUPPORTED_S2_VERSIONS",
]

log = logging.getLogger(__name__)

SUPPORTED_S2_VERSIONS = ("v1", "v2", "v2Pro", "v2ProPlus")

_HEADER_VERSIONS: dict[bytes, str] = {
    b"00": "v1",
    b"01": "v2",
    b"02": "v3",
    b"03": "v3",  # v3 LoRA
    b"04": "v4",  # v4 LoRA
    b"05": "v2Pro",
    b"06": "v2ProPlus",
}
"""Upstream's two-byte version tags (process_ckpt.head2version)."""

_PRETRAINED_MD5: dict[str, str] = {
    "dc3c97e17592963677a4a1681f30c653": "v2",  # s2G488k.pth (v1 pretrained, v2 symbols)
    "43797be674a37c1c83ee81081941ed0f": "v3",  # s2Gv3.pth
    "6642b37f3dbb1f76882b69937c95a5f3": "v2",  # s2G2333K.pth
    "4f26b9476d0c5033e04162c486074374": "v4",  # s2Gv4.pth
    "c7e9fce2223f3db685cdfa1e6368728a": "v2Pro",  # s2Gv2Pro.pth
    "66b313e39455b57ab1b0bc0b239c9d0a": "v2ProPlus",  # s2Gv2ProPlus.pth
}
"""MD5 of the first 8192 bytes of upstream's pretrained s2 files -> model version."""

_V3_MIN_BYTES = 700 * 1024 * 1024
"""Upstream treats an untagged s2 file this large as v3."""
_V1_SYMBOLS = 322
_MAX_LISTED_KEYS = 4


@dataclass(frozen=True)
class S1Checkpoint:
    """A text-to-semantic (GPT) checkpoint."""

    path: Path
    config: dict[str, Any]
    """Upstream's s1 config (``config["model"]`` has ``hidden_dim``, ``n_layer``...)."""
    state_dict: dict[str, torch.Tensor]
    """Keys as upstream stores them (``model.ar_text_embedding...``), dtype as stored (fp16)."""


@dataclass(frozen=True)
class S2Checkpoint:
    """A SoVITS decoder checkpoint."""

    path: Path
    version: str
    """``"v1"``, ``"v2"``, ``"v2Pro"`` or ``"v2ProPlus"``."""
    config: dict[str, Any]
    """Upstream's s2 config (``data``, ``model``, ``train``) as plain dicts."""
    state_dict: dict[str, torch.Tensor]
    """Keys as upstream stores them, without the training-only ``enc_q.*``."""

    @property
    def sample_rate(self) -> int:
        """Rate of the waveforms this model makes, in Hertz."""
        return int(self.config["data"]["sampling_rate"])


class _HParams:
    """Stand-in for upstream's ``utils.HParams`` config object, so it unpickles as data."""

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


def _to_plain(value: Any) -> Any:
    """Upstream config objects (HParams, nested) -> plain dicts and lists."""
    if isinstance(value, _HParams):
        return {k: _to_plain(v) for k, v in vars(value).items()}
    if isinstance(value, Mapping):
        return {str(k): _to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    return value


def _read(path: Path) -> bytes:
    if not path.exists():
        raise CheckpointError(path, "checkpoint file not found")
    if not path.is_file():
        raise CheckpointError(path, "checkpoint path is not a file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(path, f"cannot read checkpoint: {exc.strerror or exc}") from None
    if len(data) < 4:
        raise CheckpointError(path, f"checkpoint file is empty or truncated ({len(data)} bytes)")
    return data


def _torch_load(path: Path, data: bytes) -> Any:
    """Unpickle a torch zip checkpoint safely; any failure becomes a CheckpointError."""
    if data[:2] != b"PK":
        raise CheckpointError(path, f"not a PyTorch (zip) checkpoint (starts with {data[:8]!r})")
    try:
        with torch.serialization.safe_globals([(_HParams, "utils.HParams")]):
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (RuntimeError, zipfile.BadZipFile, EOFError, OSError, KeyError, IndexError, ValueError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(path, f"checkpoint is truncated or corrupt ({first})") from None
    except pickle.UnpicklingError as exc:
        lines = [ln for ln in str(exc).splitlines() if "GLOBAL" in ln or "Unsupported" in ln]
        detail = lines[0].strip() if lines else str(exc).strip().splitlines()[0]
        raise CheckpointError(path, f"checkpoint holds objects castline will not unpickle: {detail}") from None


def read_torch_file(path: str | Path) -> Any:
    """Any ``torch.save`` zip file, unpickled safely (tensors, containers, plain data).

    Raises :class:`CheckpointError` naming the file if it is missing, not a torch zip file,
    truncated, or holds objects other than those.
    """
    path = Path(path)
    return _torch_load(path, _read(path))


def _weights_and_config(path: Path, obj: Any, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    if not isinstance(obj, Mapping) or "weight" not in obj:
        keys = sorted(str(k) for k in obj)[:6] if isinstance(obj, Mapping) else type(obj).__name__
        hint = " (a training checkpoint? export the weights with upstream's WebUI)" if isinstance(
            obj, Mapping) and "state_dict" in obj else ""
        raise CheckpointError(path, f"not a GPT-SoVITS {kind} file: no 'weight' entry (found {keys}){hint}")
    weight, config = obj["weight"], _to_plain(obj.get("config"))
    if not isinstance(weight, Mapping) or not all(isinstance(v, torch.Tensor) for v in weight.values()):
        raise CheckpointError(path, f"not a GPT-SoVITS {kind} file: 'weight' is not a tensor dict")
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise CheckpointError(path, f"not a GPT-SoVITS {kind} file: no 'config' with a 'model' section")
    return {str(k): v for k, v in weight.items()}, config


def _looks_like_s1(weight: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith("model.ar_") for k in weight)


def _looks_like_s2(weight: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith(("enc_p.", "dec.", "flow.")) for k in weight)


def load_s1(path: str | Path) -> S1Checkpoint:
    """Read an upstream s1 ``.ckpt`` (text-to-semantic GPT weights and config)."""
    path = Path(path)
    data = _read(path)
    if data[:2] in _HEADER_VERSIONS:
        raise CheckpointError(path, "this is an s2 (SoVITS) .pth file, not an s1 (GPT) .ckpt")
    weight, config = _weights_and_config(path, _torch_load(path, data), "s1 (GPT)")
    if _looks_like_s2(weight):
        raise CheckpointError(path, "this is an s2 (SoVITS) .pth file, not an s1 (GPT) .ckpt")
    if not _looks_like_s1(weight):
        raise CheckpointError(path, "not an s1 (GPT) checkpoint: no 'model.ar_*' weights")
    missing = [k for k in ("vocab_size", "phoneme_vocab_size", "hidden_dim", "n_layer", "head", "EOS")
               if k not in config["model"]]
    if missing:
        raise CheckpointError(path, f"s1 config lacks model keys {missing}")
    return S1Checkpoint(path=path, config=config, state_dict=weight)


def detect_s2_version(path: str | Path, data: bytes | None = None,
                      weight: Mapping[str, torch.Tensor] | None = None) -> str:
    """The SoVITS model version of an s2 file, decided as upstream decides it.

    Order: the pretrained-file hash table, then the two-byte tag, then (untagged zip) the
    file size (v3 above 700 MiB) and the phone-symbol count (322 -> v1, else v2). Raises
    :class:`CheckpointError` for v3/v4, which castline does not support.
    """
    path = Path(path)
    data = _read(path) if data is None else data
    version = _PRETRAINED_MD5.get(hashlib.md5(data[:8192]).hexdigest())
    if version is None:
        version = _HEADER_VERSIONS.get(data[:2])
    if version is None and data[:2] == b"PK" and len(data) >= _V3_MIN_BYTES:
        version = "v3"
    if version in ("v3", "v4"):
        raise CheckpointError(path, f"SoVITS {version} checkpoints are not supported (use v1, v2, v2Pro or v2ProPlus)")
    if version in ("v2Pro", "v2ProPlus") or weight is None:
        return version or "v2"
    emb = weight.get("enc_p.text_embedding.weight")
    if emb is None:
        raise CheckpointError(path, "s2 weights lack enc_p.text_embedding.weight (a v3/v4 model?): not supported")
    return "v1" if emb.shape[0] == _V1_SYMBOLS else "v2"


def load_s2(path: str | Path) -> S2Checkpoint:
    """Read an upstream s2 ``.pth`` (SoVITS weights and config), any supported version."""
    path = Path(path)
    data = _read(path)
    if data[:2] != b"PK" and data[:2] not in _HEADER_VERSIONS:
        raise CheckpointError(path, f"not a PyTorch (zip) checkpoint (starts with {data[:8]!r})")
    tag_version = detect_s2_version(path, data)  # rejects v3/v4 before unpickling
    obj = _torch_load(path, b"PK" + data[2:])
    weight, config = _weights_and_config(path, obj, "s2 (SoVITS)")
    if _looks_like_s1(weight):
        raise CheckpointError(path, "this is an s1 (GPT) .ckpt file, not an s2 (SoVITS) .pth")
    if not _looks_like_s2(weight):
        raise CheckpointError(path, "not an s2 (SoVITS) checkpoint: no enc_p/dec/flow weights")
    for section in ("data", "model"):
        if not isinstance(config.get(section), dict):
            raise CheckpointError(path, f"s2 config lacks its '{section}' section")
    version = detect_s2_version(path, data, weight) if tag_version not in ("v2Pro", "v2ProPlus") else tag_version
    has_sv = "sv_emb.weight" in weight
    if version in ("v2Pro", "v2ProPlus") and not has_sv:
        raise CheckpointError(path, f"tagged {version} but has no sv_emb weights (file mismatched or damaged)")
    if version in ("v1", "v2") and has_sv:
        log.warning("%s: untagged s2 file has v2Pro weights (sv_emb); treating it as v2Pro", path)
        version = "v2Pro"
    weight = {k: v for k, v in weight.items() if not k.startswith("enc_q.")}
    config = {**config, "model": {**config["model"], "version": version, "semantic_frame_rate": "25hz"}}
    return S2Checkpoint(path=path, version=version, config=config, state_dict=weight)


def _listed(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    more = f" and {len(keys) - _MAX_LISTED_KEYS} more" if len(keys) > _MAX_LISTED_KEYS else ""
    return ", ".join(keys[:_MAX_LISTED_KEYS]) + more


def check_state_dict(
    path: str | Path,
    expected: Mapping[str, torch.Size | tuple[int, ...]],
    found: Mapping[str, torch.Tensor],
    what: str = "model",
) -> None:
    """Raise a :class:`CheckpointError` naming ``path`` unless ``found`` has exactly the
    keys and shapes of ``expected`` (missing, unexpected and mis-shaped keys are listed)."""
    missing = set(expected) - set(found)
    unexpected = set(found) - set(expected)
    wrong = [
        f"{k} {tuple(found[k].shape)} (expected {tuple(expected[k])})"
        for k in sorted(set(expected) & set(found))
        if tuple(found[k].shape) != tuple(expected[k])
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} keys ({_listed(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys ({_listed(unexpected)})")
    if wrong:
        problems.append(f"{len(wrong)} keys of the wrong shape ({_listed(wrong)})")
    if problems:
        raise CheckpointError(path, f"weights do not fit the {what}: " + "; ".join(problems))
