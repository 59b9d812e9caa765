"""Train the DDPM ε-prediction U-Net on shapes32; bundle its EMA weights as ``reference_models/ddpm-unet.safetensors``.

    python -m genbench.training.train_ddpm [--steps 200000] [--batch-size 128] [--lr 2e-4] [--seed 0]
                                            [--threads 1] [--ema 0.9999] [--sample-every 0] [--device cpu]

Diffusion: T = 1000, β linear 1e-4 → 0.02 (``linear_schedule``), ε-prediction, the simple loss
‖ε − ε̂(x_t, t)‖² averaged over pixels (Ho et al. 2020), t uniform in [0, T). Data: shapes32
train[0:50000], pre-rendered once, scaled x = 2·u8/255 − 1; each step draws its batch uniformly
with replacement, no augmentation (shapes32 already varies position and rotation). AdamW
(weight decay ``WEIGHT_DECAY``), learning rate warmed up linearly over ``WARMUP_STEPS`` then
constant, gradients clipped to norm ``GRAD_CLIP``. EMA of the weights with decay
min(--ema, (1 + s)/(10 + s)) at step s (the usual warm-up, so early EMA weights are not the
random init); the EMA model is what is sampled and bundled.

Reproducibility: the initial weights come from ``torch.manual_seed(seed)`` (on the CPU, then moved
to --device); step s draws its image indices, timesteps and noise from a generator on --device
seeded with (seed, s), so a run resumed from ``<log-dir>/checkpoint.pt`` continues exactly as an
uninterrupted one would on the same device (same thread count: CPU kernels may round differently
across thread counts; CUDA kernels are not bitwise deterministic, and a CUDA generator's stream
differs from the CPU's, so the same seed gives another, equally valid run on a GPU). On CUDA the
matrix products and convolutions may use TF32. Steps, log and checkpoints are those of
``genbench.training.loop.TrainLoop``: the checkpoint (written atomically, not committed) holds
model, EMA, optimizer and log; it is written every 5 minutes of wall time and on exit, including
SIGINT / SIGTERM (the current step finishes, the checkpoint is saved, then the process exits with
status 128 + signal). A rerun with the same settings resumes; a larger --steps extends a run.

Outputs in ``<log-dir>`` (default ``reports/training/ddpm``): ``log.csv`` (every ``LOG_EVERY``
steps: step, mean loss and learning rate over those steps, images/s, cumulative seconds; the
seconds count the steps, sample grids included), ``curve.png``, and with --sample-every K a 4×4
grid ``samples_step{s}.png`` of EMA samples (DDIM, 50 steps, η = 0, fixed noise) every K steps.
When --steps is reached the EMA weights are bundled in fp16 with their ε-MSE on test[0:1000]
(fixed t and noise) in fp32 and fp16.

Warm start (how the bundled network got its full-resolution refinement, see ``genbench.nn.unet``):
``--refine-channels 32 --init-from CKPT --log-dir DIR`` starts a new run in DIR from CKPT's model
and EMA weights, step count and training seconds (the zero-initialised refinement layers are new),
with a fresh AdamW and the learning-rate warm-up counted again from that step; batches keep
coming from (seed, step), and the run resumes from DIR/checkpoint.pt like any other. CKPT may also
be the bundled ``reference_models/ddpm-unet.safetensors`` (sha256 checked; its EMA weights start
both the network and its EMA; its manifest step count is where the run continues): the way to go
on from weights trained on a GPU machine whose checkpoints went with it.
"""

from __future__ import annotations

import argparse
import copy
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from genbench.assets import save_bundled_weights
from genbench.data.shapes32 import shapes32
from genbench.diffusion import DiffusionSchedule, ddim_sample, linear_schedule
from genbench.images import signed_unit_to_uint8
from genbench.nn.unet import UNet
from genbench.reports.grids import save_grid
from genbench.training.bundling import FP16_LOSS_TOLERANCE, cpu_state, fp16_effect
from genbench.training.curves import plot_curves
from genbench.training.device import device_label, device_option, training_device
from genbench.training.diffusion import BETA_END, BETA_START, GRAD_CLIP, WEIGHT_DECAY, T, held_out_loss
from genbench.training.ema import ema_decay, ema_update
from genbench.training.loop import N_TRAIN, REPO_ROOT, TrainLoop, add_run_args, default_log_dir
from genbench.training.optim import optimizer_step, set_learning_rate, warmup_constant
from genbench.training.pixels import uint8_to_signed_unit
from genbench.training.seeding import offset_generator
from genbench.training.warm_start import bundle_fields, describe_source, warm_start, warm_start_step

OUT_NAME = "ddpm-unet"
N_EVAL = 1000
UNET_CONFIG: dict[str, Any] = {"in_channels": 3, "patch_size": 2, "channels": (32, 64, 64, 128), "num_res_blocks": 1,
                               "attention_levels": (2, 3), "heads": 4, "groups": 16}
WARMUP_STEPS, LOG_EVERY = 1000, 100
N_GRID, GRID_STEPS, GRID_SEED = 16, 50, 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m genbench.training.train_ddpm", description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=200_000, help="total optimizer steps (a resumed run continues to it)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4, help="learning rate after the linear warm-up")
    p.add_argument("--ema", type=float, default=0.9999, help="EMA decay (reached after the warm-up)")
    p.add_argument("--sample-every", type=int, default=0, help="write a sample grid every K steps (0: never)")
    p.add_argument("--refine-channels", type=int, default=0,
                   help="width of the U-Net's full-resolution output refinement (0: none, the first run's network)")
    add_run_args(p)
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop after this much wall time in this session and bundle the weights of the step "
                        "reached (recorded as --steps); for a lent GPU's fixed time")
    p.add_argument("--init-from", type=Path, default=None,
                   help="warm start (when --log-dir has no checkpoint yet): model and EMA weights and the step "
                        "count of another run's checkpoint; layers it lacks (refine_*) keep their init")
    return p.parse_args(argv)


def draw_batch(images: torch.Tensor, batch_size: int, generator: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x0, t, ε) on the device of uint8 ``images`` (and of ``generator``): images drawn with
    replacement, t uniform in [0, T), ε ~ N(0, I)."""
    device = images.device
    idx = torch.randint(len(images), (batch_size,), generator=generator, device=device)
    t = torch.randint(T, (batch_size,), generator=generator, device=device)
    noise = torch.randn((batch_size, *images.shape[1:]), generator=generator, device=device)
    return uint8_to_signed_unit(images[idx]), t, noise


def ddpm_loss(model: torch.nn.Module, schedule: DiffusionSchedule, x0: torch.Tensor, t: torch.Tensor,
              noise: torch.Tensor) -> torch.Tensor:
    """The simple loss: mean over batch and pixels of (ε − ε̂(x_t, t))²."""
    return F.mse_loss(model(schedule.q_sample(x0, t, noise), t), noise)


def build_training(lr: float, seed: int, unet_config: dict[str, Any] | None = None,
                   device: torch.device | str = "cpu") -> tuple[UNet, UNet, torch.optim.Optimizer]:
    """(model, EMA copy, AdamW) on ``device`` for ``unet_config`` (default ``UNET_CONFIG``) with the
    initial weights of ``seed`` (drawn on the CPU, so they are the same on every device)."""
    torch.manual_seed(seed)
    model = UNet(**(UNET_CONFIG if unet_config is None else unet_config)).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    return model, ema, torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)


def train_step(model: UNet, ema: UNet, optimizer: torch.optim.Optimizer, schedule: DiffusionSchedule,
               batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], lr: float, decay: float) -> torch.Tensor:
    """One AdamW step on ``batch`` = (x0, t, ε) at rate ``lr``, then EMA ← decay·EMA + (1 − decay)·model.

    Gradients are clipped to norm ``GRAD_CLIP``. Returns the batch's loss (before the step) as a
    detached 0-d tensor on the model's device (reading it waits for the GPU: do that only when logging).
    """
    set_learning_rate(lr, optimizer)
    loss = ddpm_loss(model, schedule, *batch)
    optimizer_step(optimizer, loss, GRAD_CLIP)
    ema_update(ema, model, decay)
    return loss.detach()


def eval_loss(model: UNet, schedule: DiffusionSchedule, images: torch.Tensor) -> float:
    """ε-MSE on uint8 ``images`` with t and ε drawn once (``held_out_loss``: comparable between
    weights and devices), computed on the model's device."""
    device = next(model.parameters()).device

    def loss(rows: slice, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return ddpm_loss(model, schedule, uint8_to_signed_unit(images[rows]).to(device), t.to(device), noise.to(device))

    return held_out_loss(loss, images.shape)


def write_sample_grid(path: Path, model: UNet, schedule: DiffusionSchedule) -> None:
    """A 4×4 PNG of DDIM-50 (η = 0) samples from fixed noise (seed ``GRID_SEED``, drawn on the CPU)."""
    x = ddim_sample(model, (N_GRID, 3, 32, 32), schedule, steps=GRID_STEPS,
                    generator=torch.Generator().manual_seed(GRID_SEED), device=next(model.parameters()).device)
    save_grid(signed_unit_to_uint8(x), path, nrow=4)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = training_device(args.device)
    log_dir = args.log_dir or default_log_dir("ddpm")
    hparams = {"seed": args.seed, "batch_size": args.batch_size, "lr": args.lr, "ema": args.ema,
               "weight_decay": WEIGHT_DECAY, "warmup_steps": WARMUP_STEPS, "grad_clip": GRAD_CLIP,
               "optimizer": "AdamW", "loss": "simple (ε-MSE), t uniform"}
    unet_config = {**UNET_CONFIG, **({"refine_channels": args.refine_channels} if args.refine_channels else {})}
    if args.init_from is not None:
        hparams["init_from"] = args.init_from.name
    config = {"architecture": "UNet", **unet_config, "T": T, "beta_start": BETA_START, "beta_end": BETA_END,
              "schedule": "linear", "prediction": "eps",
              "input": "float RGB x = 2*u8/255 - 1 in [-1, 1], NCHW, 32x32; t int64 in [0, T)"}
    schedule = linear_schedule(T, BETA_START, BETA_END)
    images = shapes32("train", 0, N_TRAIN).images.to(device)
    model, ema, optimizer = build_training(args.lr, args.seed, unet_config, device)
    loop = TrainLoop(log_dir, {"model": model, "ema": ema, "optimizer": optimizer}, hparams, config, args.batch_size,
                     LOG_EVERY, sample_every=0,
                     plot=lambda rows: plot_curves(log_dir / "curve.png", rows, ["loss"], title="DDPM training loss",
                                                   left_label=f"ε-MSE (mean over {LOG_EVERY} steps)", log_left=True))
    resumed = args.resume and loop.resume()
    if args.init_from is not None and not resumed:
        warm_start(loop, args.init_from, model, ema, may_lack=("refine_",))
    init_step = warm_start_step(loop)

    def step_fn(step: int) -> dict[str, Any]:
        batch = draw_batch(images, args.batch_size, offset_generator(args.seed, step, device))
        lr = warmup_constant(step - init_step, args.lr, WARMUP_STEPS)
        loss = train_step(model, ema, optimizer, schedule, batch, lr, ema_decay(step, args.ema))
        if args.sample_every and (step + 1) % args.sample_every == 0:
            write_sample_grid(log_dir / f"samples_step{step + 1}.png", ema, schedule)
        return {"loss": loss, "lr": lr}

    loop.run(args.steps, step_fn,
             deadline=math.inf if args.max_minutes is None else time.perf_counter() + 60 * args.max_minutes)

    state = cpu_state(ema)
    test = shapes32("test", 0, N_EVAL).images
    loss_fp32, loss_fp16 = fp16_effect(ema, state, lambda: eval_loss(ema, schedule, test))
    if loss_fp16 > loss_fp32 * (1 + FP16_LOSS_TOLERANCE):
        raise RuntimeError(f"fp16 weights raise the test ε-MSE from {loss_fp32:.5f} to {loss_fp16:.5f}; not bundled")
    step, init_source = loop.step, loop.meta.get("init_source")
    if step < args.steps:
        print(f"--max-minutes {args.max_minutes:g} reached at step {step}", file=sys.stderr)
    command = (f"python -m genbench.training.train_ddpm --steps {step} --batch-size {args.batch_size} "
               f"--lr {args.lr} --seed {args.seed} --threads {args.threads} --ema {args.ema}")
    if args.refine_channels:
        command += f" --refine-channels {args.refine_channels}"
    command += device_option(device)
    log_dir_arg = log_dir.relative_to(REPO_ROOT) if log_dir.is_relative_to(REPO_ROOT) else log_dir
    if init_source is not None and init_source.get("kind") == "bundled":
        command = (f"start from {describe_source(init_source)}, then {command} --init-from {args.init_from} "
                   f"--log-dir {log_dir_arg}")
    elif args.init_from is not None:  # the warm start's source: the first run's checkpoint at init_step
        command = (f"python -m genbench.training.train_ddpm --steps {init_step} --batch-size {args.batch_size} "
                   f"--lr {args.lr} --seed {args.seed} --threads {args.threads} --ema {args.ema}, "
                   f"copy its checkpoint.pt to {args.init_from}, then {command} --init-from {args.init_from}"
                   f" --log-dir {log_dir_arg}")
    entry = save_bundled_weights(OUT_NAME, state, config=config, command=command, fp16=True, training=hparams,
                                 steps=step, train_split=f"train[0:{N_TRAIN}]",
                                 train_seconds=round(loop.train_seconds, 1),
                                 test_eps_mse=loss_fp16, test_eps_mse_fp32=loss_fp32, test_split=f"test[0:{N_EVAL}]",
                                 threads=args.threads, device=device_label(device),
                                 **({"warm_start_step": init_step} if init_step else {}),
                                 **bundle_fields(init_source))
    print(f"saved {OUT_NAME} (sha256 {entry['sha256'][:12]}…): test ε-MSE fp16 {loss_fp16:.5f}, "
          f"fp32 {loss_fp32:.5f}", file=sys.stderr)


if __name__ == "__main__":
    main()
