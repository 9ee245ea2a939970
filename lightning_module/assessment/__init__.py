"""The assessment layer: from a trained model and a user's photos to ratings, pictures, exports and a report.

One module, one job:

- :mod:`.risk` — the ISA (TRAQ) risk rules: both matrices as data, the path through them, a rating's probabilities;
- :mod:`.photo_assessment` — one photo assessed: prediction, Grad-CAM, familiarity checks, GPS;
- :mod:`.archives` — uploads in, photos to screen out; zip archives read defensively;
- :mod:`.screening` — many photos screened into table rows, one bad file never stopping the batch;
- :mod:`.exports` — the screened rows as CSV and GeoJSON;
- :mod:`.pictures` — the images shown and reported: heatmap overlays, crop outlines, inline JPEGs;
- :mod:`.report` — the one-page HTML report (Jinja2 templates in ``templates/``, autoescaped).

The layer sits above ``data``, ``models`` and ``evaluation`` (inference, Grad-CAM) and below the dashboard, which
only draws what these modules compute. Nothing here runs at import time, and this file imports nothing, so
``import lightning_module.assessment.risk`` stays as light as the rules themselves.
"""
