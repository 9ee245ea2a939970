"""Shared rendering for the dashboard's pages. Logic lives in ``lightning_module``; this package only draws."""
