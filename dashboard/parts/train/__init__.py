"""Parts of the Train page: the form that turns choices into a training command."""
