"""Parts used by more than one page: repository paths, run pickers and small widgets. They only draw."""
