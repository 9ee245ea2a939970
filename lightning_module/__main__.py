"""``python -m lightning_module <command>``.

``fit``, ``validate``, ``test``, ``predict``: LightningCLI (``--help`` on each, ``--print_config``).
``synth``: make the built-in synthetic dataset. ``grid``: the cross-validated experiment grid.
``bundle``: slim a finished run's best checkpoint into checkpoints/ with its model card.
``quality``: a checkpoint's balanced accuracy, macro F1 and recall on the independent test set.
``defects``: which defects a checkpoint uses (its belief drop when one defect is removed from a scene).
``labels``: raters' ratings of photos: the demo, agreement (kappas), the consensus manifest.

A mistake in what was asked for (a setting out of range, a data folder that is not there, a checkpoint that is
refused) ends the command with one line, ``error: <what is wrong>``, and exit status 2, like an unknown option
does; anything else keeps its traceback, because that is a bug worth reporting.
"""

from __future__ import annotations

import pickle
import re
import sys
from collections.abc import Callable

EXTRA_COMMANDS = {
    "synth": "lightning_module.synthetic.cli",
    "grid": "lightning_module.grid.cli",
    "bundle": "lightning_module.training.bundle",
    "quality": "lightning_module.evaluation.quality_cli",
    "defects": "lightning_module.evaluation.defects_cli",
    "labels": "lightning_module.labelling.cli",
}
USAGE_ERROR = 2  # the exit status argparse uses for a bad command line
# The project's own checks name the setting first: "data.image_size must be ...", "model.backbone: unknown ...".
_NAMES_A_SETTING = re.compile(r"^(data|model|trainer)\.\w+|^(seed_everything|ckpt_path)\b")


def configuration_error(error: BaseException) -> str | None:
    """The one-line message for an error in the user's settings, data or checkpoint; None for anything else.

    jsonargparse wraps errors raised while building objects ("Does not validate against any of the Union
    subtypes"), so the causes are looked at too.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        message = _own_configuration_error(error)
        if message is not None:
            return message
        error = error.__cause__ or error.__context__
    return None


def _own_configuration_error(error: BaseException) -> str | None:
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    from lightning_module.data.imaging import PhotoError
    from lightning_module.data.sources import DataSourceError
    from lightning_module.evaluation.independent_set import IndependentSetError
    from lightning_module.labelling.database import LabelDatabaseError
    from lightning_module.labelling.photo_sources import PhotoSourceError
    from lightning_module.labelling.ratings import RatingError
    from lightning_module.models.backbones import PretrainedWeightsMissing
    from lightning_module.models.checkpoints import CheckpointError
    from lightning_module.training.run_recorder import RunDirectoryBusy

    message = str(error).strip()
    if isinstance(error, (DataSourceError, CheckpointError, PretrainedWeightsMissing, RunDirectoryBusy, PhotoError,
                          IndependentSetError, LabelDatabaseError, PhotoSourceError, RatingError)):
        return message
    if isinstance(error, MisconfigurationException):
        return f"trainer: {message}"
    if isinstance(error, pickle.UnpicklingError):
        return ("ckpt_path: refused to load the checkpoint: it contains Python objects other than tensors and plain "
                "values, which could run code. Only checkpoints written by TreeRisk are accepted.")
    if isinstance(error, FileNotFoundError) and "checkpoint" in message.lower():
        return f"ckpt_path: {message}"
    if isinstance(error, ValueError) and message.startswith("Run name "):
        return f"trainer.logger.init_args.name: {message}"
    if isinstance(error, (ValueError, TypeError)) and _NAMES_A_SETTING.match(message):
        return message
    return None


def main(argv: list[str] | None = None) -> int:
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in EXTRA_COMMANDS:
        import importlib

        try:
            module = importlib.import_module(EXTRA_COMMANDS[argv[0]])
        except ModuleNotFoundError:
            print(f"'{argv[0]}' is not available in this version of TreeRisk.", file=sys.stderr)
            return 2
        return _run_reporting_errors(lambda: int(module.main(argv[1:]) or 0))
    from lightning_module.training.cli import main as lightning_main

    def run_lightning() -> int:
        lightning_main(None if from_command_line else argv)  # None: LightningCLI reads sys.argv itself
        return 0

    return _run_reporting_errors(run_lightning)


def _run_reporting_errors(command: Callable[[], int]) -> int:
    """Run ``command``; a user's mistake becomes one ``error:`` line and exit status 2, anything else raises."""
    try:
        return command()
    except Exception as error:
        message = configuration_error(error)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return USAGE_ERROR


if __name__ == "__main__":
    sys.exit(main())
