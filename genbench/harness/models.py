"""Load the generator of one suite row (``ModelSpec``): the one place that says which options a
model gets from its suite.

- ``micro_batch`` (samples per network call, part of what a sample is: ``genbench.microbatch``):
  the suite's, for bundled generators and diffusers UNet folders, unless the row's options set
  one; text-to-image pipelines keep their own default (8, a memory bound at their resolution),
  and stored samples and callables have none.
- ``prompts``: a prompts file (``genbench.data.prompts``); the bundled ``ldm`` takes them as its
  captions, text-to-image pipelines as prompts with their provenance; no other model takes them.
- ``device``: passed on when given (None: the generator's default, CUDA when present).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genbench.errors import GenbenchError
from genbench.generators.base import Generator
from genbench.harness.presets import ModelSpec


def takes_suite_micro_batch(generator: str) -> bool:
    """Whether the suite's micro-batch applies to the generator spec ``generator`` (module docstring)."""
    from genbench.generators.bundled import BUNDLED

    if generator in BUNDLED:
        return True
    path = generator.removeprefix("diffusers:")
    if not (generator.startswith("diffusers:") or _is_model_folder(path)):
        return False
    from genbench.generators.text_to_image import is_text_to_image_folder

    return not is_text_to_image_folder(path)


def _is_model_folder(path: str) -> bool:
    if not Path(path).is_dir():
        return False
    from genbench.generators.diffusion_model import is_model_folder

    return is_model_folder(Path(path))


def load_model(spec: ModelSpec, micro_batch: int | None = None, device: str | None = None) -> Generator:
    """The generator of ``spec`` with its options, the suite's ``micro_batch`` and ``device``
    where they apply (module docstring)."""
    from genbench.generators.bundled import BUNDLED
    from genbench.generators.user import load_generator

    options: dict[str, Any] = dict(spec.options)
    if micro_batch is not None and "micro_batch" not in options and takes_suite_micro_batch(spec.generator):
        options["micro_batch"] = micro_batch
    if device is not None:
        options["device"] = device
    prompts_file = options.pop("prompts", None)
    if prompts_file is not None:
        from genbench.data.prompts import load_prompts, prompts_provenance

        prompts = load_prompts(prompts_file)
        if spec.generator == "ldm":
            options["captions"] = prompts
        elif spec.generator in BUNDLED:
            raise GenbenchError(f"prompts apply to caption-conditioned generators (ldm, a text-to-image "
                                f"diffusers folder), not {spec.generator}")
        else:
            options |= {"prompts": prompts, "prompts_source": prompts_provenance(prompts_file, prompts)}
    try:
        return load_generator(spec.generator, **options)
    except TypeError as exc:  # a plug-in class without a device (or other) keyword
        if "device" in options and "device" in str(exc):
            raise GenbenchError(f"generator {spec.generator!r} does not take a device; leave out --device") from None
        raise
