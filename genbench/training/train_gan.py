"""Train the bundled shapes32 GAN and bundle its EMA generator as ``reference_models/gan-generator.safetensors``.

    python -m genbench.training.train_gan [--steps N] [--seed 0] [--threads 1] [--ema 0.999] [--device cpu]

Networks: ``genbench.nn.gan.Generator`` (DCGAN-style with upsample + conv, tanh output) and
``Discriminator`` (spectral norm on every layer). Images on both sides are floats in [−1, 1]
(real uint8 → x/127.5 − 1). Loss: hinge — D: mean relu(1 − D(x)) + mean relu(1 + D(G(z)));
G: −mean D(G(z)); one D step (on fresh real and fake batches) then one G step (on new latents)
per step, both Adam (lr 2e-4, β (0.0, 0.9), SN-GAN's hinge setting). After every G step the EMA
generator follows ema ← decay·ema + (1 − decay)·param (BatchNorm running statistics are
copied); the EMA generator, in eval mode, makes the sample grids and is bundled.

Reproducibility: initial weights from ``torch.manual_seed(seed)``; step s's real batch (drawn
with replacement from train[0:50000], pre-rendered) and latents come from a generator seeded
with (seed, 0, s), so a run resumed from ``<log-dir>/checkpoint.pt`` follows the stream of an
uninterrupted one. Logging, grids (``samples_step{K}.png``, 64 fixed latents), checkpoints and the
shapes-net monitor (reporting only) are those of ``train_vae`` (``genbench.training.loop.TrainLoop``,
``genbench.training.monitors``); the monitor reports both the EMA ("ema_*") and the raw ("g_*",
eval mode) generator. Hinge loss and optimizer steps: ``genbench.training.gan``.
"""

from __future__ import annotations

import argparse
import math

import torch

from genbench.data.shapes32 import shapes32
from genbench.nn.gan import Discriminator, Generator
from genbench.reports.grids import save_grid
from genbench.training.bundling import bundle_by_pixels
from genbench.training.device import device_option
from genbench.training.gan import add_gan_args, gan_command, gan_hparams, gan_state, hinge_gan_step
from genbench.training.loop import TrainLoop, add_loop_args, begin_run
from genbench.training.monitors import MONITOR_HELP, MONITOR_KEYS, N_GRID, N_MONITOR, confidence_plot, monitor_values
from genbench.training.seeding import seeded_generator


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m genbench.training.train_gan", description=__doc__.split("\n")[0])
    add_gan_args(p, steps=60_000, batch_size=64, d_width=32)
    add_loop_args(p, log_every=100, sample_every=2000, monitor=N_MONITOR, monitor_help=MONITOR_HELP)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started, device, log_dir = begin_run(args, "gan")
    hparams = gan_hparams(args, "hinge")
    config = {"architecture": "Generator (DCGAN-style, upsample+conv)", "z_dim": args.z_dim, "width": args.g_width,
              "output": "G(z), z ~ N(0, I): float RGB in [-1, 1], NCHW, 32x32; EMA weights, eval mode"}

    images = shapes32("train", 0, args.n_train).images.to(device)
    torch.manual_seed(args.seed)
    G, D = Generator(args.z_dim, args.g_width).to(device), Discriminator(args.d_width).to(device)
    state = gan_state(G, D, args)
    G_ema, opt_g, opt_d = state["G_ema"], state["opt_g"], state["opt_d"]
    loop = TrainLoop(log_dir, state, hparams, config,
                     args.batch_size, args.log_every, args.sample_every, 60 * args.checkpoint_minutes,
                     plot=confidence_plot(log_dir / "curve.png", ["d_loss", "g_loss", "d_real", "d_fake"],
                                          "hinge GAN losses", args.monitor))
    if args.resume:
        loop.resume()
    fixed_z = torch.randn(max(N_GRID, args.monitor), args.z_dim, generator=seeded_generator(args.seed, 2)).to(device)

    def step_fn(step: int) -> dict[str, float]:
        gen = seeded_generator(args.seed, 0, step, device=device)
        idx = torch.randint(args.n_train, (args.batch_size,), generator=gen, device=device)
        real = images[idx].float() / 127.5 - 1.0
        z_d, z_g = torch.randn(2, args.batch_size, args.z_dim, generator=gen, device=device)
        return hinge_gan_step(real, z_d, z_g, G, D, G_ema, opt_g, opt_d, args.ema)

    @torch.inference_mode()
    def monitor_fn(step: int) -> dict[str, float]:
        if step < 0 or not args.monitor:
            return {f"{p}_{k}": math.nan for p in ("ema", "g") for k in MONITOR_KEYS}
        values = {}
        for prefix, net in (("ema", G_ema), ("g", G)):
            samples = (net.eval()(fixed_z) + 1.0) / 2.0
            if net is G_ema:
                save_grid(samples[:N_GRID].cpu(), log_dir / f"samples_step{step}.png")
            values.update({f"{prefix}_{k}": v for k, v in monitor_values(samples[:args.monitor]).items()})
        return values

    loop.run(args.steps, step_fn, monitor_fn)
    if not args.bundle:
        return
    command = gan_command("train_gan", args, loop.step) + device_option(device)
    bundle_by_pixels("gan-generator", G_ema, lambda: (G_ema(fixed_z[:N_GRID]) + 1.0) / 2.0, command=command,
                     config=config, hparams=hparams, args=args, loop=loop, device=device, started=started)


if __name__ == "__main__":
    main()
