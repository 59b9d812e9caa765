"""CMMD's feature space: OpenAI CLIP ViT-L/14@336px image embeddings, L2-normalised (768-d).

As the CMMD reference (google-research/cmmd, ``io_util.py`` and ``embedding.py``) computes them: each
image as uint8 (floats in [0, 1] scaled by 255 and rounded) → PIL RGB → centre crop to a square
(side ``l = min(w, h)``, ``top = (h - l) // 2``, ``left = (w - l) // 2``) → PIL bicubic resize to
336×336 → float32 / 255 → CLIP mean/std → the image tower and its projection → L2 normalisation.
(The reference's second, bicubic resize to 336 inside the embedding function is the identity here.)
This differs from open_clip's own transform (``clip:ViT-L-14-336``), which resizes the shorter side
before cropping, so non-square images get slightly different features.

The network is open_clip's ``ViT-L-14-336-quickgelu``: the OpenAI weights were trained with
QuickGELU, which open_clip's plain ``ViT-L-14-336`` (GELU) only switches on for its ``openai`` tag, not
for a weights file; the state-dict keys are the same either way, the outputs are not.

Weights: an open_clip state dict (.safetensors, or .bin/.pt/.pth read with ``weights_only=True``) at
``weights`` or ``$GENBENCH_HOME/weights/clip-vit-l14-336.safetensors``, else open_clip's ``openai`` tag
of ``ViT-L-14-336`` on the Hugging Face Hub (``timm/vit_large_patch14_clip_336.openai``,
``open_clip_model.safetensors``, else ``open_clip_pytorch_model.bin``): found in the Hugging Face cache,
else downloaded there on first use (not when offline: ``GENBENCH_OFFLINE=1``, ``genbench --offline`` or
``HF_HUB_OFFLINE=1``), the file ``open_clip.create_model('ViT-L-14-336-quickgelu', pretrained='openai')``
loads. OpenAI's own ``ViT-L-14-336px.pt`` is a TorchScript archive, which is not read (it is code). No
checksum is enforced by default (none is published for these files); the digest of the file used is
recorded.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from genbench.features.clip import ClipExtractor, hf_files, pretrained_tag
from genbench.features.weights import WeightsError, WeightsSpec, resolve_weights
from genbench.nn.device import default_device
from genbench.features.registry import register_extractor

ARCHITECTURE = "ViT-L-14-336-quickgelu"
WEIGHTS = WeightsSpec(filename="clip-vit-l14-336.safetensors")
PRETRAINED_TAG = ("ViT-L-14-336", "openai")  # where the default file comes from when it is not in genbench's cache
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class CMMDPreprocess:
    """PIL image → (3, size, size) float32 network input, as the CMMD reference prepares images:
    centre crop to a square, PIL bicubic resize, /255, CLIP mean/std."""

    def __init__(self, size: int, mean: tuple[float, ...] = CLIP_MEAN, std: tuple[float, ...] = CLIP_STD) -> None:
        self.size = size
        self.mean = torch.tensor(mean, dtype=torch.float32).view(3, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).view(3, 1, 1)

    def __call__(self, im: Image.Image) -> torch.Tensor:
        w, h = im.size
        side = min(w, h)
        top, left = (h - side) // 2, (w - side) // 2
        im = im.convert("RGB").crop((left, top, left + side, top + side))
        im = im.resize((self.size, self.size), resample=Image.BICUBIC)
        x = torch.from_numpy(np.asarray(im).astype(np.float32) / np.float32(255.0)).permute(2, 0, 1)
        return (x - self.mean) / self.std

    def __repr__(self) -> str:
        return (f"uint8,pil-center-crop-square,pil-bicubic-{self.size},/255,"
                f"clip-mean-std{tuple(self.mean.flatten().tolist())}/{tuple(self.std.flatten().tolist())} (CMMD)")


class ClipCMMDExtractor(ClipExtractor):
    """CLIP ViT-L/14@336px with CMMD's preprocessing: ``features`` are (n, 768) float32 L2-normalised
    image embeddings (``encode_text`` gives the matching text embeddings).

    Args:
        weights: path to an open_clip state dict; by default
            ``$GENBENCH_HOME/weights/clip-vit-l14-336.safetensors``, else open_clip's ``openai`` tag
            from the Hugging Face cache, else downloaded on first use (module docstring).
        expected_sha256: hex digest (or prefix) the file must match; default none.
            ``weights_sha256`` records the full digest either way.
        device: where the network runs; default CUDA when present, else CPU.
        architecture: the open_clip architecture (default ``ViT-L-14-336-quickgelu``, CMMD's). Another
            one (e.g. a small one in tests) runs the same preprocessing at that model's input size, is
            named ``clip-cmmd:<architecture>`` and by default reads ``clip-<architecture>.safetensors``.
    """

    def __init__(self, weights: str | os.PathLike | None = None, expected_sha256: str | None = None,
                 device: str | torch.device | None = None, architecture: str = ARCHITECTURE) -> None:
        import open_clip

        if architecture not in open_clip.list_models():
            raise ValueError(f"unknown open_clip architecture {architecture!r}")
        default = architecture == ARCHITECTURE
        filename = WEIGHTS.filename if default else f"clip-{architecture}.safetensors"
        spec = WeightsSpec(filename, expected_sha256,
                           hf_files=hf_files(pretrained_tag(*PRETRAINED_TAG)) if default else ())
        path, digest = resolve_weights(spec, weights)
        try:
            # An absolute path is never mistaken for a pretrained tag, so open_clip downloads nothing itself.
            model = open_clip.create_model(architecture, pretrained=str(path.resolve()))
            tokenizer = open_clip.get_tokenizer(architecture)
        except Exception as exc:  # safetensors, torch.load and load_state_dict raise many types
            raise WeightsError(f"cannot load open_clip {architecture!r} from {path}: {exc}") from exc
        size = model.visual.image_size
        size = size[0] if isinstance(size, (tuple, list)) else int(size)
        preprocess = CMMDPreprocess(size)
        self._setup(model, preprocess, tokenizer, "clip-vit-l14-336" if default else f"clip-cmmd:{architecture}",
                    digest, torch.device(device) if device is not None else default_device())
        self.architecture = architecture
        self.preprocessing = repr(preprocess)


register_extractor("clip-vit-l14-336", ClipCMMDExtractor)
