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

Devices (here and in the scripts built on ``TrainLoop``): ``--device cuda`` puts the data, the
networks and the per-step generators on the GPU (initial weights are still drawn on the CPU, and
the epoch order too); a CUDA generator's stream differs from the CPU's, so the same seed gives
another, equally valid run there, and a run resumes exactly only on the device type it started on.
Monitors and grids read their samples back to the CPU.

This module also holds the resumable training loop shared with ``train_gan``.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genbench.assets import save_bundled_weights
from genbench.data.shapes32 import shapes32
from genbench.io import atomic_path, atomic_write_csv
from genbench.nn.vae import ConvVAE
from genbench.reports.plots import save_figure
from genbench.training.device import device_label, device_option, training_device

REPO_ROOT = Path(__file__).resolve().parents[2]
N_TRAIN = 50_000
N_MONITOR, CONFIDENCE = 500, 0.9
N_GRID = 64
FP16_TOLERANCE = 2 / 255  # largest change in any sample pixel ([0, 1] units) that fp16 weights may cause


def seeded_generator(*key: int, device: torch.device | str = "cpu") -> torch.Generator:
    """A torch generator on ``device`` seeded by hashing a tuple of non-negative ints (NumPy
    ``SeedSequence``), so keys such as (seed, 0, e) and (seed, 1, s) give unrelated streams (a CUDA
    generator's stream differs from the CPU's for the same key)."""
    seed = int(np.random.SeedSequence(key).generate_state(1, np.uint64)[0])
    return torch.Generator(device=device).manual_seed(seed)


@contextmanager
def stop_requests() -> Iterator[dict[str, bool]]:
    """Turn SIGINT/SIGTERM into ``flag["stop"] = True`` (checked between steps) while the block runs."""
    flag = {"stop": False}

    def handler(signum: int, frame: Any) -> None:
        flag["stop"] = True

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def save_grid(path: Path, images: torch.Tensor) -> None:
    """An 8-wide grid PNG of float images in [0, 1], NCHW, written atomically."""
    from torchvision.utils import save_image

    with atomic_path(path) as tmp:
        save_image(images, tmp, nrow=8, padding=2, pad_value=0.5, format="png")


_EVALUATOR: list[Any] = []
MONITOR_KEYS = ("conf_shape", "conf_shape_color", "n_shapes")


def monitor_values(images: torch.Tensor) -> dict[str, float]:
    """shapes-net's view of samples (float in [0, 1]); monitoring only, nothing trains against it.

    "conf_shape": share whose shape is predicted with confidence ≥ 0.9 (the issue's quality bar;
    beware: shapes-net calls uniform noise a ring with confidence ≈ 1, so this alone is fooled);
    "conf_shape_color": share with shape and colour both ≥ 0.9 (uniform noise: ≈ 0.04);
    "n_shapes": distinct shapes among the "conf_shape_color" samples (of 10; mode dropping).
    """
    if not _EVALUATOR:
        from genbench.features.shapes import ShapesNetExtractor

        _EVALUATOR.append(ShapesNetExtractor(device="cpu"))
    pred = _EVALUATOR[0].predict(images)
    shape_ok = pred["shape_conf"] >= CONFIDENCE
    both_ok = shape_ok & (pred["color_conf"] >= CONFIDENCE)
    return {"conf_shape": float(shape_ok.double().mean()), "conf_shape_color": float(both_ok.double().mean()),
            "n_shapes": float(len(pred["shape"][both_ok].unique()))}


def plot_curves(path: Path, rows: list[dict[str, float]], loss_keys: list[str], title: str) -> None:
    """Logged losses (left) and the monitored confident shares (right) against step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, (ax_loss, ax_conf) = plt.subplots(1, 2, figsize=(10, 4))
    for key in loss_keys:
        ax_loss.plot(steps, [r[key] for r in rows], label=key)
    ax_loss.set(xlabel="step", ylabel="mean over logging interval", title=title)
    ax_loss.legend()
    for key in [k for k in rows[0] if "conf_" in k]:
        pts = [(r["step"], r[key]) for r in rows if not math.isnan(r[key])]
        if pts:
            ax_conf.plot(*zip(*pts), marker="o", label=key)
    ax_conf.set(xlabel="step", ylim=(0, 1), ylabel=f"share of {N_MONITOR} samples with confidence ≥ {CONFIDENCE}",
                title="shapes-net on samples (monitor only)")
    if ax_conf.lines:
        ax_conf.legend()
    save_figure(fig, path, dpi=100)


@dataclass
class TrainLoop:
    """Resumable step loop: ``step_fn(step)`` trains one step and returns its losses (floats or 0-d
    tensors: a GPU's are read only when a log row is written, so steps are not synchronised);
    ``monitor_fn(step)`` writes sample grids and returns monitor values (NaN where not computed).

    ``state`` maps names to objects with ``state_dict``/``load_state_dict`` (models, optimizers);
    the checkpoint also holds the step, the log rows and the partial sums of the current logging
    interval, so a resumed run logs exactly what an uninterrupted one would (images/s aside).
    """

    log_dir: Path
    state: dict[str, Any]
    hparams: dict[str, Any]
    config: dict[str, Any]
    batch_size: int
    log_every: int
    sample_every: int
    checkpoint_seconds: float
    step: int = 0
    rows: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)  # saved and restored with the checkpoint (e.g. a warm start)
    _sums: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.sample_every % self.log_every:
            raise ValueError(f"sample_every ({self.sample_every}) must be a multiple of log_every ({self.log_every})")

    @property
    def checkpoint_path(self) -> Path:
        return self.log_dir / "checkpoint.pt"

    def resume(self) -> None:
        if not self.checkpoint_path.is_file():
            return
        ckpt = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        if ckpt["hparams"] != self.hparams or ckpt["config"] != self.config:
            raise SystemExit(f"{self.checkpoint_path} was written with other settings ({ckpt['hparams']}, "
                             f"{ckpt['config']}); pass --no-resume or delete it")
        for name, obj in self.state.items():
            obj.load_state_dict(ckpt["state"][name])
        self.step, self.rows, self.train_seconds, self._sums = (ckpt["step"], ckpt["log"], ckpt["train_seconds"],
                                                                ckpt["sums"])
        self.meta = ckpt.get("meta", {})
        print(f"resumed from {self.checkpoint_path} at step {self.step}", file=sys.stderr)

    def save_checkpoint(self) -> None:
        """Write the checkpoint, and ``log.csv`` from the rows it holds (so a log lost or truncated
        since, e.g. on a machine that was given back, is whole again after any resumed run)."""
        if self.rows:
            atomic_write_csv(self.log_dir / "log.csv", self.rows)
        with atomic_path(self.checkpoint_path) as tmp:
            torch.save({"state": {n: o.state_dict() for n, o in self.state.items()}, "step": self.step,
                        "log": self.rows, "train_seconds": self.train_seconds,
                        "sums": {k: float(v) for k, v in self._sums.items()}, "meta": self.meta,
                        "hparams": self.hparams, "config": self.config}, tmp)

    def run(self, total_steps: int, step_fn: Callable[[int], dict[str, float]],
            monitor_fn: Callable[[int], dict[str, float]]) -> bool:
        """Train up to ``total_steps``; returns False if stopped early by SIGINT/SIGTERM (checkpoint saved)."""
        last_save = time.perf_counter()
        with stop_requests() as flag:
            while self.step < total_steps and not flag["stop"]:
                t0 = time.perf_counter()
                losses = step_fn(self.step)
                self.step += 1
                self.train_seconds += time.perf_counter() - t0
                for k, v in losses.items():
                    self._sums[k] = self._sums.get(k, 0.0) + v
                self._sums["_n"] = self._sums.get("_n", 0.0) + 1
                self._sums["_seconds"] = self._sums.get("_seconds", 0.0) + time.perf_counter() - t0
                if self.step % self.log_every == 0 or self.step == total_steps:
                    self._log_row(self.step % self.sample_every == 0 or self.step == total_steps, monitor_fn)
                    print(f"step {self.step}/{total_steps}  " + "  ".join(
                        f"{k} {v:.4g}" for k, v in self.rows[-1].items() if k != "step"), file=sys.stderr, flush=True)
                if time.perf_counter() - last_save > self.checkpoint_seconds:
                    self.save_checkpoint()
                    last_save = time.perf_counter()
            self.save_checkpoint()
            if flag["stop"]:
                print(f"stopped at step {self.step}; checkpoint saved to {self.checkpoint_path}", file=sys.stderr)
                return False
        return True

    def _log_row(self, monitor: bool, monitor_fn: Callable[[int], dict[str, float]]) -> None:
        n, seconds = self._sums.pop("_n"), self._sums.pop("_seconds")
        row = {"step": self.step, **{k: float(v) / n for k, v in self._sums.items()},
               "img_per_s": n * self.batch_size / seconds, "train_seconds": round(self.train_seconds, 1)}
        row.update(monitor_fn(self.step) if monitor else {k: math.nan for k in monitor_fn(-1)})
        self.rows.append(row)
        self._sums = {}
        atomic_write_csv(self.log_dir / "log.csv", self.rows)


def add_loop_args(p: argparse.ArgumentParser, log_every: int, sample_every: int, monitor: int = N_MONITOR,
                  monitor_help: str = "samples for the shapes-net monitor (0: no monitor and no grids)") -> None:
    """The ``TrainLoop`` options every resumable training script shares."""
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--device", default="cpu", help="torch device to train on (cpu, cuda, …); monitors run on the CPU")
    p.add_argument("--n-train", type=int, default=N_TRAIN, help="train[0:n] images (smaller only for tests)")
    p.add_argument("--log-every", type=int, default=log_every, help="steps per log.csv row")
    p.add_argument("--sample-every", type=int, default=sample_every,
                   help="steps between sample grids and monitor values (a multiple of --log-every)")
    p.add_argument("--monitor", type=int, default=monitor, help=monitor_help)
    p.add_argument("--checkpoint-minutes", type=float, default=5.0)
    p.add_argument("--log-dir", type=Path, default=None)
    p.add_argument("--no-resume", dest="resume", action="store_false", help="ignore an existing checkpoint")
    p.add_argument("--no-bundle", dest="bundle", action="store_false",
                   help="do not write reference_models/ at the end (tests)")


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
    add_loop_args(p, log_every=100, sample_every=2000)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    device = training_device(args.device)
    log_dir = args.log_dir or REPO_ROOT / "reports" / "training" / "vae"
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
                     args.log_every, args.sample_every, 60 * args.checkpoint_minutes)
    if args.resume:
        loop.resume()
    fixed_z = torch.randn(max(N_GRID, args.monitor), args.latent_dim,
                          generator=seeded_generator(args.seed, 2)).to(device)
    order: dict[int, torch.Tensor] = {}

    def step_fn(step: int) -> dict[str, float]:
        epoch, i = divmod(step, steps_per_epoch)
        if epoch not in order:
            order.clear()
            order[epoch] = torch.randperm(args.n_train, generator=seeded_generator(args.seed, 0, epoch)).to(device)
        x = images[order[epoch][i * args.batch_size:(i + 1) * args.batch_size]].float() / 255.0
        noise = torch.randn(len(x), args.latent_dim, generator=seeded_generator(args.seed, 1, step, device=device),
                            device=device)
        model.train()
        loss, recon, kl = model.negative_elbo(x, noise, args.beta)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        optimizer.step()
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()}

    @torch.inference_mode()
    def monitor_fn(step: int) -> dict[str, float]:
        if step < 0 or not args.monitor:
            return dict.fromkeys(MONITOR_KEYS, math.nan)
        model.eval()
        samples = model.decode(fixed_z)
        save_grid(log_dir / f"samples_step{step}.png", samples[:N_GRID])
        return monitor_values(samples[:args.monitor])

    if not loop.run(total_steps, step_fn, monitor_fn):
        raise SystemExit(130)
    plot_curves(log_dir / "curve.png", loop.rows, ["loss", "recon", "kl"], "VAE negative ELBO (nats/img)")
    if not args.bundle:
        return
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    with torch.inference_mode():
        model.eval()
        fp32 = model.decode(fixed_z[:N_GRID])
        model.load_state_dict({k: v.half().float() for k, v in state.items()})
        fp16_diff = float((model.decode(fixed_z[:N_GRID]) - fp32).abs().max())
    fp16 = fp16_diff <= FP16_TOLERANCE
    command = (f"python -m genbench.training.train_vae --steps {loop.step} --seed {args.seed} "
               f"--batch-size {args.batch_size} --lr {args.lr} --grad-clip {args.grad_clip} --beta {args.beta} --latent-dim {args.latent_dim} "
               f"--widths {' '.join(map(str, args.widths))}" + device_option(device))
    last = loop.rows[-1]
    entry = save_bundled_weights("vae", state, config=config, command=command, fp16=fp16, seed=args.seed,
                                 train_split=f"train[0:{args.n_train}]", training=hparams, steps=loop.step,
                                 fp16_max_abs_pixel_diff=fp16_diff, final_log=last,
                                 train_seconds=round(loop.train_seconds, 1), threads=args.threads,
                                 device=device_label(device))
    print(f"saved vae ({entry['dtype']}, sha256 {entry['sha256'][:12]}…; fp16 max |Δpixel| {fp16_diff:.2e}); "
          f"total wall time {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
