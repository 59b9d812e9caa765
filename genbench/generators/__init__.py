"""Generators: the protocol, user-supplied sample sources, the bundled shapes32 models, and
diffusion models (a ``Denoiser``, a diffusers folder, a text-to-image pipeline) sampled by
genbench's samplers; ``get_generator`` / ``load_generator`` resolves any generator spec."""

from genbench.generators.base import Generator, GeneratorMeta
from genbench.generators.user import CallableGenerator, FolderSamples, NpzSamples, load_generator

get_generator = load_generator  # the public name (DESIGN.md): gb.get_generator("ddim", steps=50, eta=0.0)

__all__ = ["CallableGenerator", "FolderSamples", "Generator", "GeneratorMeta", "NpzSamples", "get_generator",
           "load_generator"]
