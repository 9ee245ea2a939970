"""Parts of the Agreement page: kappa tables and confusions, the model beside the raters, consensus, gallery."""
