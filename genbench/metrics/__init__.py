"""Metrics: pure functions of features (or images, for SSIM and CLIP score) and streaming stats."""

from genbench.metrics.bootstrap import BootstrapResult, bootstrap_ci, bootstrap_many
from genbench.metrics.frechet import FrechetReference, frechet_distance, frechet_distance_stats
from genbench.metrics.inception_score import inception_score
from genbench.metrics.kid import kid
from genbench.metrics.prdc import PRDCReference, density_coverage, precision_recall
from genbench.metrics.stats import FeatureStats, ProvenanceMismatch

__all__ = [
    "BootstrapResult", "FeatureStats", "FrechetReference", "PRDCReference", "ProvenanceMismatch", "bootstrap_ci",
    "bootstrap_many",
    "density_coverage", "frechet_distance", "frechet_distance_stats", "inception_score", "kid",
    "precision_recall",
]
