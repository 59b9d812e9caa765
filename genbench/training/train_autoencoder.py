"""Train the latent-diffusion autoencoder (``genbench.nn.autoencoder.KLAutoencoder``, f = 4) on shapes32;
bundle it as ``reference_models/ldm-autoencoder.safetensors`` with its latent scale factor.

    python -m genbench.training.train_autoencoder [--steps N] [--batch-size 64] [--lr 5e-4]
                                                  [--kl-weight 1e-6] [--seed 0] [--threads 1]

Data: shapes32 train[0:50000], pre-rendered once (uint8), fed as x = 2·u8/255 − 1 ∈ [−1, 1]. Loss:
L1 reconstruction summed over pixel values plus ``--kl-weight`` · KL per image
(``KLAutoencoder.loss``); Adam at a constant learning rate, the global gradient norm clipped to
``--grad-clip`` (a guard against spikes: typical norms early in training are 3,000–6,000, the loss
being a per-image sum; the log's ``grad_norm`` column is the norm before clipping); each epoch is a
fresh permutation, the last partial batch dropped.

Reproducibility (as ``train_vae``; ``genbench.training.loop.TrainLoop`` runs the steps): initial weights from
``torch.manual_seed(seed)``; epoch e's order from a generator seeded with (seed, 0, e), step s's
reparameterisation noise from (seed, 1, s), so a run resumed from ``<log-dir>/checkpoint.pt``
(atomic, not committed; every ``--checkpoint-minutes``, on SIGINT/SIGTERM and at the end)
continues exactly as an uninterrupted one (same thread count). ``<log-dir>/log.csv`` (default
``reports/training/ldm-autoencoder``) holds the mean losses of every ``--log-every`` steps with
images/s; every ``--sample-every`` steps the monitor columns give the reconstruction SSIM
(``genbench.metrics.ssim``) and PSNR on test[0:--monitor] (posterior means decoded, rounded to
uint8), ``recon_step{K}.png`` shows 32 test images (odd rows) over their reconstructions (even
rows), and ``curve.png`` plots the log.

Bundling (when --steps is reached, unless --no-bundle): weights in fp16 if that moves no
reconstructed pixel of 64 test images by more than 2/255, else fp32; then, with the bundled
weights: the latent scale factor 1/std of posterior samples z ~ q(z|x) (population std over all
values) of train[0:--n-scale] (≥ 10,000 for the bundle the issue asks for; noise seeded with
(seed, 3)), and reconstruction SSIM and PSNR on test[0:--n-eval], printed and stored in the
manifest. The scale factor goes into the manifest config, where ``train_ldm`` and the ``ldm``
generator read it.

Cost: the log's images/s column gives the speed of the machine at hand (the run behind the
bundled weights is in ``reports/training/``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

from genbench.assets import save_bundled_weights
from genbench.data.shapes32 import shapes32
from genbench.images import signed_unit_to_uint8
from genbench.metrics.ssim import ssim
from genbench.nn.autoencoder import KLAutoencoder
from genbench.reports.grids import save_grid
from genbench.training.bundling import FP16_PIXEL_TOLERANCE, cpu_state, fp16_effect
from genbench.training.curves import plot_curves
from genbench.training.loop import TrainLoop, add_loop_args, default_log_dir
from genbench.training.optim import optimizer_step
from genbench.training.pixels import uint8_to_signed_unit
from genbench.training.seeding import seeded_generator

OUT_NAME = "ldm-autoencoder"
N_SCALE, N_EVAL, N_MONITOR, N_GRID = 10_000, 1000, 256, 32
MONITOR_KEYS = ("recon_ssim", "recon_psnr")


@torch.inference_mode()
def reconstruct(model: KLAutoencoder, images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """uint8 reconstructions decode(posterior mean) of uint8 ``images``."""
    out = [signed_unit_to_uint8(model.decode(model.encode(uint8_to_signed_unit(images[lo:lo + batch_size]))[0]))
           for lo in range(0, len(images), batch_size)]
    return torch.cat(out)


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR (dB, float64) of uint8 batches: 10·log10(255² / MSE), MSE over all values (floored at 1e-10)."""
    mse = (x.double() - y.double()).square().flatten(1).mean(1)
    return 10.0 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-10))


def reconstruction_metrics(images: torch.Tensor, recon: torch.Tensor) -> dict[str, float]:
    """Mean per-image SSIM (genbench's ``ssim``, data_range 255) and PSNR of uint8 reconstructions
    ``recon`` of uint8 ``images``."""
    return {"recon_ssim": float(ssim(images, recon).mean()), "recon_psnr": float(psnr(images, recon).mean())}


@torch.inference_mode()
def latent_scale_factor(model: KLAutoencoder, images: torch.Tensor, generator: torch.Generator,
                        batch_size: int = 500) -> float:
    """1 / std of posterior samples z = mean + std·ε over all values of the encodings of uint8 ``images``
    (population std, float64 sums); ε drawn from ``generator`` batch by batch."""
    total, total_sq, count = 0.0, 0.0, 0
    for lo in range(0, len(images), batch_size):
        mean, logvar = model.encode(uint8_to_signed_unit(images[lo:lo + batch_size]))
        z = (mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=generator)).double()
        total, total_sq, count = total + float(z.sum()), total_sq + float(z.square().sum()), count + z.numel()
    return 1.0 / math.sqrt(total_sq / count - (total / count) ** 2)


def write_reconstruction_grid(path: Path, images: torch.Tensor, recon: torch.Tensor) -> None:
    """8-wide grid: rows of 8 originals, each followed by the row of their reconstructions (uint8 inputs)."""
    rows = [t for lo in range(0, len(images), 8) for t in (images[lo:lo + 8], recon[lo:lo + 8])]
    save_grid(torch.cat(rows), path)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m genbench.training.train_autoencoder",
                                description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=4000, help="total optimizer steps (a resumed run continues to it)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--kl-weight", type=float, default=1e-6, help="weight of the per-image KL (LDM's KL-f4: 1e-6)")
    p.add_argument("--grad-clip", type=float, default=1e4, help="max global gradient norm")
    p.add_argument("--channels", type=int, nargs=3, default=[32, 64, 64], help="widths at 32, 16 and 8 pixels")
    p.add_argument("--latent-channels", type=int, default=4)
    p.add_argument("--groups", type=int, default=8, help="GroupNorm groups")
    p.add_argument("--n-scale", type=int, default=N_SCALE, help="train[0:n] encodings for the latent scale factor")
    add_loop_args(p, log_every=100, sample_every=1000, monitor=N_MONITOR,
                  monitor_help="test images for the reconstruction monitor (0: no monitor and no grids)")
    p.add_argument("--n-eval", type=int, default=N_EVAL, help="test[0:n] images for the final evaluation")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    log_dir = args.log_dir or default_log_dir(OUT_NAME)
    steps_per_epoch = args.n_train // args.batch_size
    if steps_per_epoch < 1:
        raise SystemExit(f"--n-train {args.n_train} is smaller than --batch-size {args.batch_size}")
    arch = {"in_channels": 3, "latent_channels": args.latent_channels, "channels": args.channels,
            "num_res_blocks": 1, "groups": args.groups}
    hparams = {"seed": args.seed, "batch_size": args.batch_size, "lr": args.lr, "kl_weight": args.kl_weight,
               "grad_clip": args.grad_clip, "n_train": args.n_train, "optimizer": "Adam",
               "loss": "L1 summed over pixel values + kl_weight * KL summed over latent values, per image"}
    config = {"architecture": "KLAutoencoder", **arch, "downsample": 4,
              "input": "float RGB x = 2*u8/255 - 1 in [-1, 1], NCHW, 32x32",
              "latent": f"posterior over {args.latent_channels}x8x8; the diffusion model sees scale_factor * z"}

    images = shapes32("train", 0, args.n_train).images
    monitor_images = shapes32("test", 0, args.monitor).images if args.monitor else None
    torch.manual_seed(args.seed)
    model = KLAutoencoder.from_config(arch)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loop = TrainLoop(log_dir, {"model": model, "optimizer": optimizer}, hparams, config, args.batch_size,
                     args.log_every, args.sample_every, 60 * args.checkpoint_minutes,
                     plot=lambda rows: plot_curves(log_dir / "curve.png", rows, ["recon_l1", "kl"], ["recon_ssim"],
                                                   title="autoencoder: L1 (per image), KL (nats per image)",
                                                   log_left=True,
                                                   right_label=f"reconstruction SSIM, test[0:{args.monitor}]"))
    if args.resume:
        loop.resume()
    order: dict[int, torch.Tensor] = {}
    latent_shape = (args.latent_channels, 8, 8)

    def step_fn(step: int) -> dict[str, float]:
        epoch, i = divmod(step, steps_per_epoch)
        if epoch not in order:
            order.clear()
            order[epoch] = torch.randperm(args.n_train, generator=seeded_generator(args.seed, 0, epoch))
        x = uint8_to_signed_unit(images[order[epoch][i * args.batch_size:(i + 1) * args.batch_size]])
        noise = torch.randn(len(x), *latent_shape, generator=seeded_generator(args.seed, 1, step))
        model.train()
        loss, recon, kl = model.loss(x, noise, args.kl_weight)
        grad_norm = optimizer_step(optimizer, loss, args.grad_clip)
        return {"loss": loss.item(), "recon_l1": recon.item(), "kl": kl.item(), "grad_norm": float(grad_norm)}

    def monitor_fn(step: int) -> dict[str, float]:
        if step < 0 or monitor_images is None:
            return dict.fromkeys(MONITOR_KEYS, math.nan)
        model.eval()
        recon = reconstruct(model, monitor_images)
        write_reconstruction_grid(log_dir / f"recon_step{step}.png", monitor_images[:N_GRID], recon[:N_GRID])
        return reconstruction_metrics(monitor_images, recon)

    loop.run(args.steps, step_fn, monitor_fn)
    if not args.bundle:
        return
    model.eval()
    state = cpu_state(model)
    check = uint8_to_signed_unit(shapes32("test", 0, 64).images)
    out32, out16 = fp16_effect(model, state, lambda: model.decode(model.encode(check)[0]))
    fp16_diff = float((out16 - out32).abs().max()) / 2  # outputs in [−1, 1]: pixel units are half the difference
    fp16 = fp16_diff <= FP16_PIXEL_TOLERANCE
    if not fp16:
        model.load_state_dict(state)
    test = shapes32("test", 0, args.n_eval).images
    metrics = reconstruction_metrics(test, reconstruct(model, test))
    scale_factor = latent_scale_factor(model, shapes32("train", 0, args.n_scale).images,
                                       seeded_generator(args.seed, 3))
    config = {**config, "scale_factor": scale_factor, "scale_factor_encodings": args.n_scale,
              "scale_factor_split": f"train[0:{args.n_scale}]"}
    command = (f"python -m genbench.training.train_autoencoder --steps {loop.step} --batch-size {args.batch_size} "
               f"--lr {args.lr} --kl-weight {args.kl_weight} --grad-clip {args.grad_clip} --channels {' '.join(map(str, args.channels))} "
               f"--latent-channels {args.latent_channels} --groups {args.groups} --seed {args.seed} "
               f"--threads {args.threads}")
    entry = save_bundled_weights(OUT_NAME, state, config=config, command=command, fp16=fp16, seed=args.seed,
                                 training=hparams, steps=loop.step, train_split=f"train[0:{args.n_train}]",
                                 eval_split=f"test[0:{args.n_eval}]", **metrics,
                                 fp16_max_abs_pixel_diff=fp16_diff, final_log=loop.rows[-1],
                                 train_seconds=round(loop.train_seconds, 1), threads=args.threads)
    print(f"saved {OUT_NAME} ({entry['dtype']}, {entry['parameters']} parameters, sha256 {entry['sha256'][:12]}…): "
          f"test[0:{args.n_eval}] reconstruction SSIM {metrics['recon_ssim']:.4f}, "
          f"PSNR {metrics['recon_psnr']:.2f} dB; "
          f"scale factor {scale_factor:.5f} over {args.n_scale} encodings; total wall time "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
