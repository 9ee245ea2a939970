"""`python -m lightning_module.synthetic --out DIR ...` (same as `python -m lightning_module synth`)."""

from .cli import main

raise SystemExit(main())
