"""Weekly review reports: charts rendered from already-computed series."""
