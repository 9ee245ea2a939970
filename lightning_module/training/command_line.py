"""The ``fit`` command line: the one place that turns training options into ``python -m lightning_module fit ...``.

The Train page's launcher (``runs/launcher.py``) and the grid's folds (``grid/folds.py``) both start ``fit``
with options of their choosing. They say *what* (``{"data.source": "synthetic", "model.lr": 1e-3}``); this
module writes *how*: each option as ``--<key> <value>``, in the order given, each value written the way
LightningCLI's parser reads it back: floats by ``repr`` (the shortest text that reads back as the same number),
booleans as ``true``/``false``, None as ``null``, anything else (ints, paths, text) by ``str``.

Plain text work: importing this loads neither torch nor Lightning, so the dashboard's process can use it.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

# After the interpreter: the package's entry point and its subcommand.
FIT_ENTRY = ("-m", "lightning_module", "fit")
OptionValue = str | int | float | bool | Path | None


def option_text(value: OptionValue) -> str:
    """``value`` as LightningCLI reads it on the command line."""
    if value is None:
        return "null"
    if isinstance(value, bool):  # before int: a bool is an int to Python
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def fit_arguments(options: Mapping[str, OptionValue]) -> list[str]:
    """The arguments after ``fit`` for ``options``: ``{"trainer.max_epochs": 5}`` -> ``["--trainer.max_epochs", "5"]``.

    Keys are LightningCLI's dotted option names without the leading dashes (``config``, ``ckpt_path``,
    ``data.source``, ``trainer.logger.init_args.version``); the order of ``options`` is kept.
    """
    arguments: list[str] = []
    for key, value in options.items():
        arguments += [f"--{key}", option_text(value)]
    return arguments


def fit_command(options: Mapping[str, OptionValue] | None = None, *, arguments: Sequence[str] = ()) -> list[str]:
    """``python -m lightning_module fit`` (with this interpreter) followed by ``options``, then by ``arguments``
    already written out (a grid fold's, say, which it keeps to call ``fit`` in its own process too)."""
    return [sys.executable, *FIT_ENTRY, *fit_arguments(options or {}), *arguments]
