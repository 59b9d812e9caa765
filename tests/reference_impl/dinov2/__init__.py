# The official DINOv2 model code (Apache-2.0, see LICENSE), vendored as a reference implementation for
# tests/test_dinov2_extractor.py; provenance and local changes in README.md.
