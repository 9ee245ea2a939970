"""Parts of the Grid study page: the panel that starts a grid, and the results of one grid folder."""
