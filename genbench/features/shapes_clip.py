"""The bundled "shapes-clip" extractor: the tiny shapes32 CLIP, for CLIP score on shapes32.

Weights come from ``reference_models/shapes-clip.safetensors`` (fp16 on disk, run in float32),
sha256-checked against the manifest; the model, its PIL preprocessing and its word-level
tokenizer are those of ``genbench.nn.shapes_clip``. ``get_extractor("shapes-clip")`` →
``ClipExtractor`` with name ``"shapes-clip"`` and the weights' sha256 as provenance.
"""

from __future__ import annotations

import torch

from genbench.assets import load_bundled_weights
from genbench.features.clip import ClipExtractor
from genbench.nn.device import default_device
from genbench.nn.shapes_clip import ARCHITECTURE, build_shapes_clip
from genbench.features.registry import register_extractor


def shapes_clip(device: str | torch.device | None = None) -> ClipExtractor:
    """The bundled shapes-clip on ``device`` (default: CUDA when present, else CPU)."""
    state, entry = load_bundled_weights(ARCHITECTURE)
    model, preprocess, tokenizer = build_shapes_clip(state)
    return ClipExtractor.from_model(model, preprocess, tokenizer, name=ARCHITECTURE, weights_sha256=entry["sha256"],
                                    device=device if device is not None else default_device())


register_extractor(ARCHITECTURE, shapes_clip)
