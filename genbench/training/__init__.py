"""Reproducible training entry points for the bundled networks (``python -m genbench.training.<name>``)."""
