"""Train the caption-conditioned latent denoiser (text encoder + U-Net, jointly) on the latents of the
bundled ``ldm-autoencoder``; bundle the EMA weights as ``reference_models/ldm-unet.safetensors``.

    python -m genbench.training.train_ldm [--steps 8000] [--batch-size 128] [--lr 2e-4] [--ema 0.9999]
                                          [--cond-drop 0.1] [--seed 0] [--threads 1] [--device cpu]

Needs the bundled autoencoder (``python -m genbench.training.train_autoencoder``); its sha256 and
latent scale factor go into this model's config, and the ``ldm`` generator refuses any other
autoencoder file.

Architecture (defaults): ``TextEncoder`` of width 64, 2 layers, 4 heads (0.10 M parameters); ``UNet``
with ``patch_size`` 1 on the (4, 8, 8) latents, widths 64 and 128 at 8×8 and 4×4, one residual block
per level, self- and cross-attention at both levels and in the middle, ``context_dim`` 64 (3.11 M
parameters, 0.149 GFLOP per forward, about the pixel U-Net's 0.148); 6.5 MB as fp16.

Data: shapes32 train[0:50000] and their captions. The images are encoded once per session
(posterior mean and std, float32; a few minutes on one thread, cheaper than caching 100 MB);
each step draws z = mean + std·ε (the LDM code's ``posterior.sample()``) and trains on
scale_factor·z. Diffusion: T = 1000, β linear 1e-4 → 0.02, ε-prediction, the simple loss
(mean over batch and latent values of (ε − ε̂)²), t uniform in [0, T), as the pixel DDPM. Each
caption is replaced by the null caption "" with probability ``--cond-drop`` (0.1), which trains
the unconditional branch of classifier-free guidance. AdamW (weight decay ``WEIGHT_DECAY``),
learning rate warmed up linearly over ``WARMUP_STEPS`` then constant, gradients clipped to norm
``GRAD_CLIP``; EMA with decay min(--ema, (1 + s)/(10 + s)) after step s (``genbench.training.ema``).

Reproducibility: initial weights from ``torch.manual_seed(seed)`` (text encoder, then U-Net);
step s draws its indices, t, ε, posterior noise and caption-dropout mask from a generator seeded
with (seed, 1, s), so a run resumed from ``<log-dir>/checkpoint.pt`` (``genbench.training.loop.TrainLoop``:
atomic, every ``--checkpoint-minutes``, on SIGINT/SIGTERM and at the end; not committed)
continues exactly as an uninterrupted one (same thread count). A checkpoint written against
another autoencoder (sha256 in the config) is refused. ``--init-from`` warm-starts a new run (in a
--log-dir without a checkpoint) from another run's checkpoint or from the bundled
``ldm-unet.safetensors`` (``genbench.training.warm_start``): weights and step count carry over,
AdamW and its learning-rate warm-up start afresh, and batches keep coming from (seed, 1, step).

Outputs in ``<log-dir>`` (default ``reports/training/ldm``): ``log.csv`` (mean ε-MSE of every
``--log-every`` steps, learning rate, images/s, seconds; every ``--sample-every`` steps the
monitor columns: shapes-net's agreement with the prompted shape and colour on ``--monitor``
EMA samples for test captions 0 … monitor−1, DDIM-50, guidance ``--guidance``, seeds
(``GRID_SEED``, i); monitoring only, nothing trains against the judge), ``samples_step{K}.png``
(the first 32 of those samples, 8 per row) with ``samples_prompts.txt``, and ``curve.png``. When
--steps is reached the EMA weights are bundled (fp16 unless that raises the test ε-MSE by more
than 1 %), with the ε-MSE on test[0:--n-eval] latents (fixed t, noise, captions), and the grid
``final_samples.png`` with its prompts in ``final_samples_prompts.txt``.

Cost: the log's images/s column gives the speed of the machine at hand (the runs behind the
bundled weights, CPU and GPU, are in ``reports/training/``).
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
from torch import nn

from genbench.assets import save_bundled_weights
from genbench.data.shapes32 import caption_labels, heldout_captions, shapes32
from genbench.diffusion import DiffusionSchedule, linear_schedule, row_generators
from genbench.generators.autoencoder import AUTOENCODER_WEIGHTS, load_autoencoder
from genbench.generators.ldm import LDM_WEIGHTS, build_denoiser, sample_latent_diffusion
from genbench.images import signed_unit_to_uint8
from genbench.nn.autoencoder import KLAutoencoder
from genbench.nn.text_encoder import NULL_CAPTION
from genbench.reports.grids import save_grid, save_grid_prompts
from genbench.training.bundling import FP16_LOSS_TOLERANCE, cpu_state, fp16_effect
from genbench.training.curves import plot_curves
from genbench.training.device import device_label, device_option, training_device
from genbench.training.diffusion import BETA_END, BETA_START, GRAD_CLIP, WEIGHT_DECAY, T, held_out_loss
from genbench.training.ema import ema_decay, ema_update
from genbench.training.latents import encode_images
from genbench.training.loop import TrainLoop, add_loop_args, default_log_dir
from genbench.training.monitors import shapes_net
from genbench.training.optim import optimizer_step, set_learning_rate, warmup_constant
from genbench.training.seeding import seeded_generator
from genbench.training.warm_start import bundle_fields, describe_source, warm_start, warm_start_step

WARMUP_STEPS = 500
N_MONITOR, N_GRID, GRID_SEED, GRID_STEPS = 200, 32, 0, 50
MONITOR_KEYS = ("prompt_shape", "prompt_color", "prompt_both")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m genbench.training.train_ldm", description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=8000, help="total optimizer steps (a resumed run continues to it)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4, help="learning rate after the linear warm-up")
    p.add_argument("--ema", type=float, default=0.9999, help="EMA decay (reached after the warm-up)")
    p.add_argument("--cond-drop", type=float, default=0.1, help="probability of training on the null caption")
    p.add_argument("--guidance", type=float, default=3.0, help="guidance scale of the monitor and the grids")
    p.add_argument("--channels", type=int, nargs="+", default=[64, 128], help="U-Net widths at 8, 4, … pixels")
    p.add_argument("--attention-levels", type=int, nargs="*", default=[0, 1])
    p.add_argument("--groups", type=int, default=16, help="U-Net GroupNorm groups")
    p.add_argument("--text-width", type=int, default=64, help="text encoder width (= U-Net context_dim)")
    p.add_argument("--text-layers", type=int, default=2)
    p.add_argument("--init-from", type=Path, default=None,
                   help="warm start (when --log-dir has no checkpoint yet) from another run's checkpoint or from "
                        "the bundled ldm-unet.safetensors: weights and step count, fresh AdamW and warm-up")
    add_loop_args(p, log_every=100, sample_every=1000, monitor=N_MONITOR,
                  monitor_help="EMA samples for the prompt-accuracy monitor (0: no monitor and no grids)")
    p.add_argument("--n-eval", type=int, default=1000, help="test[0:n] images for the final evaluation")
    return p.parse_args(argv)


def architecture(args: argparse.Namespace, latent_channels: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(U-Net config, text-encoder config) of the command line."""
    unet = {"in_channels": latent_channels, "patch_size": 1, "channels": list(args.channels), "num_res_blocks": 1,
            "attention_levels": list(args.attention_levels), "heads": 4, "groups": args.groups}
    text = {"width": args.text_width, "layers": args.text_layers, "heads": 4, "context_length": 12}
    return unet, text


def ldm_loss(model: nn.ModuleDict, schedule: DiffusionSchedule, z0: torch.Tensor, t: torch.Tensor,
             noise: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """The simple loss on scaled latents z0: mean of (ε − ε̂(z_t, t, text(tokens)))²."""
    return F.mse_loss(model["unet"](schedule.q_sample(z0, t, noise), t, model["text"](tokens)), noise)


def eval_loss(model: nn.ModuleDict, schedule: DiffusionSchedule, z0: torch.Tensor, tokens: torch.Tensor) -> float:
    """ε-MSE on scaled latents ``z0`` (CPU) with captions ``tokens`` (on the model's device), t and ε
    drawn once (``held_out_loss``: comparable between weights)."""
    device = tokens.device
    return held_out_loss(lambda rows, t, noise: ldm_loss(model, schedule, z0[rows].to(device), t.to(device),
                                                         noise.to(device), tokens[rows]), z0.shape)


def prompt_accuracy(images: torch.Tensor, captions: list[str]) -> dict[str, float]:
    """Shares of uint8 ``images`` whose shapes-net shape / colour / both equal those the captions name
    (monitoring only; nothing trains against the evaluator)."""
    pred = shapes_net().predict(images)
    wanted = caption_labels(captions)
    shape_ok, color_ok = pred["shape"] == wanted["shape"], pred["color"] == wanted["color"]
    return {"prompt_shape": float(shape_ok.double().mean()), "prompt_color": float(color_ok.double().mean()),
            "prompt_both": float((shape_ok & color_ok).double().mean())}


def write_samples(path: Path, model: nn.ModuleDict, decoder: KLAutoencoder, scale_factor: float,
                  schedule: DiffusionSchedule, captions: list[str], guidance: float) -> torch.Tensor:
    """uint8 samples for ``captions`` (DDIM-50, η = 0, seeds (``GRID_SEED``, i)); the first ``N_GRID`` as an
    8-wide grid PNG at ``path`` with the prompts, row by row, in ``<path stem>_prompts.txt``."""
    x = sample_latent_diffusion(model, decoder, scale_factor, schedule, captions,
                                row_generators(GRID_SEED, 0, len(captions)), steps=GRID_STEPS, guidance=guidance,
                                device=next(model.parameters()).device)
    images = signed_unit_to_uint8(x)
    save_grid(images[:N_GRID], path)
    save_grid_prompts(captions[:N_GRID], path, nrow=8, header=f"{path.name}: DDIM-{GRID_STEPS}, eta 0, guidance "
                      f"{guidance:g}, seeds ({GRID_SEED}, i); prompts row by row, left to right")
    return images


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    device = training_device(args.device)
    if not 0 <= args.cond_drop < 1:
        raise SystemExit(f"--cond-drop must lie in [0, 1), got {args.cond_drop}")
    log_dir = args.log_dir or default_log_dir("ldm")
    autoencoder, ae_entry = load_autoencoder()
    autoencoder.to(device)
    scale_factor = float(ae_entry["config"]["scale_factor"])
    unet_config, text_config = architecture(args, autoencoder.latent_channels)
    hparams = {"seed": args.seed, "batch_size": args.batch_size, "lr": args.lr, "ema": args.ema,
               "cond_drop": args.cond_drop, "n_train": args.n_train, "weight_decay": WEIGHT_DECAY,
               "warmup_steps": WARMUP_STEPS, "grad_clip": GRAD_CLIP, "optimizer": "AdamW",
               "loss": "simple (eps-MSE) on scale_factor * z, z ~ q(z|x), t uniform; captions dropped to ''"}
    if args.init_from is not None:
        hparams["init_from"] = args.init_from.name
    config = {"architecture": "LDM", "unet": unet_config, "text_encoder": text_config, "T": T,
              "beta_start": BETA_START, "beta_end": BETA_END, "schedule": "linear", "prediction": "eps",
              "null_caption": NULL_CAPTION, "autoencoder": AUTOENCODER_WEIGHTS,
              "autoencoder_sha256": ae_entry["sha256"], "scale_factor": scale_factor,
              "input": "scale_factor * z, z the autoencoder latent (n, 4, 8, 8); t int64 in [0, T); "
                       "context = text_encoder(tokens of the caption)"}
    schedule = linear_schedule(T, BETA_START, BETA_END)

    train = shapes32("train", 0, args.n_train)
    t0 = time.perf_counter()
    means, stds = (x.to(device) for x in encode_images(autoencoder, train.images, device=device))
    print(f"encoded train[0:{args.n_train}] in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    torch.manual_seed(args.seed)
    model = build_denoiser(unet_config, text_config).to(device)
    tokens = model["text"].tokenize(train.captions)
    null_tokens = model["text"].tokenize([NULL_CAPTION])
    del train
    ema = copy.deepcopy(model).requires_grad_(False)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=WEIGHT_DECAY)
    loop = TrainLoop(log_dir, {"model": model, "ema": ema, "optimizer": optimizer}, hparams, config,
                     args.batch_size, args.log_every, args.sample_every, 60 * args.checkpoint_minutes,
                     plot=lambda rows: plot_curves(log_dir / "curve.png", rows, ["loss"], MONITOR_KEYS,
                                                   title="LDM ε-MSE (latent)", log_left=True,
                                                   right_label=f"shapes-net agrees with the prompt ({args.monitor} "
                                                               f"samples, s = {args.guidance:g})"))
    resumed = args.resume and loop.resume()
    if args.init_from is not None and not resumed:
        warm_start(loop, args.init_from, model, ema)
    init_step = warm_start_step(loop)
    monitor_captions = heldout_captions(0, args.monitor)

    def step_fn(step: int) -> dict[str, float]:
        g = seeded_generator(args.seed, 1, step, device=device)
        n = args.batch_size
        idx = torch.randint(args.n_train, (n,), generator=g, device=device)
        t = torch.randint(T, (n,), generator=g, device=device)
        noise = torch.randn((n, *means.shape[1:]), generator=g, device=device)
        posterior_noise = torch.randn((n, *means.shape[1:]), generator=g, device=device)
        drop = torch.rand(n, generator=g, device=device) < args.cond_drop
        z0 = scale_factor * (means[idx] + stds[idx] * posterior_noise)
        batch_tokens = torch.where(drop[:, None], null_tokens, tokens[idx])
        lr = warmup_constant(step - init_step, args.lr, WARMUP_STEPS)
        set_learning_rate(lr, optimizer)
        model.train()
        loss = ldm_loss(model, schedule, z0, t, noise, batch_tokens)
        optimizer_step(optimizer, loss, GRAD_CLIP)
        ema_update(ema, model, ema_decay(step, args.ema))
        return {"loss": loss.detach(), "lr": lr}

    def monitor_fn(step: int) -> dict[str, float]:
        if step < 0 or not args.monitor:
            return dict.fromkeys(MONITOR_KEYS, math.nan)
        ema.eval()
        images = write_samples(log_dir / f"samples_step{step}.png", ema, autoencoder, scale_factor, schedule,
                               monitor_captions, args.guidance)
        return prompt_accuracy(images, monitor_captions)

    loop.run(args.steps, step_fn, monitor_fn)
    if not args.bundle:
        return
    ema.eval()
    state = cpu_state(ema)
    test = shapes32("test", 0, args.n_eval)
    test_means, _ = encode_images(autoencoder, test.images, device=device)
    test_z0, test_tokens = scale_factor * test_means, ema["text"].tokenize(test.captions)
    loss_fp32, loss_fp16 = fp16_effect(ema, state, lambda: eval_loss(ema, schedule, test_z0, test_tokens))
    fp16 = loss_fp16 <= loss_fp32 * (1 + FP16_LOSS_TOLERANCE)
    if not fp16:
        ema.load_state_dict(state)
    write_samples(log_dir / "final_samples.png", ema, autoencoder, scale_factor, schedule,
                  heldout_captions(0, N_GRID), args.guidance)
    command = (f"python -m genbench.training.train_ldm --steps {loop.step} --batch-size {args.batch_size} "
               f"--lr {args.lr} --ema {args.ema} --cond-drop {args.cond_drop} "
               f"--channels {' '.join(map(str, args.channels))} "
               f"--attention-levels {' '.join(map(str, args.attention_levels))} --groups {args.groups} "
               f"--text-width {args.text_width} --text-layers {args.text_layers} --seed {args.seed} "
               f"--threads {args.threads}" + device_option(device))
    if init_step:
        command = f"start from {describe_source(loop.meta['init_source'])}, then {command} --init-from {args.init_from}"
    entry = save_bundled_weights(LDM_WEIGHTS, state, config=config, command=command, fp16=fp16, seed=args.seed,
                                 training=hparams, steps=loop.step, train_split=f"train[0:{args.n_train}]",
                                 test_eps_mse=loss_fp16 if fp16 else loss_fp32, test_eps_mse_fp32=loss_fp32,
                                 test_split=f"test[0:{args.n_eval}]", final_log=loop.rows[-1] if loop.rows else None,
                                 train_seconds=round(loop.train_seconds, 1), threads=args.threads,
                                 device=device_label(device), **bundle_fields(loop.meta.get("init_source")))
    print(f"saved {LDM_WEIGHTS} ({entry['dtype']}, {entry['parameters']} parameters, "
          f"sha256 {entry['sha256'][:12]}…): "
          f"test ε-MSE fp16 {loss_fp16:.5f}, fp32 {loss_fp32:.5f}; total wall time "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
