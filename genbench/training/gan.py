"""The hinge GAN's losses and optimizer steps, shared by ``train_gan`` (pixels) and
``train_latent_gan`` (autoencoder latents).

D's loss: mean relu(1 − D(x)) + mean relu(1 + D(G(z))); G's: −mean D(G(z)) (SN-GAN's hinge).
"""

from __future__ import annotations

import argparse
import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genbench.training.ema import ema_update
from genbench.training.optim import optimizer_step


def add_gan_args(p: argparse.ArgumentParser, *, steps: int, batch_size: int, d_width: int) -> None:
    """The options of both GAN trainers (the defaults that differ between them are arguments)."""
    p.add_argument("--steps", type=int, default=steps, help="G steps (one D step each)")
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the bundled generator")
    p.add_argument("--batch-size", type=int, default=batch_size)
    p.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate of G and D")
    p.add_argument("--betas", type=float, nargs=2, default=[0.0, 0.9])
    p.add_argument("--z-dim", type=int, default=128)
    p.add_argument("--g-width", type=int, default=64)
    p.add_argument("--d-width", type=int, default=d_width)


def gan_hparams(args: argparse.Namespace, loss: str, **extra: Any) -> dict[str, Any]:
    """The training settings a GAN run records (and its checkpoints must match); ``extra`` adds its own."""
    return {"seed": args.seed, "batch_size": args.batch_size, "lr": args.lr, "betas": args.betas, "ema": args.ema,
            "n_train": args.n_train, "d_width": args.d_width, **extra, "optimizer": "Adam", "loss": loss,
            "d_steps_per_g_step": 1}


def gan_state(G: nn.Module, D: nn.Module, args: argparse.Namespace) -> dict[str, Any]:
    """A GAN run's ``TrainLoop.state``: ``G``, ``D``, "G_ema" (a frozen eval-mode copy of ``G``) and
    "opt_g", "opt_d" (Adam at ``args.lr``, β ``args.betas``)."""
    return {"G": G, "D": D, "G_ema": copy.deepcopy(G).eval().requires_grad_(False),
            "opt_g": torch.optim.Adam(G.parameters(), lr=args.lr, betas=tuple(args.betas)),
            "opt_d": torch.optim.Adam(D.parameters(), lr=args.lr, betas=tuple(args.betas))}


def gan_command(trainer: str, args: argparse.Namespace, steps: int) -> str:
    """The recorded command of ``python -m genbench.training.<trainer>`` up to the options both GAN trainers share."""
    return (f"python -m genbench.training.{trainer} --steps {steps} --seed {args.seed} --ema {args.ema} "
            f"--batch-size {args.batch_size} --lr {args.lr} --betas {args.betas[0]} {args.betas[1]} "
            f"--z-dim {args.z_dim} --g-width {args.g_width} --d-width {args.d_width}")


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D's hinge loss, mean relu(1 − real_logits) + mean relu(1 + fake_logits)."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def optimizer_steps(d_loss: torch.Tensor, z_g: torch.Tensor, G: nn.Module, D: nn.Module, G_ema: nn.Module,
                    opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, ema: float) -> torch.Tensor:
    """One D step on ``d_loss``, then one G step on the hinge G loss −mean D(G(z_g)) (D frozen), then
    the EMA update of ``G_ema`` with decay ``ema``; returns the G loss."""
    optimizer_step(opt_d, d_loss)
    D.requires_grad_(False)
    g_loss = -D(G(z_g)).mean()
    optimizer_step(opt_g, g_loss)
    D.requires_grad_(True)
    ema_update(G_ema, G, ema)
    return g_loss


def hinge_gan_step(real: torch.Tensor, z_d: torch.Tensor, z_g: torch.Tensor, G: nn.Module, D: nn.Module,
                   G_ema: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer,
                   ema: float) -> dict[str, torch.Tensor]:
    """One step on a batch of ``real`` samples: D on [real; G(z_d)] (one forward pass), then G on
    ``z_g``, then the EMA update (``optimizer_steps``); returns the log values d_loss, g_loss and the
    mean real and fake logits."""
    n = len(real)
    G.train()
    D.train()
    with torch.no_grad():
        fake = G(z_d)
    logits = D(torch.cat([real, fake]))
    d_loss = hinge_d_loss(logits[:n], logits[n:])
    g_loss = optimizer_steps(d_loss, z_g, G, D, G_ema, opt_g, opt_d, ema)
    logits = logits.detach()
    return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "d_real": logits[:n].mean(),
            "d_fake": logits[n:].mean()}
