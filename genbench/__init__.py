"""genbench: evaluation and benchmarking for image generative models.

The public API (see DESIGN.md): metrics take features (or images, for SSIM and CLIP score),
feature extractors turn validated image batches into features, and ``FeatureStats`` carries
streaming sufficient statistics with provenance.
"""

__version__ = "0.1.0"

from genbench.data.shapes32 import Shapes32Dataset, shapes32  # noqa: E402
from genbench.diffusion import Denoiser, sample_ddim, sample_ddpm, sample_dpmsolver  # noqa: E402
from genbench.features.base import Extracted, FeatureExtractor  # noqa: E402
from genbench.generators import Generator, GeneratorMeta, get_generator  # noqa: E402
from genbench.images import to_float01, unit_to_uint8, validate_images  # noqa: E402
from genbench.metrics.bootstrap import BootstrapResult, bootstrap_ci, bootstrap_many  # noqa: E402
from genbench.metrics.clip_score import clip_score  # noqa: E402
from genbench.metrics.cmmd import cmmd  # noqa: E402
from genbench.metrics.infinity import fid_infinity, is_infinity  # noqa: E402
from genbench.metrics.memorization import authenticity, authpct, ct_score, mifid  # noqa: E402
from genbench.metrics.vendi import vendi_score  # noqa: E402
from genbench.metrics.frechet import FrechetReference, frechet_distance, frechet_distance_stats  # noqa: E402
from genbench.metrics.inception_score import inception_score  # noqa: E402
from genbench.metrics.kid import kid  # noqa: E402
from genbench.metrics.prdc import density_coverage, precision_recall  # noqa: E402
from genbench.metrics.ssim import ssim  # noqa: E402
from genbench.metrics.stats import FeatureStats, ProvenanceMismatch  # noqa: E402
from genbench.harness.runner import EvalConfig, evaluate  # noqa: E402
from genbench.metrics.registry import MetricFamily, MetricInfo, register_family  # noqa: E402
from genbench.reference import Reference, load_reference  # noqa: E402
from genbench.features.registry import available_extractors, get_extractor, register_extractor  # noqa: E402
from genbench.api import MetricResult, compare_sets, fid  # noqa: E402
from genbench.streaming import StreamingFID  # noqa: E402

__all__ = [
    "__version__", "authenticity", "authpct", "available_extractors", "bootstrap_ci", "bootstrap_many", "BootstrapResult", "clip_score", "cmmd", "ct_score",
    "Denoiser", "density_coverage", "EvalConfig", "evaluate", "Extracted", "FeatureExtractor", "FeatureStats",
    "fid_infinity", "frechet_distance", "frechet_distance_stats", "FrechetReference", "Generator", "GeneratorMeta", "get_extractor",
    "get_generator", "inception_score", "is_infinity", "kid", "load_reference", "MetricFamily", "MetricInfo", "mifid", "precision_recall",
    "ProvenanceMismatch", "Reference", "register_extractor", "register_family", "sample_ddim", "sample_ddpm",
    "sample_dpmsolver", "shapes32", "Shapes32Dataset", "ssim", "to_float01", "unit_to_uint8", "validate_images", "vendi_score",
    "compare_sets", "fid", "MetricResult", "StreamingFID",
]
