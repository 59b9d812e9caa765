"""Train ShapesNet, the shapes32 evaluator, and bundle it as ``reference_models/shapes-net.safetensors``.

    python -m genbench.training.train_shapes_net [--epochs 15] [--seed 0] [--threads 1]

Data: shapes32 train[0:50000], pre-rendered once; evaluation: test[0:10000]. Loss: the sum of
the cross-entropies of the four heads (shape, colour, size, background). AdamW with a one-cycle
learning rate. Augmentation: with probability 0.5 an image gets additive Gaussian noise of a
std drawn uniformly from [0, ``NOISE_MAX``] (in [0, 1] pixel units), then is clipped to [0, 1],
so the evaluator stays sensible on imperfect generated images. No flips or crops: shapes32
already varies position and rotation, and every class is closed under both.

Reproducibility: the initial weights come from ``torch.manual_seed(seed)``; the batch order and
the noise of epoch e come from a generator seeded with seed·1,000,003 + e, so a run resumed from the
per-epoch checkpoint (``<log-dir>/checkpoint.pt``, written atomically, not committed) continues
exactly as an uninterrupted one would. The epochs are the steps of ``genbench.training.loop.TrainLoop``
(checkpoint after every epoch, and on SIGINT/SIGTERM after the current one). ``<log-dir>/log.csv``
holds per-epoch train loss and test accuracy per head, ``curve.png`` plots them, and the bundled
fp16 weights are recorded in the manifest with the test accuracy they reach (and that of the fp32
weights they round).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from genbench.assets import load_bundled_weights, save_bundled_weights
from genbench.data.shapes32 import CATEGORICAL_LABELS, shapes32
from genbench.nn.evaluator import HEADS, ShapesNet
from genbench.training.bundling import cpu_state, fp16_effect, fp16_rounded
from genbench.training.curves import plot_curves
from genbench.training.loop import N_TRAIN, TrainLoop, add_run_args, default_log_dir
from genbench.training.optim import optimizer_step
from genbench.training.seeding import offset_generator

N_TEST = 10_000
NOISE_PROB, NOISE_MAX = 0.5, 0.05
WEIGHT_DECAY = 0.01
EVAL_BATCH = 1000
FP16_TOLERANCE = 5e-4  # largest change in any head's test accuracy that fp16 weights may cause


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m genbench.training.train_shapes_net", description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128], help="channels per stage")
    p.add_argument("--out-name", default="shapes-net", help="bundled model name (reference_models/<name>.safetensors)")
    add_run_args(p, device=False)
    return p.parse_args(argv)


def _as_input(images: torch.Tensor) -> torch.Tensor:
    return (images.float() / 255.0).contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def evaluate(model: ShapesNet, images: torch.Tensor, labels: dict[str, torch.Tensor]) -> dict[str, float]:
    """Accuracy per head (fraction in [0, 1]) on uint8 ``images``; leaves the model in eval mode."""
    model.eval()
    correct = dict.fromkeys(HEADS, 0)
    for lo in range(0, len(images), EVAL_BATCH):
        out = model(_as_input(images[lo:lo + EVAL_BATCH]))
        for head in HEADS:
            correct[head] += int((out[head].argmax(1) == labels[head][lo:lo + EVAL_BATCH]).sum())
    return {head: c / len(images) for head, c in correct.items()}


def train_epoch(model: ShapesNet, optimizer: torch.optim.Optimizer, scheduler: Any, images: torch.Tensor,
                labels: dict[str, torch.Tensor], batch_size: int, generator: torch.Generator,
                desc: str) -> float:
    """One pass over ``images`` in the order ``generator`` draws; returns the mean summed loss."""
    model.train()
    order = torch.randperm(len(images), generator=generator)
    total, seen = 0.0, 0
    bar = tqdm(range(0, len(order), batch_size), desc=desc, file=sys.stderr, leave=False, mininterval=5)
    for lo in bar:
        idx = order[lo:lo + batch_size]
        x = images[idx].float() / 255.0
        sigma = torch.rand(len(idx), generator=generator) * NOISE_MAX
        sigma *= torch.rand(len(idx), generator=generator) < NOISE_PROB
        x = (x + sigma[:, None, None, None] * torch.randn(x.shape, generator=generator)).clamp_(0.0, 1.0)
        out = model(x.contiguous(memory_format=torch.channels_last))
        loss = sum(F.cross_entropy(out[head], labels[head][idx]) for head in HEADS)
        optimizer_step(optimizer, loss)
        scheduler.step()
        total += loss.item() * len(idx)
        seen += len(idx)
        bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
    return total / seen


def plot_errors(path: Path, rows: list[dict[str, float]]) -> None:
    """Train loss and test error (1 − accuracy, log scale; 0 errors drawn at 0.5/N) per head against epoch."""
    floor = 0.5 / N_TEST
    errors = [{**r, **{f"error_{h}": max(1 - r[f"test_acc_{h}"], floor) for h in HEADS}} for r in rows]
    plot_curves(path, errors, ["train_loss"], [f"error_{h}" for h in HEADS], x="epoch", title="training loss",
                left_label="train loss (sum of 4 heads' CE)", log_left=True, right_title=f"test[0:{N_TEST}] error",
                right_label=f"test error (1 − accuracy; 0 drawn at 0.5/{N_TEST})", log_right=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    log_dir = args.log_dir or default_log_dir(args.out_name)
    hparams = {"epochs": args.epochs, "seed": args.seed, "batch_size": args.batch_size, "lr": args.lr,
               "weight_decay": WEIGHT_DECAY, "noise_prob": NOISE_PROB, "noise_max": NOISE_MAX,
               "schedule": "OneCycleLR (cosine)", "optimizer": "AdamW", "loss": "sum of 4 heads' cross-entropy"}
    config = {"architecture": "ShapesNet", "widths": args.widths, "feature_dim": args.widths[-1], "heads": HEADS,
              "input": "float RGB in [0, 1], NCHW, 32x32; normalised (x - 0.5) / 0.5 inside the network"}

    train, test = shapes32("train", 0, N_TRAIN), shapes32("test", 0, N_TEST)
    train_labels = {k: train.labels[k] for k in CATEGORICAL_LABELS}
    test_labels = {k: test.labels[k] for k in CATEGORICAL_LABELS}

    torch.manual_seed(args.seed)
    model = ShapesNet(tuple(args.widths)).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=WEIGHT_DECAY)
    steps_per_epoch = math.ceil(N_TRAIN / args.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, epochs=args.epochs,
                                                    steps_per_epoch=steps_per_epoch)
    loop = TrainLoop(log_dir, {"model": model, "optimizer": optimizer, "scheduler": scheduler}, hparams, config,
                     images_per_step=N_TRAIN, log_every=1, sample_every=0, checkpoint_seconds=0.0, unit="epoch",
                     plot=lambda rows: plot_errors(log_dir / "curve.png", rows))
    if args.resume:
        loop.resume()

    def epoch_fn(epoch: int) -> dict[str, float]:
        loss = train_epoch(model, optimizer, scheduler, train.images, train_labels, args.batch_size,
                           offset_generator(args.seed, epoch), desc=f"epoch {epoch + 1}/{args.epochs}")
        accuracy = evaluate(model, test.images, test_labels)
        return {"train_loss": loss, **{f"test_acc_{h}": a for h, a in accuracy.items()}}

    loop.run(args.epochs, epoch_fn)
    state = cpu_state(model)
    fp32_accuracy, fp16_accuracy = fp16_effect(model, state, lambda: evaluate(model, test.images, test_labels))
    worst = max(abs(fp16_accuracy[h] - fp32_accuracy[h]) for h in HEADS)
    if worst > FP16_TOLERANCE:
        raise RuntimeError(f"fp16 rounding changes test accuracy by {worst:.4%} (> {FP16_TOLERANCE:.2%}): "
                           f"fp32 {fp32_accuracy}, fp16 {fp16_accuracy}; not bundled")
    command = (f"python -m genbench.training.train_shapes_net --epochs {args.epochs} --seed {args.seed} "
               f"--batch-size {args.batch_size} --lr {args.lr} --widths {' '.join(map(str, args.widths))}")
    save_bundled_weights(args.out_name, state, config=config, command=command, fp16=True,
                         test_accuracy=fp16_accuracy, test_accuracy_fp32=fp32_accuracy, test_split=f"test[0:{N_TEST}]",
                         seed=args.seed, train_split=f"train[0:{N_TRAIN}]", training=hparams,
                         train_seconds=round(loop.train_seconds, 1), threads=args.threads)
    loaded, entry = load_bundled_weights(args.out_name)
    rounded = fp16_rounded(state)
    if any(not torch.equal(loaded[k], rounded[k]) for k in rounded):
        raise RuntimeError("the bundled weights differ from the fp16-rounded weights that were evaluated")
    print(f"saved {args.out_name} (sha256 {entry['sha256'][:12]}…): fp16 test acc "
          + "  ".join(f"{h} {a:.4%}" for h, a in fp16_accuracy.items())
          + f"; max |fp16 - fp32| {worst:.4%}; total wall time {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
