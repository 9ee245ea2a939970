"""Training runs as the dashboard sees them: reading run directories (store), starting and stopping them
(launcher), and drawing them (plots). Nothing here trains; training is ``python -m lightning_module fit``."""
