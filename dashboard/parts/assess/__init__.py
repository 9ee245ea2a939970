"""Parts of the Assess page (dashboard/views/assess.py): model choice, one tree, many trees, the batch table, styling."""
