"""Professional opinion: several raters label photos, their agreement is measured, and a model is compared to them.

A figure a model reaches on likelihood-of-failure labels means little until we know how often two qualified
arborists agree on the same photo: their agreement is the human ceiling. This package holds the ratings (a real
database, :mod:`.database`), what raters do (:mod:`.ratings`), the agreement statistics (:mod:`.agreement`), the
consensus manifest that turns ratings into training data (:mod:`.consensus`), the model's opinion and which photos
it is least sure of (:mod:`.model_opinion`), and the demo of simulated raters over the built-in photos
(:mod:`.demo`). ``python -m lightning_module labels`` is its command line; the dashboard's Label and Agreement
pages sit on top of it.
"""
