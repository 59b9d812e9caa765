"""open_clip models as feature extractors: a local weights file, or an open_clip pretrained tag.

``ClipExtractor("ViT-B-32", weights=path)`` builds any open_clip architecture (built-in or
added with ``open_clip.add_model_config``) and loads a local .safetensors or .pt state dict;
without a path it looks for ``$GENBENCH_HOME/weights/clip-<architecture>.safetensors``.
``ClipExtractor("ViT-B-32:laion2b_s34b_b79k")`` (open_clip's own ``model:tag`` spelling, as
``open_clip.list_pretrained(as_str=True)`` prints it) takes the tag's weights as
``open_clip.create_model_and_transforms(model, pretrained=tag)`` does: the tag's file on the Hugging
Face Hub (``open_clip_model.safetensors`` where the repository has it), looked up in
``$GENBENCH_HOME/weights/clip-<model>-<tag>.safetensors``, then in the Hugging Face cache, else
downloaded there on first use (not when offline: ``GENBENCH_OFFLINE=1``, ``genbench --offline`` or
``HF_HUB_OFFLINE=1``); with the tag's preprocessing (mean/std, interpolation, resize mode). As in
open_clip, a tag trained with QuickGELU (OpenAI's) needs the ``-quickgelu`` architecture for its real
features (``clip:ViT-B-32-quickgelu:openai``); the plain one loads the same keys with a warning.
Registered as the family ``"clip:"``: ``get_extractor("clip:ViT-B-32", weights=p)``.

Loading a file without a tag, the image preprocessing is open_clip's default (OpenAI mean/std,
bicubic resize of the shortest side, centre crop) — the per-tag overrides (e.g. SigLIP's 0.5
mean/std) are not applied; and OpenAI checkpoints need the ``-quickgelu`` architecture (the keys
match either way, the outputs don't).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from genbench.errors import GenbenchError
from genbench.features.base import Extracted, FeatureExtractor
from genbench.features.weights import WeightsError, WeightsSpec, WeightsWarning, resolve_weights, weights_dir
from genbench.images import unit_to_uint8
from genbench.microbatch import map_micro_batches_list
from genbench.nn.device import default_device
from genbench.features.registry import register_extractor


HF_WEIGHTS_NAME = "open_clip_pytorch_model.bin"  # open_clip.constants: the default file of a tag's repository
HF_SAFE_WEIGHTS_NAME = "open_clip_model.safetensors"


def pretrained_tag(architecture: str, tag: str) -> dict:
    """open_clip's configuration of pretrained ``tag`` for ``architecture`` (``hf_hub``, ``mean``, ``std``,
    ``interpolation``, ``resize_mode``, ``quick_gelu``); ``GenbenchError`` naming the known tags if none."""
    from open_clip.pretrained import get_pretrained_cfg, list_pretrained_tags_by_model

    cfg = get_pretrained_cfg(architecture, tag)
    if not cfg:
        tags = list_pretrained_tags_by_model(architecture)
        raise GenbenchError(f"open_clip has no pretrained tag {tag!r} for {architecture}"
                            + (f"; its tags: {', '.join(tags)}" if tags else " (it has no pretrained tags)"))
    return cfg


def hf_files(cfg: dict) -> tuple[str, ...]:
    """``(repo_id, filename, …)`` of a tag's weights on the Hugging Face Hub, in the order open_clip
    tries them (``open_clip.pretrained.download_pretrained_from_hf``): the safetensors alternative first."""
    repo, filename = os.path.split(cfg["hf_hub"])
    filename = filename or HF_WEIGHTS_NAME
    if filename == HF_WEIGHTS_NAME:
        return repo, HF_SAFE_WEIGHTS_NAME, filename
    if filename.endswith((".bin", ".pth")):
        return repo, filename[:-4] + ".safetensors", filename
    return repo, filename


def _tag_preprocess(cfg: dict) -> dict:
    """The tag's preprocessing, as ``create_model_and_transforms`` keywords (open_clip's ``merge_preprocess_dict``)."""
    keys = {"mean": "image_mean", "std": "image_std", "interpolation": "image_interpolation",
            "resize_mode": "image_resize_mode"}
    return {keyword: cfg[key] for key, keyword in keys.items() if cfg.get(key) is not None}


def _describe_transform(preprocess: Callable) -> str:
    """A one-line repr of a transform, without memory addresses (so it is stable across runs)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", " ".join(repr(preprocess).split()))


class ClipExtractor(FeatureExtractor):
    """An open_clip model: ``features`` are L2-normalised image embeddings (n, d), float32.

    Images go through the model's own eval transform: each image is converted to uint8 (floats
    in [0, 1] are scaled by 255 and rounded), then to a PIL RGB image, then ``self.preprocess``
    (resize, centre crop, normalise). ``encode_text`` gives L2-normalised text embeddings from
    the model's own tokenizer (``open_clip.get_tokenizer(architecture)``).

    ``architecture``: an open_clip model name, or ``model:tag`` for a pretrained tag (or give
    ``pretrained=tag``); ``weights``: a local file instead of the default place (module docstring);
    ``expected_sha256``: a digest (or prefix) the file must match; the file's sha256 is recorded.
    """

    def __init__(self, architecture: str, weights: str | Path | None = None,
                 expected_sha256: str | None = None, device: str | torch.device | None = None,
                 pretrained: str | None = None) -> None:
        import open_clip

        architecture, _, tag = architecture.partition(":")  # "ViT-B-32:openai": open_clip's model:tag
        tag = pretrained or tag or None
        architecture = architecture.replace("/", "-")  # open_clip's own spelling of "ViT-B/32"
        if architecture not in open_clip.list_models():
            raise ValueError(f"unknown open_clip architecture {architecture!r}; register custom ones with "
                             "open_clip.add_model_config(path_to_json)")
        overrides, name = {}, f"clip:{architecture}"
        if tag is None:
            spec = WeightsSpec(f"clip-{architecture}.safetensors", expected_sha256)
        else:
            cfg = pretrained_tag(architecture, tag)
            spec = WeightsSpec(f"clip-{architecture}-{tag}.safetensors", expected_sha256, hf_files=hf_files(cfg))
            overrides, name = _tag_preprocess(cfg), f"clip:{architecture}:{tag}"
            if bool(cfg.get("quick_gelu", False)) != bool(open_clip.get_model_config(architecture).get("quick_gelu")):
                warnings.warn(f"open_clip tag {tag!r} was trained with quick_gelu={cfg.get('quick_gelu', False)}, "
                              f"unlike architecture {architecture} (as open_clip, the weights are loaded anyway; "
                              f"its -quickgelu twin gives the tag's real features)", WeightsWarning, stacklevel=2)
        try:
            path, digest = resolve_weights(spec, weights)
        except WeightsError as exc:
            if tag is not None or weights is not None or (weights_dir() / spec.filename).exists():
                raise
            from open_clip.pretrained import list_pretrained_tags_by_model

            tags = list_pretrained_tags_by_model(architecture)
            raise WeightsError(f"{exc}; or name an open_clip pretrained tag, fetched on first use: "
                               + (f"clip:{architecture}:{tags[0]} (its tags: {', '.join(tags)})" if tags
                                  else f"(open_clip has none for {architecture})")) from None
        try:
            # An absolute path is never mistaken for a pretrained tag, so open_clip downloads nothing itself.
            model, _, preprocess = open_clip.create_model_and_transforms(architecture, pretrained=str(path.resolve()),
                                                                         **overrides)
            tokenizer = open_clip.get_tokenizer(architecture)
        except Exception as exc:  # safetensors, torch.load and load_state_dict raise many types
            raise WeightsError(f"cannot load open_clip {architecture!r} from {path}: {exc}") from exc
        self._setup(model, preprocess, tokenizer, name, digest,
                    torch.device(device) if device is not None else default_device())

    @classmethod
    def from_model(cls, model: torch.nn.Module, preprocess: Callable, tokenizer: Callable, name: str,
                   weights_sha256: str | None = None, device: str | torch.device | None = None) -> "ClipExtractor":
        """Wrap an already-built open_clip model (put in eval mode; kept on its device unless ``device``)."""
        self = cls.__new__(cls)
        self._setup(model, preprocess, tokenizer, name, weights_sha256,
                    torch.device(device) if device is not None else next(model.parameters()).device)
        return self

    def _setup(self, model: torch.nn.Module, preprocess: Callable, tokenizer: Callable, name: str,
               weights_sha256: str | None, device: torch.device) -> None:
        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.name = name
        self.weights_sha256 = weights_sha256
        self.preprocessing = f"open_clip preprocess: {_describe_transform(preprocess)}"
        self.to(device)
        self.feature_dim = int(self.encode_text([""]).shape[1])

    def _extract(self, images: torch.Tensor) -> Extracted:
        pixels = unit_to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()
        batch = torch.stack([self.preprocess(Image.fromarray(np.ascontiguousarray(im))) for im in pixels])
        return Extracted(F.normalize(self.model.encode_image(batch.to(self.device)).float(), dim=-1))

    @torch.inference_mode()
    def encode_text(self, captions: Sequence[str], start: int = 0) -> torch.Tensor:
        """(n, d) float32 L2-normalised text embeddings on the CPU, computed in aligned micro-batches
        of ``micro_batch`` captions as images are (``start``: the global index of the first caption;
        padding positions hold empty captions)."""
        def run(chunk: list[str]) -> torch.Tensor:
            tokens = self.tokenizer(chunk).to(self.device)
            return F.normalize(self.model.encode_text(tokens).float(), dim=-1).cpu()

        return map_micro_batches_list(run, captions, self.micro_batch, "", start)


register_extractor("clip:", ClipExtractor)
