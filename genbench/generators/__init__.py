"""Generators: the protocol, user-supplied sample sources, and (later) the bundled models."""

from genbench.generators.base import Generator, GeneratorMeta
from genbench.generators.sources import CallableGenerator, FolderSamples, NpzSamples, load_generator

__all__ = ["CallableGenerator", "FolderSamples", "Generator", "GeneratorMeta", "NpzSamples", "load_generator"]
