"""``predict`` output: one CSV row per photo with the predicted class and every class probability."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch


def free_path(path: Path) -> Path:
    """``path`` itself if it does not exist, else ``stem-1.suffix``, ``stem-2.suffix``... (never overwrite)."""
    candidate, index = path, 1
    while candidate.exists():
        candidate, index = path.with_name(f"{path.stem}-{index}{path.suffix}"), index + 1
    return candidate


class PredictionWriter(pl.Callback):
    """Collects ``predict_step`` outputs and writes them to ``output`` (a new file if it already exists).

    Args:
        output: CSV file to write; photos that could not be read get a row with the reason.
    """

    def __init__(self, output: str = "predictions.csv") -> None:
        self.output = Path(output)
        self.rows: list[tuple[int, list[float]]] = []
        self.written_to: Path | None = None

    def on_predict_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        indices = outputs["indices"].cpu().tolist()
        probabilities = outputs["probabilities"].float().cpu()
        self.rows.extend(zip(indices, probabilities.tolist()))

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        datamodule = trainer.datamodule
        classes = list(pl_module.class_names)
        path = free_path(self.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["path", "predicted", "confidence", *[f"p_{c}" for c in classes], "error"])
            for index, probs in sorted(self.rows):
                best = int(torch.tensor(probs).argmax())
                writer.writerow([datamodule.predict_paths[index], classes[best], f"{probs[best]:.4f}", *[f"{p:.4f}" for p in probs], ""])
            for skipped in getattr(datamodule, "predict_skipped", []):
                writer.writerow([skipped["path"], "", "", *[""] * len(classes), skipped["reason"]])
        self.written_to = path
        print(f"Predictions for {len(self.rows)} photo(s) written to {path}")
