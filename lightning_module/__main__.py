"""``python -m lightning_module <command>``.

``fit``, ``validate``, ``test``, ``predict``: LightningCLI (``--help`` on each, ``--print_config``).
``synth``: make the built-in synthetic dataset. ``grid``: the cross-validated experiment grid.
"""

from __future__ import annotations

import sys

EXTRA_COMMANDS = {
    "synth": "lightning_module.synthetic.cli",
    "grid": "lightning_module.grid.cli",
}


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
        return int(module.main(argv[1:]) or 0)
    from lightning_module.training.cli import main as lightning_main

    lightning_main(None if from_command_line else argv)  # None: LightningCLI reads sys.argv itself
    return 0


if __name__ == "__main__":
    sys.exit(main())
