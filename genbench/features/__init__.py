"""Feature extractors: the FID Inception network, open_clip models, the bundled shapes32 nets."""

from genbench.features.base import Extracted, FeatureExtractor, default_device

__all__ = ["Extracted", "FeatureExtractor", "default_device"]
