"""The bundled shapes32 evaluator ("shapes-net") as a feature extractor and classifier.

Weights: ``reference_models/shapes-net.safetensors`` (fp16, sha256 checked against the manifest,
which also records the command that trained them); see ``genbench.nn.evaluator.ShapesNet``.
Preprocessing: uint8 / 255 (floats in [0, 1] pass through), 32×32 only, no resize.

- ``features``: the 128-d global-average-pooled penultimate activations, float32 — the default
  space for FID, KID, precision/recall and density/coverage on shapes32.
- ``probs``: the shape head's softmax over the 10 ``SHAPES``, float64 — the IS classifier
  (so IS ≤ 10).
- ``predict`` / ``cells``: per-head argmax labels and confidences; the joint (shape, colour)
  prediction as a cell id ``shape · 8 + colour`` in [0, 80) for mode coverage.
``extract_all`` gives all three from one forward pass.
"""

from __future__ import annotations

import torch

from genbench.assets import load_bundled_weights
from genbench.data.shapes32 import COLORS, IMAGE_SIZE, SHAPES
from genbench.features.base import MICRO_BATCH, Extracted, FeatureExtractor
from genbench.features.weights import WeightsError
from genbench.images import to_float01, validate_images
from genbench.microbatch import check_micro_batch, map_micro_batches
from genbench.nn.device import default_device
from genbench.nn.evaluator import HEADS, ShapesNet
from genbench.features.registry import register_extractor

N_CELLS = len(SHAPES) * len(COLORS)


def cell_ids(shape: torch.Tensor, color: torch.Tensor) -> torch.Tensor:
    """Mode-coverage cell of (shape, colour) indices: ``shape · 8 + colour``, int64 in [0, 80)."""
    return shape.long() * len(COLORS) + color.long()


class ShapesNetExtractor(FeatureExtractor):
    """shapes-net: features (n, 128) float32, shape probabilities (n, 10) float64, and predictions.

    Images are run ``micro_batch`` at a time (``FeatureExtractor``); every image's outputs are
    independent of the others in its micro-batch (BatchNorm uses its stored statistics).
    """

    name = "shapes-net"
    preprocessing = "uint8/255, 32x32, no resize"
    n_cells = N_CELLS

    def __init__(self, device: str | torch.device | None = None, micro_batch: int = MICRO_BATCH) -> None:
        state, entry = load_bundled_weights("shapes-net")
        model = ShapesNet(tuple(entry["config"]["widths"]))
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            raise WeightsError(f"bundled shapes-net weights do not fit ShapesNet{tuple(entry['config']['widths'])}: "
                               f"{exc}") from exc
        self.model = model.to(memory_format=torch.channels_last).eval()
        self.feature_dim = model.feature_dim
        self.weights_sha256 = entry["sha256"]
        self.micro_batch = check_micro_batch(micro_batch)
        self.to(device if device is not None else default_device())

    @torch.inference_mode()
    def _forward(self, images: torch.Tensor, start: int = 0) -> dict[str, torch.Tensor]:
        """All outputs for a validated batch (global indices from ``start``), on the CPU: "features"
        (n, d) float32, and per head ("shape", "color", "size", "background") logits (n, k) float32."""
        if tuple(images.shape[-2:]) != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"shapes-net takes {IMAGE_SIZE}x{IMAGE_SIZE} images (it does not resize); "
                             f"got {images.shape[-2]}x{images.shape[-1]}")
        def run(chunk: torch.Tensor) -> dict[str, torch.Tensor]:
            out = self.model(to_float01(chunk.to(self.device)))
            return {key: out[key].float().cpu() for key in ("features", *HEADS)}

        return map_micro_batches(run, images, self.micro_batch, start)

    @staticmethod
    def _predictions(out: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        preds: dict[str, torch.Tensor] = {}
        for head in HEADS:
            conf, label = out[head].softmax(dim=1).max(dim=1)
            preds[head], preds[f"{head}_conf"] = label, conf
        preds["cell"] = cell_ids(preds["shape"], preds["color"])
        return preds

    def _extract(self, images: torch.Tensor) -> Extracted:
        out = self._forward(images)
        return Extracted(out["features"], out["shape"].double().softmax(dim=1))

    def extract_all(self, images: object, start: int = 0) -> tuple[Extracted, dict[str, torch.Tensor]]:
        """Features, shape probabilities and ``predict``'s predictions from one forward pass
        (``start``: the global index of the first image, as in ``extract``)."""
        out = self._forward(validate_images(images), start)
        return Extracted(out["features"], out["shape"].double().softmax(dim=1)), self._predictions(out)

    def predict(self, images: object, start: int = 0) -> dict[str, torch.Tensor]:
        """Per head ("shape", "color", "size", "background"): argmax labels (n,) int64 (indices into
        shapes32's name tuples) and "<head>_conf", the max softmax probability (n,) float32; plus
        "cell", the joint (shape, colour) cell id (n,) in [0, 80)."""
        return self._predictions(self._forward(validate_images(images), start))

    def cells(self, images: object) -> torch.Tensor:
        """(n,) int64 predicted (shape, colour) cell ids in [0, 80) for ``genbench.metrics.modes``."""
        return self.predict(images)["cell"]


register_extractor("shapes-net", ShapesNetExtractor)
