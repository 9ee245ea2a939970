"""Parts of the Assess page (dashboard/views/assess.py): model choice, one tree, many trees, shared styling."""
