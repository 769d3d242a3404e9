"""Chinese BERT features for GPT-SoVITS, from a local model directory.

Upstream feeds the normalized Chinese text to chinese-roberta-wwm-ext-large (hidden size
1024), takes the third-to-last hidden layer, drops the [CLS] and [SEP] positions, and repeats
each character's vector once per phone of that character (``word2ph``). The result,
transposed to ``[hidden, n_phones]``, conditions the text-to-semantic model.

The directory is what ``save_pretrained`` writes (config.json, weights, vocab.txt); it is
read with ``local_files_only=True``, so nothing is ever downloaded.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from castline.errors import CheckpointError, VoiceError

if TYPE_CHECKING:
    from voices.engines.gpt_sovits.text import Phonemes

__all__ = ["BertFeaturizer", "HIDDEN_LAYER"]

HIDDEN_LAYER = -3
"""Which entry of ``hidden_states`` upstream uses (the third from the end)."""


class BertFeaturizer:
    """A Chinese BERT loaded once; :meth:`features` is safe to call from several threads."""

    def __init__(
        self, model_dir: Path, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
    ) -> None:
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        self.model_dir = Path(model_dir)
        if not self.model_dir.is_dir():
            raise CheckpointError(self.model_dir, "BERT model directory not found")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
            model = AutoModelForMaskedLM.from_pretrained(str(self.model_dir), local_files_only=True)
        except (OSError, ValueError, KeyError) as exc:
            raise CheckpointError(self.model_dir, f"cannot load the BERT model: {exc}") from None
        self.device = torch.device(device)
        self.dtype = dtype
        self.model = model.to(device=self.device, dtype=dtype).eval()
        self.hidden_size = int(self.model.config.hidden_size)
        """Width of one feature vector (1024 for chinese-roberta-wwm-ext-large)."""
        self._lock = threading.Lock()

    def char_features(self, text: str) -> torch.Tensor:
        """One vector per character of ``text``: ``[len(text), hidden]``."""
        inputs = self.tokenizer(text, return_tensors="pt")
        inputs = {k: v.to(self.device) for k, v in inputs.items()}
        with self._lock, torch.inference_mode():
            out = self.model(**inputs, output_hidden_states=True)
        per_token = out.hidden_states[HIDDEN_LAYER][0][1:-1]
        if per_token.shape[0] != len(text):
            raise VoiceError(
                self.model_dir,
                f"the BERT tokenizer split {text!r} into {per_token.shape[0]} tokens, "
                f"expected one per character ({len(text)})",
            )
        return per_token

    def features(self, ph: Phonemes) -> torch.Tensor:
        """``[hidden, len(ph.phones)]``: Chinese character vectors repeated per phone; zeros otherwise."""
        n = len(ph.phones)
        if ph.language != "zh" or ph.word2ph is None or n == 0:
            return torch.zeros(self.hidden_size, n, dtype=self.dtype, device=self.device)
        if len(ph.word2ph) != len(ph.norm_text) or sum(ph.word2ph) != n:
            raise VoiceError(self.model_dir, f"word2ph does not match {ph.norm_text!r}")
        per_char = self.char_features(ph.norm_text)
        counts = torch.tensor(ph.word2ph, device=per_char.device)
        return per_char.repeat_interleave(counts, dim=0).T.contiguous()
