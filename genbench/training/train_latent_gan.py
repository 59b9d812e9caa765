"""Train the bundled shapes32 GAN in the latent space of the bundled KL autoencoder and bundle its
EMA generator as ``reference_models/gan-generator.safetensors``.

    python -m genbench.training.train_latent_gan [--steps N] [--seed 0] [--threads 1] [--ema 0.999]

Networks: ``genbench.nn.latent_gan.LatentGenerator`` / ``LatentDiscriminator`` on scale_factor·z,
z the ``ldm-autoencoder`` latent (4×8×8); the frozen decoder turns generated latents into images
(one generator pass plus one decoder pass per sample). Data: shapes32 train[0:50000] encoded
once (posterior mean and std); each step's real latents are posterior samples
scale_factor·(mean + std·ε) of a batch drawn with replacement. Loss: hinge — D: mean relu(1 −
D(x)) + mean relu(1 + D(G(z))); G: −mean D(G(z)); ``--r1`` > 0 adds (r1/2)·E‖∇ₓD(x)‖² on real
latents to D's loss. One D step then one G step per step, Adam (``--lr``, β ``--betas``; with
``--lr-decay-from S`` both rates fall linearly to 0 between step S and ``--steps``). After every G
step the EMA generator follows ema ← decay·ema + (1 − decay)·param (BatchNorm statistics copied).

Monitor (reporting only; nothing trains against an evaluator): every ``--sample-every`` steps,
FID of ``--monitor`` EMA samples in shapes-net space against the bundled train statistics, and
improved recall (k = 3) against the first ``--monitor`` rows of the bundled feature sample.

Reproducibility: initial weights from ``torch.manual_seed(seed)``; step s's batch indices,
posterior noise and latents come from a generator seeded with (seed, 0, s), so a run resumed
from ``<log-dir>/checkpoint.pt`` follows the stream of an uninterrupted one (same thread count).
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import torch

from genbench.data.shapes32 import shapes32
from genbench.generators.autoencoder import AUTOENCODER_WEIGHTS, load_autoencoder
from genbench.images import unit_to_uint8
from genbench.nn.latent_gan import LatentDiscriminator, LatentGenerator
from genbench.reports.grids import save_grid
from genbench.training.bundling import bundle_by_pixels
from genbench.training.curves import plot_curves
from genbench.training.device import device_option
from genbench.training.gan import add_gan_args, gan_command, gan_hparams, gan_state, hinge_d_loss, optimizer_steps
from genbench.training.latents import encode_images
from genbench.training.loop import TrainLoop, add_loop_args, begin_run
from genbench.training.monitors import FID_MONITOR_HELP, N_GRID, N_MONITOR, FIDRecallMonitor
from genbench.training.optim import linear_decay, set_learning_rate
from genbench.training.seeding import seeded_generator

LOSS_KEYS = ["d_loss", "g_loss", "d_real", "d_fake"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m genbench.training.train_latent_gan",
                                description=__doc__.split("\n")[0])
    add_gan_args(p, steps=20_000, batch_size=128, d_width=64)
    p.add_argument("--r1", type=float, default=0.0, help="R1 penalty weight on real latents (0: none)")
    p.add_argument("--lr-decay-from", type=int, default=None, metavar="STEP",
                   help="decay both learning rates linearly from --lr at STEP to 0 at --steps (default: constant)")
    add_loop_args(p, log_every=100, sample_every=1000, monitor=N_MONITOR,
                  monitor_help=FID_MONITOR_HELP)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started, device, log_dir = begin_run(args, "latent-gan")
    autoencoder, ae_entry = load_autoencoder()
    autoencoder.to(device)
    scale_factor = float(ae_entry["config"]["scale_factor"])
    hparams = gan_hparams(args, "hinge on latents", r1=args.r1)
    if args.lr_decay_from is not None:
        if not 0 <= args.lr_decay_from < args.steps:
            raise SystemExit(f"--lr-decay-from must lie in [0, --steps) (got {args.lr_decay_from}, {args.steps})")
        hparams["lr_linear_decay_steps"] = [args.lr_decay_from, args.steps]
    config = {"architecture": "LatentGenerator", "z_dim": args.z_dim, "width": args.g_width,
              "autoencoder": AUTOENCODER_WEIGHTS, "autoencoder_sha256": ae_entry["sha256"],
              "scale_factor": scale_factor,
              "output": "G(z), z ~ N(0, I): scale_factor * autoencoder latent (n, 4, 8, 8); "
                        "images = decode(G(z) / scale_factor); EMA weights, eval mode"}

    train = shapes32("train", 0, args.n_train)
    t0 = time.perf_counter()
    with torch.inference_mode():
        means, stds = (x.to(device) for x in encode_images(autoencoder, train.images, device=device))
    print(f"encoded train[0:{args.n_train}] in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    torch.manual_seed(args.seed)
    G = LatentGenerator(args.z_dim, args.g_width, means.shape[1]).to(device)
    D = LatentDiscriminator(args.d_width, means.shape[1]).to(device)
    state = gan_state(G, D, args)
    G_ema, opt_g, opt_d = state["G_ema"], state["opt_g"], state["opt_d"]
    loop = TrainLoop(log_dir, state, hparams, config,
                     args.batch_size, args.log_every, args.sample_every, 60 * args.checkpoint_minutes,
                     plot=lambda rows: plot_curves(log_dir / "curve.png", rows, LOSS_KEYS, ["ema_fid"],
                                                   title="latent hinge GAN losses", log_right=True,
                                                   right_title="EMA samples (monitor only)",
                                                   right_label=f"FID in shapes-net space, {args.monitor} samples"))
    if args.resume:
        loop.resume()
    fixed_z = torch.randn(max(N_GRID, args.monitor), args.z_dim, generator=seeded_generator(args.seed, 2)).to(device)
    monitor = FIDRecallMonitor(args.monitor) if args.monitor else None

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        set_learning_rate(linear_decay(step, args.lr, args.lr_decay_from, args.steps), opt_g, opt_d)
        gen = seeded_generator(args.seed, 0, step, device=device)
        idx = torch.randint(len(means), (args.batch_size,), generator=gen, device=device)
        eps = torch.randn(means[idx].shape, generator=gen, device=device)
        real = scale_factor * (means[idx] + stds[idx] * eps)
        z_d, z_g = torch.randn(2, args.batch_size, args.z_dim, generator=gen, device=device)
        G.train()
        D.train()
        with torch.no_grad():
            fake = G(z_d)
        losses = {}
        if args.r1 > 0:
            real.requires_grad_(True)
            real_logits = D(real)
            (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
            penalty = grad.square().flatten(1).sum(1).mean()
            fake_logits = D(fake)
            d_loss = hinge_d_loss(real_logits, fake_logits) + 0.5 * args.r1 * penalty
            losses["r1"] = penalty.detach()
        else:
            logits = D(torch.cat([real, fake]))
            real_logits, fake_logits = logits[:args.batch_size], logits[args.batch_size:]
            d_loss = hinge_d_loss(real_logits, fake_logits)
        g_loss = optimizer_steps(d_loss, z_g, G, D, G_ema, opt_g, opt_d, args.ema)
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "d_real": real_logits.detach().mean(),
                "d_fake": fake_logits.detach().mean(), **losses}

    @torch.inference_mode()
    def decode(latents: torch.Tensor) -> torch.Tensor:
        return ((autoencoder.decode(latents / scale_factor).clamp(-1, 1) + 1) / 2).cpu()

    @torch.inference_mode()
    def monitor_fn(step: int) -> dict[str, float]:
        if step < 0 or monitor is None:
            return {f"ema_{k}": math.nan for k in FIDRecallMonitor.KEYS}
        images = decode(G_ema.eval()(fixed_z))
        save_grid(images[:N_GRID], log_dir / f"samples_step{step}.png")
        uint8 = unit_to_uint8(images)
        return {f"ema_{k}": v for k, v in monitor(uint8[:args.monitor]).items()}

    loop.run(args.steps, step_fn, monitor_fn)
    if not args.bundle:
        return
    command = (gan_command("train_latent_gan", args, loop.step) + f" --r1 {args.r1} --threads {args.threads}"
               + device_option(device)
               + (f" --lr-decay-from {args.lr_decay_from}" if args.lr_decay_from is not None else ""))
    bundle_by_pixels("gan-generator", G_ema, lambda: decode(G_ema(fixed_z[:N_GRID])), command=command, config=config,
                     hparams=hparams, args=args, loop=loop, device=device, started=started)


if __name__ == "__main__":
    main()
