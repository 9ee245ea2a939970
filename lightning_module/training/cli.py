"""``python -m lightning_module fit|validate|test|predict``: LightningCLI with TreeRisk's run directory.

Every run, whatever its config, gets the pieces the dashboard relies on: the run logger (one directory per
run, never reused), the run recorder, best-and-last checkpoints written atomically, and its config saved
beside it without ever overwriting an earlier one.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from pytorch_lightning import Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback

from lightning_module.data.datamodule import TreeRiskDataModule
from lightning_module.models.classifier import LikelihoodOfFailureClassifier
from lightning_module.training.checkpoint_io import AtomicCheckpointIO
from lightning_module.training.prediction_writer import PredictionWriter
from lightning_module.training.run_logger import RunLogger
from lightning_module.training.run_recorder import HEADLINE, RunRecorder

DEFAULT_TRAINER: dict[str, Any] = {
    "max_epochs": 20,
    "accelerator": "auto",
    "devices": 1,
    "deterministic": "warn",  # reproducible on CPU; on a GPU, ops without a deterministic kernel warn instead of failing
    "log_every_n_steps": 1,
    "enable_model_summary": False,
    "logger": {"class_path": "lightning_module.training.run_logger.RunLogger", "init_args": {"save_dir": "runs", "name": "default"}},
}


# Lightning advertises its cloud services at every fit ("💡 Tip: For seamless cloud logging and experiment tracking,
# try installing [litlogger]...", and the same for litmodels when no checkpoint callback is given). The lines
# mean nothing to a TreeRisk user and would head every run's train.log, and Lightning has no setting or
# environment variable to turn them off (pytorch-lightning 2.6), so they are dropped at the logger that prints
# them, which keeps every other message.
LIGHTNING_TIPS_LOGGER = "pytorch_lightning.utilities.rank_zero"
LIGHTNING_TIP_PREFIX = "💡 Tip:"


class DropLightningTips(logging.Filter):
    """Drops Lightning's advertising tips (see :data:`LIGHTNING_TIP_PREFIX`), keeps everything else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(LIGHTNING_TIP_PREFIX)


_DROP_LIGHTNING_TIPS = DropLightningTips()


class SaveConfigBesideRun(SaveConfigCallback):
    """Saves ``config.yaml`` in the run directory; a resumed run's config goes to ``config.resume-<n>.yaml``."""

    def setup(self, trainer: Trainer, pl_module: Any, stage: str) -> None:
        log_dir = trainer.log_dir
        if log_dir is not None and trainer.is_global_zero:
            name, index = "config.yaml", 1
            while (Path(log_dir) / name).exists():
                name, index = f"config.resume-{index}.yaml", index + 1
            self.config_filename = name
        super().setup(trainer, pl_module, stage)


class TreeRiskCLI(LightningCLI):
    def __init__(self, *args: Any, only_subcommand: str | None = None, **kwargs: Any) -> None:
        # LightningCLI builds the parser of every subcommand (fit, validate, test, predict) before parsing, each from
        # the signatures of Trainer, model and data: 0.3 s, a tenth of a short CPU run (bench/train_overhead.py).
        # Told which one runs, it builds that one only; without, all of them (for the top-level --help).
        self._only_subcommand = only_subcommand
        super().__init__(*args, **kwargs)

    def subcommands(self) -> dict[str, set[str]]:  # type: ignore[override]
        every = LightningCLI.subcommands()
        only = self._only_subcommand
        return {only: every[only]} if only in every else every

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # What prediction needs must travel inside the checkpoint, so the model takes it from the data.
        parser.link_arguments("data.classes", "model.class_names", apply_on="instantiate")
        for key in ("scenario", "image_size", "color_mode"):
            parser.link_arguments(f"data.{key}", f"model.{key}")

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        config = self._get(self.config_init, "trainer", default={})
        callbacks = list(config.get("callbacks") or [])
        if not any(isinstance(c, RunRecorder) for c in callbacks):
            callbacks.append(RunRecorder())
        if not any(isinstance(c, ModelCheckpoint) for c in callbacks):
            callbacks.append(
                ModelCheckpoint(
                    filename="best",
                    monitor=HEADLINE,
                    mode="max",
                    auto_insert_metric_name=False,
                    enable_version_counter=False,
                )
            )
            # last.ckpt from its own callback, rewritten after every epoch. (With save_last=True on the callback
            # above, Lightning 2.x rewrites last.ckpt only in epochs that improve the best, so a resumed run
            # would repeat epochs and "last" would not be the final model.)
            callbacks.append(
                ModelCheckpoint(
                    filename=ModelCheckpoint.CHECKPOINT_NAME_LAST,
                    monitor=None,
                    save_top_k=1,
                    auto_insert_metric_name=False,
                    enable_version_counter=False,
                )
            )
        if self.subcommand == "predict" and not any(isinstance(c, PredictionWriter) for c in callbacks):
            callbacks.append(PredictionWriter())
        plugins = config.get("plugins") or []
        plugins = plugins if isinstance(plugins, list) else [plugins]
        if not any(hasattr(p, "save_checkpoint") for p in plugins):
            plugins.append(AtomicCheckpointIO())
        return super().instantiate_trainer(callbacks=callbacks, plugins=plugins, **kwargs)

    def before_fit(self) -> None:
        # Claim the run directory now, before DDP workers are started, and record it in the saved config so
        # `fit --config <run>/config.yaml --ckpt_path last` resumes into the same directory.
        logger = self.trainer.logger
        if isinstance(logger, RunLogger):
            version = logger.version
            logger_config = self.config[self.subcommand].trainer.logger
            if hasattr(logger_config, "init_args"):
                logger_config.init_args.version = version


def main(args: list[str] | None = None) -> None:
    logging.getLogger(LIGHTNING_TIPS_LOGGER).addFilter(_DROP_LIGHTNING_TIPS)  # once: the same filter is not added twice
    given = list(sys.argv[1:] if args is None else args)
    TreeRiskCLI(
        LikelihoodOfFailureClassifier,
        TreeRiskDataModule,
        only_subcommand=given[0] if given and given[0] in LightningCLI.subcommands() else None,
        save_config_callback=SaveConfigBesideRun,
        trainer_defaults=DEFAULT_TRAINER,
        seed_everything_default=0,
        args=args,
        parser_kwargs={"description": "Train and use TreeRisk likelihood-of-failure classifiers."},
    )
