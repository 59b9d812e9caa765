"""A Generator over any ``Denoiser`` and sampler: user diffusion models (diffusers folders, Python
objects) evaluated like the bundled ones.

Sample i draws x_T and every z from its own CPU generator seeded with (seed, i) (``row_generators``)
and is computed in micro-batch ⌊i / m⌋ of exactly ``micro_batch`` = m samples
(``genbench.microbatch``), so it depends only on (seed, i) and m. A class-conditional denoiser
(``num_classes`` set) gets label i from ``class_labels``: None draws it uniformly from
[0, num_classes) with numpy's ``default_rng(SeedSequence([seed, i], spawn_key=(1,)))`` — a stream of
its own, so x_T of sample i is the same as for an unconditional model with that seed; an int fixes
it; a sequence gives label i = class_labels[i mod len]. ``labels_for(seed, start, n)`` returns them.

Model space is [−1, 1]: outputs are ((x + 1)/2 clamped to [0, 1]) → uint8 NCHW, rounded; one
channel is repeated to RGB. Specs for ``load_denoiser_generator``: ``diffusers:PATH`` (a folder
``Denoiser.from_diffusers`` reads, or a Stable Diffusion-layout text-to-image pipeline, sampled by
``genbench.generators.text_to_image.TextToImageGenerator``; a model folder is also recognised by
its path alone, ``is_model_folder``) or ``module:object`` (a Denoiser, or a callable returning one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genbench.diffusion import (
    Denoiser,
    row_generators,
    run_sampler,
    sampler_nfe,
    sampler_options,
)
from genbench.errors import GenbenchError
from genbench.generators.base import Generator, GeneratorMeta
from genbench.generators.bundled_base import MICRO_BATCH
from genbench.generators.import_spec import import_object
from genbench.images import signed_unit_to_uint8
from genbench.microbatch import check_micro_batch, sample_aligned
from genbench.nn.device import default_device

LABEL_STREAM = 1  # SeedSequence spawn key of the class-label stream (noise uses the root sequence)


def random_class_labels(seed: int, start: int, n: int, num_classes: int) -> torch.Tensor:
    """Labels of samples start … start+n−1, (n,) long: label i uniform in [0, num_classes) from
    ``default_rng(SeedSequence([seed, i], spawn_key=(LABEL_STREAM,)))``, so it depends only on (seed, i)."""
    if seed < 0 or start < 0:
        raise ValueError(f"seed and start must be >= 0, got seed={seed}, start={start}")
    return torch.tensor([int(np.random.default_rng(np.random.SeedSequence([seed, i], spawn_key=(LABEL_STREAM,)))
                             .integers(num_classes)) for i in range(start, start + n)], dtype=torch.long)


class DenoiserGenerator(Generator):
    """Samples of ``denoiser`` with ``sampler`` ("ddim", "ddpm", "dpmsolver++"); options as in
    ``genbench.diffusion.sampler_options`` (steps, eta, spacing, sigma_hat, variance, final_sigma;
    spacing defaults to "uniform" for ddim and "linspace" for dpmsolver++). ``shape``: (C, H, W) of
    a sample when the denoiser does not know it (C = 1 or 3). ``class_labels``: see the module
    docstring. NFE = T for ddpm, steps otherwise. The denoiser's module (if any) is moved to
    ``device`` (default CUDA when present) in eval mode.
    """

    def __init__(self, denoiser: Denoiser, sampler: str = "ddim", steps: int = 50, eta: float = 0.0,
                 spacing: str | None = None, sigma_hat: bool = False, variance: str = "beta",
                 final_sigma: str = "zero", class_labels: int | Sequence[int] | None = None,
                 shape: Sequence[int] | None = None, micro_batch: int = MICRO_BATCH,
                 device: str | torch.device | None = None, name: str | None = None, progress: bool = False) -> None:
        if not isinstance(denoiser, Denoiser):
            raise TypeError(f"expected a Denoiser, got {type(denoiser).__name__}")
        self.options = sampler_options(sampler, denoiser.T, steps=steps, eta=eta, spacing=spacing,
                                       sigma_hat=sigma_hat, variance=variance, final_sigma=final_sigma)
        self.shape = tuple(int(s) for s in (shape or denoiser.sample_shape or ()))
        if len(self.shape) != 3 or self.shape[0] not in (1, 3):
            raise ValueError(f"need a sample shape (C, H, W) with C = 1 or 3, got {self.shape or None}: "
                             "pass shape= when the denoiser does not know it")
        self.class_labels = _check_labels(class_labels, denoiser.num_classes)
        self.micro_batch = check_micro_batch(micro_batch)
        self.device = torch.device(device) if device is not None else default_device()
        if denoiser.module is not None:
            denoiser.module.to(self.device).eval().requires_grad_(False)
        self.denoiser, self.sampler, self.progress = denoiser, sampler, progress
        parameters = sum(p.numel() for p in denoiser.module.parameters()) if denoiser.module is not None else 0
        options = {"sampler": sampler, **self.options, "prediction": denoiser.prediction,
                   "clip_x0": denoiser.clip_sample, "T": denoiser.T, "micro_batch": self.micro_batch,
                   **({"class_labels": _describe_labels(class_labels)} if denoiser.num_classes else {}),
                   "denoiser": denoiser.info}
        self.meta = GeneratorMeta(name or denoiser.info.get("path") or f"denoiser-{sampler}",
                                  nfe=sampler_nfe(sampler, self.options, denoiser.T), parameters=parameters,
                                  resolution=self.shape[1:], conditioning="class" if denoiser.num_classes else "none",
                                  options=options)

    def labels_for(self, seed: int, start: int, n: int) -> torch.Tensor | None:
        """Class labels of samples start … start+n−1 ((n,) long), or None for an unconditional model."""
        labels, k = self.class_labels, self.denoiser.num_classes
        if k is None:
            return None
        if labels is None:
            return random_class_labels(seed, start, n, k)
        if isinstance(labels, int):
            return torch.full((n,), labels, dtype=torch.long)
        return torch.tensor([labels[i % len(labels)] for i in range(start, start + n)], dtype=torch.long)

    def sample_range(self, seed: int, start: int, n: int) -> torch.Tensor:
        if n == 0:
            return torch.empty((0, 3, *self.shape[1:]), dtype=torch.uint8)
        return sample_aligned(lambda lo: self._sample_block(seed, lo), start, n, self.micro_batch)

    def _sample_block(self, seed: int, lo: int) -> torch.Tensor:
        """Samples lo … lo+m−1 (lo a multiple of m = ``micro_batch``) as uint8 (m, 3, H, W)."""
        m, denoiser = self.micro_batch, self.denoiser
        if denoiser.num_classes is not None:
            denoiser = denoiser.bind(self.labels_for(seed, lo, m))
        x = run_sampler(denoiser, (m, *self.shape), self.sampler, self.options,
                        generator=row_generators(seed, lo, m), device=self.device, progress=self.progress)
        return signed_unit_to_uint8(x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x)


def _check_labels(labels: int | Sequence[int] | None, num_classes: int | None) -> int | list[int] | None:
    if labels is None:
        return None
    if num_classes is None:
        raise ValueError("class_labels given, but the denoiser is not class-conditional")
    values = [labels] if isinstance(labels, int) else list(labels)
    if not values or not all(isinstance(v, int) and 0 <= v < num_classes for v in values):
        raise ValueError(f"class_labels must be ints in [0, {num_classes}), got {labels!r}")
    return labels if isinstance(labels, int) else values


def _describe_labels(labels: int | Sequence[int] | None) -> Any:
    if labels is None:
        return "uniform, label i from (seed, i)"
    return labels if isinstance(labels, int) else f"list of {len(labels)}, label i = list[i mod len]"


def is_model_folder(path: str | Path) -> bool:
    """Whether ``path`` is a diffusers model folder rather than a folder of images: it holds a
    ``model_index.json`` (a pipeline), a ``unet/config.json``, or a ``config.json`` whose
    ``_class_name`` is a ``UNet2DModel`` / ``UNet2DConditionModel``."""
    path = Path(path)
    if not path.is_dir():
        return False
    if (path / "model_index.json").is_file() or (path / "unet" / "config.json").is_file():
        return True
    try:
        config = json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else {}
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and config.get("_class_name") in ("UNet2DModel", "UNet2DConditionModel")


def load_denoiser(spec: str) -> Denoiser:
    """The Denoiser a spec names: ``diffusers:PATH`` (or a model folder's path without the prefix)
    or ``module:object`` (a Denoiser, or a callable with no arguments returning one). A
    text-to-image pipeline folder is not a Denoiser of its own (``TextToImageGenerator``)."""
    if not spec.startswith("diffusers:") and is_model_folder(spec):
        spec = f"diffusers:{spec}"
    if spec.startswith("diffusers:"):
        from genbench.generators.text_to_image import is_text_to_image_folder

        path = spec.removeprefix("diffusers:")
        if is_text_to_image_folder(path):
            raise GenbenchError(f"{path} is a text-to-image pipeline: evaluate it with `genbench eval diffusers:PATH "
                                "--prompts FILE` or sweep it with `genbench sweep guidance --model diffusers:PATH`")
        return Denoiser.from_diffusers(path)
    if ":" not in spec:
        raise ValueError(f"denoiser spec {spec!r} is neither diffusers:PATH nor module:object")
    obj = import_object(spec)
    if not isinstance(obj, Denoiser) and callable(obj):
        obj = obj()
    if not isinstance(obj, Denoiser):
        raise ValueError(f"{spec} is a {type(obj).__name__}, not a Denoiser or a callable returning one")
    return obj


def load_denoiser_generator(spec: str, **options: Any) -> Generator:
    """The generator of a diffusion model spec, named ``spec`` unless ``name`` is given: a
    text-to-image pipeline folder (``diffusers:PATH``, or its path alone) gives a
    ``TextToImageGenerator(PATH, **options)``; anything else ``DenoiserGenerator(load_denoiser(spec), **options)``."""
    from genbench.generators.text_to_image import TextToImageGenerator, is_text_to_image_folder

    path = spec.removeprefix("diffusers:")
    if (spec.startswith("diffusers:") or is_model_folder(path)) and is_text_to_image_folder(path):
        return TextToImageGenerator(path, **{"name": spec, **options})
    for key in ("prompts", "negative_prompt", "guidance", "dtype", "prompts_source"):
        if options.get(key) is not None:
            raise GenbenchError(f"{spec} is not a text-to-image pipeline: {key} does not apply to it")
        options.pop(key, None)
    return DenoiserGenerator(load_denoiser(spec), **{"name": spec, **options})
