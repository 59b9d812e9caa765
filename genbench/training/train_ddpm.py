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
matrix products and convolutions may use TF32. The checkpoint (written atomically,
not committed) holds model, EMA, optimizer and log; it is written every ``CHECKPOINT_SECONDS``
of wall time and on exit, including SIGINT / SIGTERM (the current step finishes, the checkpoint
is saved, then the process exits with status 128 + signal). A rerun with the same settings
resumes; a larger --steps extends a run.

Outputs in ``<log-dir>`` (default ``reports/training/ddpm``): ``log.csv`` (every ``LOG_EVERY``
steps: step, mean loss over those steps, learning rate, images/s of wall time, cumulative
seconds), ``curve.png``, and with --sample-every K a 4×4 grid ``samples_step{s}.png`` of EMA
samples (DDIM, 50 steps, η = 0, fixed noise) every K steps. When --steps is reached the EMA
weights are bundled in fp16 with their ε-MSE on test[0:1000] (fixed t and noise) in fp32 and fp16.

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
import signal
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision.utils import make_grid

from genbench.assets import save_bundled_weights
from genbench.data.shapes32 import shapes32
from genbench.diffusion import DiffusionSchedule, ddim_sample, linear_schedule
from genbench.io import atomic_path, atomic_write_csv
from genbench.nn.unet import UNet
from genbench.reports.plots import save_figure
from genbench.training.device import device_label, device_option, training_device
from genbench.training.warm_start import WarmStart, bundle_fields, describe_source, load_into, load_warm_start

REPO_ROOT = Path(__file__).resolve().parents[2]
OUT_NAME = "ddpm-unet"
N_TRAIN, N_EVAL = 50_000, 1000
T, BETA_START, BETA_END = 1000, 1e-4, 0.02
UNET_CONFIG: dict[str, Any] = {"in_channels": 3, "patch_size": 2, "channels": (32, 64, 64, 128), "num_res_blocks": 1,
                               "attention_levels": (2, 3), "heads": 4, "groups": 16}
WEIGHT_DECAY, WARMUP_STEPS, GRAD_CLIP = 0.01, 1000, 1.0
LOG_EVERY, CHECKPOINT_SECONDS = 100, 300.0
N_GRID, GRID_STEPS, GRID_SEED = 16, 50, 0
FP16_TOLERANCE = 0.01  # largest relative increase of the test ε-MSE that fp16 weights may cause


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m genbench.training.train_ddpm", description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=200_000, help="total optimizer steps (a resumed run continues to it)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-4, help="learning rate after the linear warm-up")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--ema", type=float, default=0.9999, help="EMA decay (reached after the warm-up)")
    p.add_argument("--sample-every", type=int, default=0, help="write a sample grid every K steps (0: never)")
    p.add_argument("--log-dir", type=Path, default=None, help="default: reports/training/ddpm")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="ignore an existing checkpoint")
    p.add_argument("--refine-channels", type=int, default=0,
                   help="width of the U-Net's full-resolution output refinement (0: none, the first run's network)")
    p.add_argument("--device", default="cpu", help="torch device to train on (cpu, cuda, cuda:1, …)")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop after this much wall time in this session and bundle the weights of the step "
                        "reached (recorded as --steps); for a lent GPU's fixed time")
    p.add_argument("--init-from", type=Path, default=None,
                   help="warm start (when --log-dir has no checkpoint yet): model and EMA weights and the step "
                        "count of another run's checkpoint; layers it lacks (refine_*) keep their init")
    return p.parse_args(argv)


def to_model_input(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (n, 3, H, W) → float x = 2·u8/255 − 1 ∈ [−1, 1]."""
    return images.float() * (2.0 / 255.0) - 1.0


def step_generator(seed: int, step: int, device: torch.device | str = "cpu") -> torch.Generator:
    """The generator (on ``device``) of step ``step``: its batch indices, timesteps and noise depend
    only on (seed, step) and the device type."""
    return torch.Generator(device=device).manual_seed(seed * 1_000_003 + step)


def draw_batch(images: torch.Tensor, batch_size: int, generator: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(x0, t, ε) on the device of uint8 ``images`` (and of ``generator``): images drawn with
    replacement, t uniform in [0, T), ε ~ N(0, I)."""
    device = images.device
    idx = torch.randint(len(images), (batch_size,), generator=generator, device=device)
    t = torch.randint(T, (batch_size,), generator=generator, device=device)
    noise = torch.randn((batch_size, *images.shape[1:]), generator=generator, device=device)
    return to_model_input(images[idx]), t, noise


def ddpm_loss(model: torch.nn.Module, schedule: DiffusionSchedule, x0: torch.Tensor, t: torch.Tensor,
              noise: torch.Tensor) -> torch.Tensor:
    """The simple loss: mean over batch and pixels of (ε − ε̂(x_t, t))²."""
    return F.mse_loss(model(schedule.q_sample(x0, t, noise), t), noise)


def learning_rate(step: int, peak: float) -> float:
    """Learning rate of step ``step`` (0-based): linear warm-up to ``peak`` over ``WARMUP_STEPS``, then constant."""
    return peak * min(1.0, (step + 1) / WARMUP_STEPS)


def ema_decay(step: int, decay: float) -> float:
    """EMA decay applied after step ``step``: min(decay, (1 + step)/(10 + step))."""
    return min(decay, (1 + step) / (10 + step))


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
    for group in optimizer.param_groups:
        group["lr"] = lr
    loss = ddpm_loss(model, schedule, *batch)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), GRAD_CLIP)
    optimizer.step()
    with torch.no_grad():
        torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1.0 - decay)
    return loss.detach()


def save_checkpoint(path: Path, model: UNet, ema: UNet, optimizer: torch.optim.Optimizer, **meta: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "optimizer": optimizer.state_dict(),
                    **meta}, tmp)


def load_checkpoint(path: Path, model: UNet, ema: UNet, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """Restore model, EMA and optimizer in place; return the remaining entries (step, log, …)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state.pop("model"))
    ema.load_state_dict(state.pop("ema"))
    optimizer.load_state_dict(state.pop("optimizer"))
    return state


def warm_start(path: Path, model: UNet, ema: UNet) -> WarmStart:
    """Load the model and EMA weights of another run's checkpoint, or of bundled weights (both from
    its EMA; ``genbench.training.warm_start``), into ``model`` and ``ema``, where only layers the
    source lacks (the ``refine_*`` refinement) may keep their initial values; the returned source's
    step and training seconds are where the run continues counting from."""
    start = load_warm_start(path)
    load_into(model, start.model, path, may_lack=("refine_",))
    load_into(ema, start.ema, path, may_lack=("refine_",))
    return start


@torch.inference_mode()
def eval_loss(model: UNet, schedule: DiffusionSchedule, images: torch.Tensor, seed: int = 0,
              batch_size: int = 250) -> float:
    """ε-MSE on uint8 ``images`` with t and ε drawn once from ``seed`` on the CPU (comparable between
    weights and devices), computed on the model's device."""
    g = torch.Generator().manual_seed(seed)
    t = torch.randint(T, (len(images),), generator=g)
    noise = torch.randn(images.shape, generator=g)
    device = next(model.parameters()).device
    total = 0.0
    for lo in range(0, len(images), batch_size):
        sl = slice(lo, lo + batch_size)
        total += float(ddpm_loss(model, schedule, to_model_input(images[sl]).to(device), t[sl].to(device),
                                 noise[sl].to(device))) * len(t[sl])
    return total / len(images)


def write_sample_grid(path: Path, model: UNet, schedule: DiffusionSchedule) -> None:
    """A 4×4 PNG of DDIM-50 (η = 0) samples from fixed noise (seed ``GRID_SEED``, drawn on the CPU)."""
    x = ddim_sample(model, (N_GRID, 3, 32, 32), schedule, steps=GRID_STEPS,
                    generator=torch.Generator().manual_seed(GRID_SEED), device=next(model.parameters()).device)
    images = ((x.cpu() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    grid = make_grid(images, nrow=4, padding=2, pad_value=255)
    with atomic_path(path) as tmp:
        Image.fromarray(grid.permute(1, 2, 0).numpy()).save(tmp, format="PNG")


def plot_curve(path: Path, rows: list[dict[str, float]]) -> None:
    """Mean training loss per ``LOG_EVERY`` steps against step (log scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows])
    ax.set(xlabel="step", ylabel=f"ε-MSE (mean over {LOG_EVERY} steps)", yscale="log", title="DDPM training loss")
    save_figure(fig, path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = training_device(args.device)
    log_dir = args.log_dir or REPO_ROOT / "reports" / "training" / "ddpm"
    checkpoint_path = log_dir / "checkpoint.pt"
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
    step, rows, train_seconds, window, init_step, init_source = 0, [], 0.0, (0.0, 0), 0, None
    if args.resume and checkpoint_path.is_file():
        state = load_checkpoint(checkpoint_path, model, ema, optimizer)
        if state["hparams"] != hparams or state["config"] != config:
            raise SystemExit(f"{checkpoint_path} was written with other settings ({state['hparams']}, "
                             f"{state['config']}); pass --no-resume or delete it")
        step, rows, train_seconds, window = state["step"], state["log"], state["train_seconds"], state["window"]
        init_step, init_source = state.get("init_step", 0), state.get("init_source")
        print(f"resumed from {checkpoint_path} at step {step}", file=sys.stderr)
    elif args.init_from is not None:
        start = warm_start(args.init_from, model, ema)
        step = init_step = start.step
        train_seconds, init_source = start.train_seconds, start.source
        print(f"warm start from {args.init_from} at step {step} (fresh optimizer, learning-rate warm-up again)",
              file=sys.stderr)

    stop_signal: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda s, _frame: stop_signal.append(s))
    session_start = time.perf_counter()
    seconds_before, last_save, window_start, timed_steps = train_seconds, session_start, session_start, 0

    def checkpoint() -> None:
        save_checkpoint(checkpoint_path, model, ema, optimizer, step=step, log=rows, train_seconds=train_seconds,
                        window=(float(window[0]), window[1]), hparams=hparams, config=config, init_step=init_step,
                        init_source=init_source)
        if rows:
            atomic_write_csv(log_dir / "log.csv", rows)
            plot_curve(log_dir / "curve.png", rows)

    deadline = math.inf if args.max_minutes is None else session_start + 60 * args.max_minutes
    while step < args.steps and not stop_signal and time.perf_counter() < deadline:
        batch = draw_batch(images, args.batch_size, step_generator(args.seed, step, device))
        loss = train_step(model, ema, optimizer, schedule, batch, learning_rate(step - init_step, args.lr),
                          ema_decay(step, args.ema))
        step += 1
        window, timed_steps = (window[0] + loss, window[1] + 1), timed_steps + 1
        now = time.perf_counter()
        train_seconds = seconds_before + now - session_start
        if step % LOG_EVERY == 0:
            rows.append({"step": step, "loss": float(window[0]) / window[1], "lr": learning_rate(step - 1 - init_step, args.lr),
                         "images_per_s": round(timed_steps * args.batch_size / (now - window_start), 1),
                         "seconds": round(train_seconds, 1)})
            window, window_start, timed_steps = (0.0, 0), now, 0
            print(f"step {step}/{args.steps}  loss {rows[-1]['loss']:.5f}  {rows[-1]['images_per_s']} img/s  "
                  f"[{train_seconds:.0f} s]", file=sys.stderr, flush=True)
        if args.sample_every and step % args.sample_every == 0:
            write_sample_grid(log_dir / f"samples_step{step}.png", ema, schedule)
        if now - last_save >= CHECKPOINT_SECONDS:
            checkpoint()
            last_save = time.perf_counter()
    checkpoint()
    if stop_signal:
        print(f"stopped by signal {stop_signal[0]} at step {step}; checkpoint saved", file=sys.stderr)
        raise SystemExit(128 + stop_signal[0])

    state = {k: v.detach().cpu().clone() for k, v in ema.state_dict().items()}
    test = shapes32("test", 0, N_EVAL).images
    loss_fp32 = eval_loss(ema, schedule, test)
    ema.load_state_dict({k: v.half().float() for k, v in state.items()})
    loss_fp16 = eval_loss(ema, schedule, test)
    if loss_fp16 > loss_fp32 * (1 + FP16_TOLERANCE):
        raise RuntimeError(f"fp16 weights raise the test ε-MSE from {loss_fp32:.5f} to {loss_fp16:.5f}; not bundled")
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
                                 steps=step, train_split=f"train[0:{N_TRAIN}]", train_seconds=round(train_seconds, 1),
                                 test_eps_mse=loss_fp16, test_eps_mse_fp32=loss_fp32, test_split=f"test[0:{N_EVAL}]",
                                 threads=args.threads, device=device_label(device),
                                 **({"warm_start_step": init_step} if init_step else {}),
                                 **bundle_fields(init_source))
    print(f"saved {OUT_NAME} (sha256 {entry['sha256'][:12]}…): test ε-MSE fp16 {loss_fp16:.5f}, "
          f"fp32 {loss_fp32:.5f}", file=sys.stderr)


if __name__ == "__main__":
    main()
