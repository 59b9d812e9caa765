# genbench: the wheel's models/__init__.py (build_model from a training config) is left out.
