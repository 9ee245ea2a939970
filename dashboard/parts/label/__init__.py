"""Parts of the Label page: signing in by name, choosing the photos and their order, the rating form."""
