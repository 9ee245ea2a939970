"""Parts of the Runs page: the sections that show one run's progress, curves and results."""
