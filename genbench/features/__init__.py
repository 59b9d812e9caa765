"""Feature extractors: the FID Inception network, open_clip models (CLIP score, CMMD), DINOv2, the
bundled shapes32 nets."""

from genbench.features.base import Extracted, FeatureExtractor
from genbench.nn.device import default_device

__all__ = ["Extracted", "FeatureExtractor", "default_device"]
