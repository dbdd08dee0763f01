"""``make bench``: measured figures against baselines taken in the same run (see __main__)."""
