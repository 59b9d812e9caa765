"""genbench: evaluation and benchmarking for image generative models.

The public API (see DESIGN.md): metrics take features (or images, for SSIM and CLIP score),
feature extractors turn validated image batches into features, and ``FeatureStats`` carries
streaming sufficient statistics with provenance.
"""

__version__ = "0.1.0"

from genbench.data.shapes32 import Shapes32Dataset, shapes32  # noqa: E402
from genbench.features.base import Extracted, FeatureExtractor  # noqa: E402
from genbench.generators import Generator, GeneratorMeta, get_generator  # noqa: E402
from genbench.images import to_float01, to_uint8, validate_images  # noqa: E402
from genbench.metrics.bootstrap import BootstrapResult, bootstrap_ci, bootstrap_many  # noqa: E402
from genbench.metrics.clip_score import clip_score  # noqa: E402
from genbench.metrics.frechet import FrechetReference, frechet_distance, frechet_distance_stats  # noqa: E402
from genbench.metrics.inception_score import inception_score  # noqa: E402
from genbench.metrics.kid import kid  # noqa: E402
from genbench.metrics.prdc import density_coverage, precision_recall  # noqa: E402
from genbench.metrics.ssim import ssim  # noqa: E402
from genbench.metrics.stats import FeatureStats, ProvenanceMismatch  # noqa: E402
from genbench.reference import load_reference  # noqa: E402
from genbench.registry import available_extractors, get_extractor, register_extractor  # noqa: E402

__all__ = [
    "BootstrapResult", "Extracted", "FeatureExtractor", "FeatureStats", "FrechetReference", "Generator", "GeneratorMeta",
    "ProvenanceMismatch",
    "Shapes32Dataset", "__version__", "available_extractors", "bootstrap_ci", "bootstrap_many", "clip_score",
    "density_coverage", "frechet_distance", "frechet_distance_stats", "get_extractor", "get_generator", "inception_score", "kid",
    "load_reference", "precision_recall", "register_extractor", "shapes32", "ssim", "to_float01", "to_uint8",
    "validate_images",
]
