"""Checkpoints are written to a temporary file and renamed, so a kill mid-save never leaves half a file.

The temporary file a killed save leaves behind is removed when the next fit starts in that run directory
(``RunRecorder``) and by the next successful save of that checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from lightning_module.files import remove_stale_temporaries, writing_atomically


class AtomicCheckpointIO(TorchCheckpointIO):
    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        path = Path(path)
        with writing_atomically(path) as handle:
            torch.save(checkpoint, handle)
        # A process killed mid-save leaves its temporary file; one run directory has one writer (RunRecorder
        # refuses a second), so any other temporary file for this checkpoint is such a leftover.
        remove_stale_temporaries(path.parent, path.name)
