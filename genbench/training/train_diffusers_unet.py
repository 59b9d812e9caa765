"""A small diffusers ``UNet2DModel`` trained briefly on shapes32: a user-style diffusion model for
trying ``genbench sweep ddim --model diffusers:PATH`` and ``genbench eval diffusers:PATH``.

ε-prediction (or ``--prediction v_prediction``) with diffusers' ``DDPMScheduler`` (linear β
1e-4 → 0.02, T = 1000), the standard DDPM loss ‖ε − ε̂(x_t, t)‖² on shapes32 train images scaled to
[−1, 1], Adam, fixed seeds: the initial weights from ``torch.manual_seed(seed)``, then every step's
batch start, noise and timesteps from one generator seeded with ``seed``, whose state the checkpoint
keeps. ``--steps 0`` writes the randomly initialised model. The folder is a diffusers pipeline
layout: ``OUT/unet/`` (config.json + safetensors) and ``OUT/scheduler/``, plus the files of
``genbench.training.loop.TrainLoop``: ``OUT/log.csv`` (mean loss of every 20 steps, images/s,
seconds) and ``OUT/checkpoint.pt`` (a rerun with the same settings resumes from it). Not a bundled
model: it is not in the manifest.

    python -m genbench.training.train_diffusers_unet --out reports/training/diffusers-unet --steps 400
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from genbench.data.shapes32 import shapes32
from genbench.training.loop import TrainLoop
from genbench.training.optim import optimizer_step
from genbench.training.seeding import GeneratorState

LOG_EVERY = 20


def build_unet(channels: tuple[int, int] = (32, 64), sample_size: int = 32):
    import diffusers

    return diffusers.UNet2DModel(sample_size=sample_size, in_channels=3, out_channels=3,
                                 block_out_channels=channels, layers_per_block=1,
                                 down_block_types=("DownBlock2D", "AttnDownBlock2D"),
                                 up_block_types=("AttnUpBlock2D", "UpBlock2D"), norm_num_groups=8)


def train(out: Path, steps: int, batch_size: int = 64, lr: float = 2e-4, seed: int = 0,
          prediction: str = "epsilon", threads: int | None = None) -> Path:
    """Train (or resume training) and write the pipeline folder ``out``; returns it."""
    import diffusers

    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    unet = build_unet()
    scheduler = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear", beta_start=1e-4,
                                        beta_end=0.02, prediction_type=prediction, clip_sample=True)
    opt = torch.optim.Adam(unet.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    hparams = {"seed": seed, "batch_size": batch_size, "lr": lr, "optimizer": "Adam",
               "loss": "MSE of the prediction target"}
    loop = TrainLoop(out, {"unet": unet, "optimizer": opt, "generator": GeneratorState(gen)}, hparams,
                     {"architecture": "diffusers.UNet2DModel", "prediction": prediction}, batch_size, LOG_EVERY,
                     sample_every=0)
    loop.resume()

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        start = int(torch.randint(0, 50_000 - batch_size, (1,), generator=gen))
        x0 = shapes32("train", start, batch_size).images.float() / 127.5 - 1.0
        noise = torch.randn(x0.shape, generator=gen)
        t = torch.randint(0, 1000, (batch_size,), generator=gen)
        x_t = scheduler.add_noise(x0, noise, t)
        target = noise if prediction == "epsilon" else scheduler.get_velocity(x0, noise, t)
        loss = F.mse_loss(unet(x_t, t).sample, target)
        optimizer_step(opt, loss)
        return {"loss": loss.detach()}

    loop.run(steps, step_fn)
    unet.eval().save_pretrained(out / "unet", safe_serialization=True)
    scheduler.save_pretrained(out / "scheduler")
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prediction", default="epsilon", choices=["epsilon", "v_prediction"])
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    print(train(Path(args.out), args.steps, args.batch_size, args.lr, args.seed, args.prediction, args.threads))


if __name__ == "__main__":
    main()
