"""Our own GPT-SoVITS inference: upstream checkpoints, batched across utterances and speakers.

Stages: text frontends (:mod:`.text`) -> reference prompt (:mod:`.reference`) -> text-to-semantic
transformer (:mod:`.t2s`, sampling in :mod:`.sampling`) -> SoVITS decoder (:mod:`.sovits`).
:class:`GPTSoVITSEngine` (:mod:`.engine`) ties them to voice profiles. Importing this package
does not import torch; loading an engine does.
"""

from voices.engines.gpt_sovits.engine import GPTSoVITSEngine, GPTSoVITSParams

__all__ = ["GPTSoVITSEngine", "GPTSoVITSParams"]
