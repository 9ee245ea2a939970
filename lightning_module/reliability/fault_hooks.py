"""Test-only hooks that widen the windows in which faults are injected. Never used by a normal run.

:class:`SlowCheckpointIO` is TreeRisk's own :class:`~lightning_module.training.checkpoint_io.AtomicCheckpointIO`
(same temporary file, fsync and rename) whose bytes trickle out in small pieces with pauses, and which writes
the path it is saving to a marker file for the length of the save. A fault test passes it as a Trainer plugin,
waits for the marker and kills the process while a checkpoint is half written:

    trainer:
      plugins:
        - class_path: lightning_module.reliability.fault_hooks.SlowCheckpointIO
          init_args: {marker: /tmp/run/saving, seconds: 1.0}
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any
from unittest import mock

import torch

from lightning_module.files import atomic_write_text
from lightning_module.training.checkpoint_io import AtomicCheckpointIO


class SlowCheckpointIO(AtomicCheckpointIO):
    """AtomicCheckpointIO that takes about ``seconds`` per save and announces each save in ``marker``.

    Args:
        marker: file holding the checkpoint path while a save is under way (removed when it completes).
        seconds: how long each save is stretched to.
        pieces: how many pieces the checkpoint's bytes are written in.
    """

    def __init__(self, marker: str | None = None, seconds: float = 1.0, pieces: int = 20) -> None:
        super().__init__()
        self.marker = Path(marker) if marker else None
        self.seconds = seconds
        self.pieces = max(1, pieces)

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        real_save = torch.save
        pause = self.seconds / self.pieces

        def trickle(obj: Any, handle: Any, *args: Any, **kwargs: Any) -> None:
            buffer = io.BytesIO()
            real_save(obj, buffer, *args, **kwargs)
            data = buffer.getvalue()
            step = max(1, -(-len(data) // self.pieces))
            for start in range(0, len(data), step):
                handle.write(data[start : start + step])
                handle.flush()  # on disk, so a kill now leaves a genuinely partial temporary file
                time.sleep(pause)

        if self.marker is not None:
            # Atomically: a test polls for the marker, and a plain write let it read the file empty once.
            atomic_write_text(self.marker, str(path))
        try:
            with mock.patch.object(torch, "save", trickle):
                super().save_checkpoint(checkpoint, path, storage_options)
        finally:
            if self.marker is not None:
                self.marker.unlink(missing_ok=True)
