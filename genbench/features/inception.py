"""The FID Inception-v3 network: 2048-d pool features and the 1008-way logits without the fc bias
(torch-fidelity's "logits_unbiased"), whose softmax the Inception Score reads.

The network is TensorFlow's "inception-2015-12-05" graph in pytorch-fid's PyTorch port: torchvision's
``Inception3(num_classes=1008)`` with the FID block variants (average pools that do not count the
zero padding, a max pool in the last block). Its state dict is the one in pytorch-fid's
``pt_inception-2015-12-05-6726825d.pth``; torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth``
has the same keys.

Four preprocessing conventions, which give different features (``PREPROCESSING`` names the one
used in the provenance; :func:`inception_input` applies it):

- ``resize="tf"`` (default; torch-fidelity, clean-fid ``legacy_tensorflow``): pixels as floats in
  [0, 255] (uint8 as is, float [0, 1] times 255, not rounded), TensorFlow-1 bilinear resize to
  299×299 (:func:`resize_tf1_bilinear`), then (x − 128)/128.
- ``resize="bilinear"`` (pytorch-fid): floats in [0, 1] (uint8 / 255), ``F.interpolate`` bilinear
  with ``align_corners=False`` and no antialiasing to 299×299, then 2x − 1.
- ``resize="clean"`` (clean-fid's default ``mode="clean"``): pixels as float32 in [0, 255] (as
  ``tf``), each channel resized on its own as a PIL "F" image with PIL bicubic (antialiased) to
  299×299, clipped to [0, 255] and not re-quantised (:func:`resize_pil_bicubic_float`, clean-fid's
  ``make_resizer("PIL", False, "bicubic", (299, 299))``), then (x − 128)/128 as clean-fid's
  ``InceptionV3W`` does. Runs on the CPU whatever the device.
- ``resize="torchmetrics"`` (torchmetrics ≥ 1.8 ``FrechetInceptionDistance`` with its default
  ``antialias=True``): uint8 as is (float [0, 1] times 255 truncated to uint8, as its
  ``normalize=True``), as float32 ``F.interpolate`` bilinear with ``align_corners=False`` and
  ``antialias=True`` to 299×299, then (x − 128)/128. (Its ``antialias=False`` is ``tf``.)
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torchvision.models.inception import (
    BasicConv2d,
    Inception3,
    InceptionA,
    InceptionAux,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE,
)

from genbench.features.base import Extracted, FeatureExtractor
from genbench.features.weights import LazyWeights, WeightsError, WeightsSpec, load_state_dict
from genbench.images import to_float01
from genbench.nn.device import default_device
from genbench.features.registry import register_extractor

# pytorch-fid's file; torch-fidelity's weights-inception-2015-12-05-6726825d.pth is the same bytes (same sha256)
WEIGHTS = WeightsSpec(
    filename="pt_inception-2015-12-05-6726825d.pth",
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",
    hub_names=("pt_inception-2015-12-05-6726825d.pth", "weights-inception-2015-12-05-6726825d.pth"),
)
INPUT_SIZE = 299
PREPROCESSING = {
    "tf": "tf1-bilinear-299,(x-128)/128",
    "bilinear": "torch-bilinear-299,2x-1",
    "clean": "pil-bicubic-float32-per-channel-299,clip-0-255,(x-128)/128 (clean-fid clean)",
    "torchmetrics": "uint8,torch-bilinear-antialias-299,(x-128)/128 (torchmetrics>=1.8 default)",
}


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """3×3 stride-1 average pool that, like TensorFlow's, leaves the zero padding out of the mean."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class _FIDInceptionA(InceptionA):
    """Mixed_5b–5d: InceptionA with the TensorFlow average pool."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_tf_avg_pool(x))], 1)


class _FIDInceptionC(InceptionC):
    """Mixed_6b–6e: InceptionC with the TensorFlow average pool."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for conv in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                     self.branch7x7dbl_5):
            bd = conv(bd)
        return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(_tf_avg_pool(x))], 1)


class _FIDInceptionE1(InceptionE):
    """Mixed_7b: InceptionE with the TensorFlow average pool."""

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return _tf_avg_pool(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(self._pool(x))], 1)


class _FIDInceptionE2(_FIDInceptionE1):
    """Mixed_7c: the FID graph max-pools here (where the paper average-pools)."""

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, kernel_size=3, stride=1, padding=1)


class FIDInception3(Inception3):
    """The FID Inception-v3 network in pytorch-fid's layout, randomly initialised (load weights into it).

    ``forward`` takes a normalised (n, 3, 299, 299) batch in [-1, 1] and returns the (n, 2048) pool
    features and the (n, 1008) logits without the fc bias.
    """

    def __init__(self) -> None:
        blocks = [BasicConv2d, _FIDInceptionA, InceptionB, _FIDInceptionC, InceptionD, _FIDInceptionE1, InceptionAux]
        super().__init__(num_classes=1008, aux_logits=False, inception_blocks=blocks, init_weights=False)
        self.Mixed_7c = _FIDInceptionE2(2048)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.maxpool1(self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))))
        x = self.maxpool2(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c,
                      self.Mixed_6d, self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        pool = torch.flatten(self.avgpool(x), 1)
        return pool, pool @ self.fc.weight.T


def _tf1_source_coords(n_in: int, n_out: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TF1 sampling along one axis: source = dst·in/out in float32, its floor, floor + 1 clamped, and the weight."""
    src = torch.arange(n_out, dtype=torch.float32, device=device) * torch.tensor(n_in / n_out, dtype=torch.float32,
                                                                                 device=device)
    lo = src.long()
    return lo, (lo + 1).clamp_max(n_in - 1), src - lo.float()


def resize_tf1_bilinear(x: torch.Tensor, size: tuple[int, int] = (INPUT_SIZE, INPUT_SIZE)) -> torch.Tensor:
    """Bilinear resize of a float32 NCHW batch as TensorFlow 1.x's ``resize_bilinear(align_corners=False)``.

    Output pixel (i, j) samples the input at (i·H/h, j·W/w), no half-pixel offset, neighbours
    clamped at the edge; no antialiasing. Bit-identical on the CPU to torch-fidelity's
    ``interpolate_bilinear_2d_like_tensorflow1x``. Values keep their units.
    """
    y_lo, y_hi, dy = _tf1_source_coords(x.shape[2], size[0], x.device)
    x_lo, x_hi, dx = _tf1_source_coords(x.shape[3], size[1], x.device)

    def along_x(rows: torch.Tensor) -> torch.Tensor:
        left = rows.index_select(3, x_lo)
        return left + (rows.index_select(3, x_hi) - left) * dx

    top, bottom = along_x(x.index_select(2, y_lo)), along_x(x.index_select(2, y_hi))
    return top + (bottom - top) * dy[:, None]


def resize_pil_bicubic_float(x: torch.Tensor, size: tuple[int, int] = (INPUT_SIZE, INPUT_SIZE)) -> torch.Tensor:
    """clean-fid's ``clean`` resize of a float NCHW batch in [0, 255]: every channel of every image
    as a float32 PIL "F" image, PIL bicubic (antialiased when shrinking) to ``size`` (H, W),
    clipped to [0, 255], not re-quantised. Bit-identical to
    ``cleanfid.resize.make_resizer("PIL", False, "bicubic", (W, H))`` on each HWC image. Returns
    float32 NCHW on ``x``'s device (the work is done on the CPU)."""
    height, width = size
    planes = x.detach().to("cpu", torch.float32).numpy()
    out = np.empty((*planes.shape[:2], height, width), np.float32)
    for i, image in enumerate(planes):
        for c, plane in enumerate(image):
            resized = Image.fromarray(np.ascontiguousarray(plane)).resize(  # float32 2-D: mode "F"
                (width, height), resample=Image.Resampling.BICUBIC)
            out[i, c] = np.asarray(resized).clip(0, 255)
    return torch.from_numpy(out).to(x.device)


def _float255(images: torch.Tensor) -> torch.Tensor:
    """uint8 as float32 as is; float [0, 1] times 255 (not rounded)."""
    return images.float() if images.dtype == torch.uint8 else images.float() * 255.0


def inception_input(images: torch.Tensor, resize: str = "tf") -> torch.Tensor:
    """A validated batch (uint8 [0, 255] or float [0, 1], NCHW RGB) → the network's (n, 3, 299,
    299) float32 input under the preprocessing ``resize`` (module docstring), on ``images``' device."""
    if resize == "tf":
        return (resize_tf1_bilinear(_float255(images)) - 128.0) / 128.0
    if resize == "bilinear":
        x = F.interpolate(to_float01(images), size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return 2.0 * x - 1.0
    if resize == "clean":
        return (resize_pil_bicubic_float(_float255(images)) - 128.0) / 128.0
    if resize == "torchmetrics":
        x = images if images.dtype == torch.uint8 else (images * 255).to(torch.uint8)  # torchmetrics' .byte()
        x = F.interpolate(x.float(), size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False,
                          antialias=True)
        return (x - 128) / 128
    raise ValueError(f"resize must be one of {', '.join(map(repr, PREPROCESSING))}; got {resize!r}")


def _check_layout(state: dict[str, torch.Tensor], model: nn.Module, path: os.PathLike) -> None:
    """Raise WeightsError unless ``state`` has ``model``'s keys and shapes (``num_batches_tracked`` optional)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} {tuple(getattr(v, 'shape', ()))} (expected {tuple(expected[k].shape)})"
              for k, v in state.items() if k in expected and getattr(v, "shape", None) != expected[k].shape]
    problems = [f"{what} ({len(keys)}): {', '.join(keys[:5])}{', …' if len(keys) > 5 else ''}"
                for what, keys in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", shapes))
                if keys]
    if problems:
        raise WeightsError(f"weights file {path} is not a FID Inception-v3 state dict (pytorch-fid layout): "
                           + "; ".join(problems))


class InceptionV3FID(FeatureExtractor):
    """FID Inception-v3: 2048-d pool3 features (FID, KID, precision/recall) and 1008-class softmax of
    the unbiased logits (Inception Score).

    Args:
        weights: path to a state dict (.pth or .safetensors) in pytorch-fid's layout; by default the
            canonical file, looked up in ``$GENBENCH_HOME/weights/``, then in torch.hub's checkpoint
            folder (pytorch-fid's and torch-fidelity's downloads), else fetched from pytorch-fid's
            release on first use (``genbench.features.weights``). The network is loaded when the
            first image is extracted: comparing statistics files needs no weights file.
        resize: ``"tf"`` (TF1-compatible, torch-fidelity's convention), ``"bilinear"`` (pytorch-fid's),
            ``"clean"`` (clean-fid's default) or ``"torchmetrics"`` (torchmetrics ≥ 1.8's default);
            see the module docstring.
        download: fetch the canonical file when it is found nowhere (default; never when offline:
            ``GENBENCH_OFFLINE=1`` or ``genbench --offline``).
        device: where the network runs; default CUDA when present, else CPU.
        expected_sha256: hex digest (or prefix) the weights file must match; defaults to the
            canonical file's, which the file at the default place must match, while a ``weights``
            path that differs only gets a ``WeightsWarning`` naming its digest. Pass ``None`` to skip
            the check. ``weights_sha256`` records the full digest either way: the file's, or before
            the default file is loaded the canonical digest it is then checked against.
    """

    name = "inception-v3-fid"
    feature_dim = 2048

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        resize: str = "tf",
        download: bool = True,
        device: str | torch.device | None = None,
        *,
        expected_sha256: str | None = WEIGHTS.sha256,
    ) -> None:
        if resize not in PREPROCESSING:
            raise ValueError(f"resize must be one of {', '.join(map(repr, PREPROCESSING))}; got {resize!r}")
        self.resize = resize
        self.preprocessing = PREPROCESSING[resize]
        # a file named by the caller that is not the canonical one: a warning naming its sha256 (fine-tuned or
        # test weights), unless the caller asked for a digest of their own
        self._weights = LazyWeights(dataclasses.replace(WEIGHTS, sha256=expected_sha256), weights, download,
                                    warn_explicit=expected_sha256 == WEIGHTS.sha256)
        self.device = torch.device(device) if device is not None else default_device()
        self._model: FIDInception3 | None = None

    @property
    def weights_sha256(self) -> str | None:
        """The weights file's sha256 (the canonical digest until the default file is loaded)."""
        return self._weights.sha256

    @property
    def model(self) -> FIDInception3:
        """The network, loaded (and its file found or fetched) on first use."""
        if self._model is None:
            path, _ = self._weights.resolve()
            state = load_state_dict(path)
            model = FIDInception3()
            _check_layout(state, model, path)
            model.load_state_dict(state, strict=False)  # only the optional num_batches_tracked may be absent
            self._model = model.requires_grad_(False).eval().to(self.device)
        return self._model

    def _normalise(self, images: torch.Tensor) -> torch.Tensor:
        """A validated batch → the network's (n, 3, 299, 299) float32 input (``inception_input``)."""
        if self.resize != "clean":  # clean's PIL resize runs on the CPU: move its 299×299 result instead
            images = images.to(self.device)
        return inception_input(images, self.resize).to(self.device)

    def _extract(self, images: torch.Tensor) -> Extracted:
        features, logits = self.model(self._normalise(images))
        return Extracted(features, torch.softmax(logits.double(), dim=1))


register_extractor("inception-v3-fid", InceptionV3FID)
