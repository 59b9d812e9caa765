"""What the trainers report about their samples while they train (reporting only: no loss ever
sees an evaluator): shapes-net's view of generated images, and the plot of it beside the losses."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

import torch

from genbench.features.shapes import ShapesNetExtractor
from genbench.training.curves import plot_curves
from genbench.training.loop import Row

N_MONITOR, CONFIDENCE = 500, 0.9
N_GRID = 64  # samples in a VAE or GAN trainer's grid PNG (8 × 8)
MONITOR_KEYS = ("conf_shape", "conf_shape_color", "n_shapes")
MONITOR_HELP = "samples for the shapes-net monitor (0: no monitor and no grids)"
FID_MONITOR_HELP = "EMA samples for the FID/recall monitor (0: no monitor and no grids)"


@cache
def shapes_net() -> ShapesNetExtractor:
    """The bundled shapes-net evaluator on the CPU, loaded once per process."""
    return ShapesNetExtractor(device="cpu")


def monitor_values(images: torch.Tensor) -> dict[str, float]:
    """shapes-net's view of samples (float in [0, 1], NCHW).

    "conf_shape": share whose shape is predicted with confidence ≥ 0.9 (the issue's quality bar;
    beware: shapes-net calls uniform noise a ring with confidence ≈ 1, so this alone is fooled);
    "conf_shape_color": share with shape and colour both ≥ 0.9 (uniform noise: ≈ 0.04);
    "n_shapes": distinct shapes among the "conf_shape_color" samples (of 10; mode dropping).
    """
    pred = shapes_net().predict(images)
    shape_ok = pred["shape_conf"] >= CONFIDENCE
    both_ok = shape_ok & (pred["color_conf"] >= CONFIDENCE)
    return {"conf_shape": float(shape_ok.double().mean()), "conf_shape_color": float(both_ok.double().mean()),
            "n_shapes": float(len(pred["shape"][both_ok].unique()))}


def confidence_plot(path: Path, loss_keys: list[str], title: str, n: int) -> Callable[[list[Row]], None]:
    """A ``TrainLoop.plot``: the losses (left) and every "…conf_…" monitor column of ``n`` samples (right)."""

    def plot(rows: list[Row]) -> None:
        plot_curves(path, rows, loss_keys, [k for k in rows[0] if "conf_" in k], title=title,
                    right_title="shapes-net on samples (monitor only)",
                    right_label=f"share of {n} samples with confidence ≥ {CONFIDENCE}", right_ylim=(0, 1))

    return plot


class FIDRecallMonitor:
    """FID (against the bundled shapes32 train statistics) and improved recall (k = 3, against the
    first ``n`` rows of the bundled feature sample) of ``n`` samples in shapes-net space (reporting only)."""

    KEYS = ("fid", "recall")

    def __init__(self, n: int) -> None:
        from genbench.metrics.prdc import precision_recall
        from genbench.reference import Reference

        self.extractor = shapes_net()
        reference = Reference.load("shapes32:train", extractor=self.extractor, progress=False)
        self.frechet = reference.frechet()
        self.real_rows = torch.as_tensor(reference.sample[:n]).float()
        self.precision_recall = precision_recall

    def __call__(self, images_uint8: torch.Tensor) -> dict[str, float]:
        feats = self.extractor.features(images_uint8).double().numpy()
        mu, sigma = feats.mean(0), torch.from_numpy(feats).T.cov().numpy()
        recall = self.precision_recall(self.real_rows, torch.from_numpy(feats).float(), k=3)["recall"]
        return {"fid": float(self.frechet.distance(mu, sigma)), "recall": float(recall)}
