"""Parts of the Assess page (dashboard/pages/assess.py): model choice, one tree, many trees, shared styling."""
