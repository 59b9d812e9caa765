"""open_clip models as feature extractors, loaded from local weight files only.

``ClipExtractor("ViT-B-32", weights=path)`` builds any open_clip architecture (built-in or
added with ``open_clip.add_model_config``) and loads a local .safetensors or .pt state dict;
without a path it looks for ``$GENBENCH_HOME/weights/clip-<architecture>.safetensors``. Nothing
is downloaded. Registered as the family ``"clip:"``: ``get_extractor("clip:ViT-B-32", weights=p)``.

Two open_clip conventions to know when loading a file rather than a pretrained tag: the image
preprocessing is open_clip's default (OpenAI mean/std, bicubic resize of the shortest side,
centre crop) — the per-tag overrides (e.g. SigLIP's 0.5 mean/std) are not applied; and OpenAI
checkpoints need the ``-quickgelu`` architecture (the keys match either way, the outputs don't).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from genbench.features.base import Extracted, FeatureExtractor, default_device
from genbench.features.weights import WeightsError, WeightsSpec, resolve_weights
from genbench.images import to_uint8
from genbench.microbatch import map_micro_batches_list
from genbench.registry import register_extractor


def _describe_transform(preprocess: Callable) -> str:
    """A one-line repr of a transform, without memory addresses (so it is stable across runs)."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", " ".join(repr(preprocess).split()))


class ClipExtractor(FeatureExtractor):
    """An open_clip model: ``features`` are L2-normalised image embeddings (n, d), float32.

    Images go through the model's own eval transform: each image is converted to uint8 (floats
    in [0, 1] are scaled by 255 and rounded), then to a PIL RGB image, then ``self.preprocess``
    (resize, centre crop, normalise). ``encode_text`` gives L2-normalised text embeddings from
    the model's own tokenizer (``open_clip.get_tokenizer(architecture)``).
    """

    def __init__(self, architecture: str, weights: str | Path | None = None,
                 expected_sha256: str | None = None, device: str | torch.device | None = None) -> None:
        import open_clip

        architecture = architecture.replace("/", "-")  # open_clip's own spelling of "ViT-B/32"
        if architecture not in open_clip.list_models():
            raise ValueError(f"unknown open_clip architecture {architecture!r}; register custom ones with "
                             "open_clip.add_model_config(path_to_json)")
        path, digest = resolve_weights(WeightsSpec(f"clip-{architecture}.safetensors", expected_sha256), weights)
        try:
            # An absolute path is never mistaken for a pretrained tag, so nothing is downloaded.
            model, _, preprocess = open_clip.create_model_and_transforms(architecture, pretrained=str(path.resolve()))
            tokenizer = open_clip.get_tokenizer(architecture)
        except Exception as exc:  # safetensors, torch.load and load_state_dict raise many types
            raise WeightsError(f"cannot load open_clip {architecture!r} from {path}: {exc}") from exc
        self._setup(model, preprocess, tokenizer, f"clip:{architecture}", digest,
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
        pixels = to_uint8(images).permute(0, 2, 3, 1).cpu().numpy()
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
