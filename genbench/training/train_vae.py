"""Train the bundled shapes32 VAE (``genbench.nn.vae.ConvVAE``) and bundle it as ``reference_models/vae.safetensors``.

    python -m genbench.training.train_vae [--epochs N | --steps N] [--seed 0] [--threads 1] [--device cpu]

Data: shapes32 train[0:50000], pre-rendered once (uint8), fed as floats in [0, 1]. Loss: the
negative ELBO with a Bernoulli likelihood and β-weighted KL (nats per image, see ``ConvVAE.negative_elbo``);
Adam at a constant learning rate (5e-4), global gradient norm clipped to --grad-clip; the encoder clamps
log σ² to [−30, 20] (a first run at lr 1e-3 without either diverged at step ~3,700); batches drop the last
partial batch of each epoch.

Reproducibility: initial weights from ``torch.manual_seed(seed)``; epoch e's batch order comes
from a generator seeded with (seed, 0, e) and step s's reparameterisation noise from one seeded
with (seed, 1, s), so a run resumed from ``<log-dir>/checkpoint.pt`` (atomic, not committed;
written every ``--checkpoint-minutes``, on SIGINT/SIGTERM and at the end) follows exactly the
stream of an uninterrupted one. ``<log-dir>/log.csv`` holds the mean losses of every
``--log-every`` steps with images/s; every ``--sample-every`` steps ``samples_step{K}.png`` shows
``decode(z)`` of 64 fixed latents, and the monitor columns (``monitor_values``) say how
shapes-net sees 500 fixed-latent samples (reporting only: the evaluator never enters a loss).
``curve.png`` plots the log.

Devices: ``--device cuda`` puts the data, the network and the per-step generators on the GPU (initial
weights are still drawn on the CPU, and the epoch order too); a CUDA generator's stream differs from
the CPU's, so the same seed gives another, equally valid run there, and a run resumes exactly only
on the device type it started on. Monitors and grids read their samples back to the CPU.

Steps, log, checkpoints and signals: ``genbench.training.loop.TrainLoop``.
"""

from __future__ import annotations

import argparse
import math

import torch

from genbench.data.shapes32 import shapes32
from genbench.nn.vae import ConvVAE
from genbench.reports.grids import save_grid
from genbench.training.bundling import bundle_by_pixels
from genbench.training.device import device_option
from genbench.training.loop import TrainLoop, add_loop_args, begin_run
from genbench.training.monitors import MONITOR_HELP, MONITOR_KEYS, N_GRID, N_MONITOR, confidence_plot, monitor_values
from genbench.training.optim import optimizer_step
from genbench.training.seeding import seeded_generator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m genbench.training.train_vae", description=__doc__.split("\n")[0])
    length = p.add_mutually_exclusive_group()
    length.add_argument("--epochs", type=int, default=None, help="default 60")
    length.add_argument("--steps", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--grad-clip", type=float, default=100.0, help="max global gradient norm (loss is nats/image)")
    p.add_argument("--beta", type=float, default=1.0, help="weight of the KL term (1: the ELBO)")
    p.add_argument("--latent-dim", type=int, default=64)
    p.add_argument("--widths", type=int, nargs=3, default=[32, 64, 128])
    add_loop_args(p, log_every=100, sample_every=2000, monitor=N_MONITOR, monitor_help=MONITOR_HELP)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started, device, log_dir = begin_run(args, "vae")
    steps_per_epoch = args.n_train // args.batch_size
    total_steps = args.steps if args.steps is not None else (args.epochs or 60) * steps_per_epoch
    hparams = {"seed": args.seed, "batch_size": args.batch_size, "lr": args.lr, "grad_clip": args.grad_clip, "beta": args.beta,
               "n_train": args.n_train, "optimizer": "Adam", "loss": "Bernoulli reconstruction + beta * KL, nats/img"}
    config = {"architecture": "ConvVAE", "latent_dim": args.latent_dim, "widths": args.widths,
              "output": "decode(z), z ~ N(0, I): float RGB in [0, 1], NCHW, 32x32 (Bernoulli means)"}

    images = shapes32("train", 0, args.n_train).images.to(device)
    torch.manual_seed(args.seed)
    model = ConvVAE(args.latent_dim, tuple(args.widths)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    loop = TrainLoop(log_dir, {"model": model, "optimizer": optimizer}, hparams, config, args.batch_size,
                     args.log_every, args.sample_every, 60 * args.checkpoint_minutes,
                     plot=confidence_plot(log_dir / "curve.png", ["loss", "recon", "kl"],
                                          "VAE negative ELBO (nats/img)", args.monitor))
    if args.resume:
        loop.resume()
    fixed_z = torch.randn(max(N_GRID, args.monitor), args.latent_dim,
                          generator=seeded_generator(args.seed, 2)).to(device)
    order: dict[int, torch.Tensor] = {}

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        epoch, i = divmod(step, steps_per_epoch)
        if epoch not in order:
            order.clear()
            order[epoch] = torch.randperm(args.n_train, generator=seeded_generator(args.seed, 0, epoch)).to(device)
        x = images[order[epoch][i * args.batch_size:(i + 1) * args.batch_size]].float() / 255.0
        noise = torch.randn(len(x), args.latent_dim, generator=seeded_generator(args.seed, 1, step, device=device),
                            device=device)
        model.train()
        loss, recon, kl = model.negative_elbo(x, noise, args.beta)
        optimizer_step(optimizer, loss, args.grad_clip)
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    @torch.inference_mode()
    def monitor_fn(step: int) -> dict[str, float]:
        if step < 0 or not args.monitor:
            return dict.fromkeys(MONITOR_KEYS, math.nan)
        model.eval()
        samples = model.decode(fixed_z)
        save_grid(samples[:N_GRID].cpu(), log_dir / f"samples_step{step}.png")
        return monitor_values(samples[:args.monitor])

    loop.run(total_steps, step_fn, monitor_fn)
    if not args.bundle:
        return
    command = (f"python -m genbench.training.train_vae --steps {loop.step} --seed {args.seed} "
               f"--batch-size {args.batch_size} --lr {args.lr} --grad-clip {args.grad_clip} --beta {args.beta} --latent-dim {args.latent_dim} "
               f"--widths {' '.join(map(str, args.widths))}" + device_option(device))
    bundle_by_pixels("vae", model, lambda: model.decode(fixed_z[:N_GRID]), command=command, config=config,
                     hparams=hparams, args=args, loop=loop, device=device, started=started)


if __name__ == "__main__":
    main()
