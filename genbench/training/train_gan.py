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
shapes-net monitor (reporting only) are those of ``train_vae``'s ``TrainLoop``; the monitor
reports both the EMA ("ema_*") and the raw ("g_*", eval mode) generator.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from genbench.assets import save_bundled_weights
from genbench.data.shapes32 import shapes32
from genbench.nn.gan import Discriminator, Generator
from genbench.training.device import device_label, device_option, training_device
from genbench.training.train_vae import (FP16_TOLERANCE, MONITOR_KEYS, N_GRID, REPO_ROOT, TrainLoop, add_loop_args,
                                         monitor_values, plot_curves, save_grid, seeded_generator)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema ← decay·ema + (1 − decay)·model for parameters; buffers (BatchNorm statistics) are copied."""
    torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m genbench.training.train_gan", description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=60_000, help="G steps (one D step each)")
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the bundled generator")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate of G and D")
    p.add_argument("--betas", type=float, nargs=2, default=[0.0, 0.9])
    p.add_argument("--z-dim", type=int, default=128)
    p.add_argument("--g-width", type=int, default=64)
    p.add_argument("--d-width", type=int, default=32)
    add_loop_args(p, log_every=100, sample_every=2000)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    device = training_device(args.device)
    log_dir = args.log_dir or REPO_ROOT / "reports" / "training" / "gan"
    hparams = {"seed": args.seed, "batch_size": args.batch_size, "lr": args.lr, "betas": args.betas,
               "ema": args.ema, "n_train": args.n_train, "d_width": args.d_width, "optimizer": "Adam",
               "loss": "hinge", "d_steps_per_g_step": 1}
    config = {"architecture": "Generator (DCGAN-style, upsample+conv)", "z_dim": args.z_dim, "width": args.g_width,
              "output": "G(z), z ~ N(0, I): float RGB in [-1, 1], NCHW, 32x32; EMA weights, eval mode"}

    images = shapes32("train", 0, args.n_train).images.to(device)
    torch.manual_seed(args.seed)
    G, D = Generator(args.z_dim, args.g_width).to(device), Discriminator(args.d_width).to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=args.lr, betas=tuple(args.betas))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr, betas=tuple(args.betas))
    loop = TrainLoop(log_dir, {"G": G, "D": D, "G_ema": G_ema, "opt_g": opt_g, "opt_d": opt_d}, hparams, config,
                     args.batch_size, args.log_every, args.sample_every, 60 * args.checkpoint_minutes)
    if args.resume:
        loop.resume()
    fixed_z = torch.randn(max(N_GRID, args.monitor), args.z_dim, generator=seeded_generator(args.seed, 2)).to(device)

    def step_fn(step: int) -> dict[str, float]:
        gen = seeded_generator(args.seed, 0, step, device=device)
        idx = torch.randint(args.n_train, (args.batch_size,), generator=gen, device=device)
        real = images[idx].float() / 127.5 - 1.0
        z_d, z_g = torch.randn(2, args.batch_size, args.z_dim, generator=gen, device=device)
        G.train()
        D.train()
        with torch.no_grad():
            fake = G(z_d)
        logits = D(torch.cat([real, fake]))
        d_loss = hinge_d_loss(logits[:args.batch_size], logits[args.batch_size:])
        g_loss = optimizer_steps(d_loss, z_g, G, D, G_ema, opt_g, opt_d, args.ema)
        logits = logits.detach()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(),
                "d_real": logits[:args.batch_size].mean(), "d_fake": logits[args.batch_size:].mean()}

    @torch.inference_mode()
    def monitor_fn(step: int) -> dict[str, float]:
        if step < 0 or not args.monitor:
            return {f"{p}_{k}": math.nan for p in ("ema", "g") for k in MONITOR_KEYS}
        values = {}
        for prefix, net in (("ema", G_ema), ("g", G)):
            samples = (net.eval()(fixed_z) + 1.0) / 2.0
            if net is G_ema:
                save_grid(log_dir / f"samples_step{step}.png", samples[:N_GRID])
            values.update({f"{prefix}_{k}": v for k, v in monitor_values(samples[:args.monitor]).items()})
        return values

    if not loop.run(args.steps, step_fn, monitor_fn):
        raise SystemExit(130)
    plot_curves(log_dir / "curve.png", loop.rows, ["d_loss", "g_loss", "d_real", "d_fake"], "hinge GAN losses")
    if not args.bundle:
        return
    command = (f"python -m genbench.training.train_gan --steps {loop.step} --seed {args.seed} --ema {args.ema} "
               f"--batch-size {args.batch_size} --lr {args.lr} --betas {args.betas[0]} {args.betas[1]} "
               f"--z-dim {args.z_dim} --g-width {args.g_width} --d-width {args.d_width}" + device_option(device))
    bundle_generator(G_ema, lambda x: (x + 1.0) / 2.0, fixed_z[:N_GRID], command=command, config=config,
                     hparams=hparams, args=args, loop=loop, device=device, started=started)



def optimizer_steps(d_loss: torch.Tensor, z_g: torch.Tensor, G: nn.Module, D: nn.Module, G_ema: nn.Module,
                    opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, ema: float) -> torch.Tensor:
    """One D step on ``d_loss``, then one G step on the hinge G loss −mean D(G(z_g)) (D frozen), then
    the EMA update of ``G_ema``; returns the G loss."""
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    D.requires_grad_(False)
    g_loss = -D(G(z_g)).mean()
    opt_g.zero_grad(set_to_none=True)
    g_loss.backward()
    opt_g.step()
    D.requires_grad_(True)
    ema_update(G_ema, G, ema)
    return g_loss

def bundle_generator(G_ema: nn.Module, to_pixels: Callable[[torch.Tensor], torch.Tensor], fixed_z: torch.Tensor, *,
                     command: str, config: dict, hparams: dict, args: argparse.Namespace, loop: TrainLoop,
                     device: torch.device, started: float) -> None:
    """Save ``G_ema``'s weights as ``gan-generator``: fp16 when the fp16-rounded weights move no pixel of
    ``to_pixels(G_ema(fixed_z))`` (a [0, 1] image batch) by more than ``FP16_TOLERANCE``, else fp32.
    ``args`` supplies seed, n_train and threads; ``started`` is the run's ``time.perf_counter()`` start."""
    state = {k: v.detach().cpu().clone() for k, v in G_ema.state_dict().items()}
    with torch.inference_mode():
        fp32 = to_pixels(G_ema(fixed_z))
        G_ema.load_state_dict({k: v.half().float() if v.is_floating_point() else v for k, v in state.items()})
        fp16_diff = float((to_pixels(G_ema(fixed_z)) - fp32).abs().max())
    entry = save_bundled_weights("gan-generator", state, config=config, command=command,
                                 fp16=fp16_diff <= FP16_TOLERANCE, seed=args.seed,
                                 train_split=f"train[0:{args.n_train}]", training=hparams, steps=loop.step,
                                 fp16_max_abs_pixel_diff=fp16_diff, final_log=loop.rows[-1],
                                 train_seconds=round(loop.train_seconds, 1), threads=args.threads,
                                 device=device_label(device))
    print(f"saved gan-generator ({entry['dtype']}, sha256 {entry['sha256'][:12]}…; fp16 max |Δpixel| "
          f"{fp16_diff:.2e}); total wall time {time.perf_counter() - started:.0f} s", file=sys.stderr)

if __name__ == "__main__":
    main()
