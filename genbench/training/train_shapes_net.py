"""Train ShapesNet, the shapes32 evaluator, and bundle it as ``reference_models/shapes-net.safetensors``.

    python -m genbench.training.train_shapes_net [--epochs 15] [--seed 0] [--threads 1]

Data: shapes32 train[0:50000], pre-rendered once; evaluation: test[0:10000]. Loss: the sum of
the cross-entropies of the four heads (shape, colour, size, background). AdamW with a one-cycle
learning rate. Augmentation: with probability 0.5 an image gets additive Gaussian noise of a
std drawn uniformly from [0, ``NOISE_MAX``] (in [0, 1] pixel units), then is clipped to [0, 1],
so the evaluator stays sensible on imperfect generated images. No flips or crops: shapes32
already varies position and rotation, and every class is closed under both.

Reproducibility: the initial weights come from ``torch.manual_seed(seed)``; the batch order and
the noise of epoch e come from a generator seeded with (seed, e), so a run resumed from the
per-epoch checkpoint (``<log-dir>/checkpoint.pt``, written atomically, not committed) continues
exactly as an uninterrupted one would. ``<log-dir>/log.csv`` holds per-epoch train loss and
test accuracy per head, ``curve.png`` plots them, and the bundled fp16 weights are recorded in
the manifest with the test accuracy they reach (and that of the fp32 weights they round).
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
from genbench.io import atomic_path, atomic_write_csv
from genbench.nn.evaluator import HEADS, ShapesNet
from genbench.reports.plots import save_figure

REPO_ROOT = Path(__file__).resolve().parents[2]
N_TRAIN, N_TEST = 50_000, 10_000
NOISE_PROB, NOISE_MAX = 0.5, 0.05
WEIGHT_DECAY = 0.01
EVAL_BATCH = 1000
FP16_TOLERANCE = 5e-4  # largest change in any head's test accuracy that fp16 weights may cause


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m genbench.training.train_shapes_net", description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--widths", type=int, nargs="+", default=[32, 64, 128], help="channels per stage")
    p.add_argument("--out-name", default="shapes-net", help="bundled model name (reference_models/<name>.safetensors)")
    p.add_argument("--log-dir", type=Path, default=None, help="default: reports/training/<out-name>")
    p.add_argument("--no-resume", dest="resume", action="store_false", help="ignore an existing checkpoint")
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
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total += loss.item() * len(idx)
        seen += len(idx)
        bar.set_postfix(loss=f"{total / seen:.4f}", refresh=False)
    return total / seen


def plot_curves(path: Path, rows: list[dict[str, float]]) -> None:
    """Train loss and test error (1 − accuracy, log scale; 0 errors drawn at 0.5/N) per head against epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [r["train_loss"] for r in rows], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="train loss (sum of 4 heads' CE)", yscale="log", title="training loss")
    for head in HEADS:
        ax_err.plot(epochs, [max(1 - r[f"test_acc_{head}"], 0.5 / N_TEST) for r in rows], marker="o", label=head)
    ax_err.axhline(0.5 / N_TEST, color="gray", lw=0.5, ls=":")
    ax_err.set(xlabel="epoch", ylabel=f"test error (1 − accuracy; 0 drawn at 0.5/{N_TEST})", yscale="log",
               title=f"test[0:{N_TEST}] error")
    ax_err.legend()
    save_figure(fig, path, dpi=100)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    torch.set_num_threads(args.threads)
    log_dir = args.log_dir or REPO_ROOT / "reports" / "training" / args.out_name
    checkpoint_path = log_dir / "checkpoint.pt"
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
    epoch, rows, train_seconds = 0, [], 0.0
    if args.resume and checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        if state["hparams"] != hparams or state["config"] != config:
            raise SystemExit(f"{checkpoint_path} was written with other settings ({state['hparams']}, "
                             f"{state['config']}); pass --no-resume or delete it")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        epoch, rows, train_seconds = state["epoch"], state["log"], state["train_seconds"]
        print(f"resumed from {checkpoint_path} after epoch {epoch}", file=sys.stderr)

    while epoch < args.epochs:
        t0 = time.perf_counter()
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + epoch)
        loss = train_epoch(model, optimizer, scheduler, train.images, train_labels, args.batch_size, generator,
                           desc=f"epoch {epoch + 1}/{args.epochs}")
        accuracy = evaluate(model, test.images, test_labels)
        epoch += 1
        train_seconds += time.perf_counter() - t0
        rows.append({"epoch": epoch, "train_loss": loss, **{f"test_acc_{h}": a for h, a in accuracy.items()},
                     "seconds": round(train_seconds, 1)})
        with atomic_path(checkpoint_path) as tmp:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "scheduler": scheduler.state_dict(), "epoch": epoch, "log": rows,
                        "train_seconds": train_seconds, "hparams": hparams, "config": config}, tmp)
        atomic_write_csv(log_dir / "log.csv", rows)
        print(f"epoch {epoch}/{args.epochs}  loss {loss:.4f}  test acc "
              + "  ".join(f"{h} {a:.4%}" for h, a in accuracy.items()) + f"  [{train_seconds:.0f} s]",
              file=sys.stderr, flush=True)

    plot_curves(log_dir / "curve.png", rows)
    fp32_accuracy = evaluate(model, test.images, test_labels)
    state = {k: v.detach().cpu().clone(memory_format=torch.contiguous_format)
             for k, v in model.state_dict().items()}
    rounded = {k: v.half().float() if v.is_floating_point() else v for k, v in state.items()}
    model.load_state_dict(rounded)
    fp16_accuracy = evaluate(model, test.images, test_labels)
    worst = max(abs(fp16_accuracy[h] - fp32_accuracy[h]) for h in HEADS)
    if worst > FP16_TOLERANCE:
        raise RuntimeError(f"fp16 rounding changes test accuracy by {worst:.4%} (> {FP16_TOLERANCE:.2%}): "
                           f"fp32 {fp32_accuracy}, fp16 {fp16_accuracy}; not bundled")
    command = (f"python -m genbench.training.train_shapes_net --epochs {args.epochs} --seed {args.seed} "
               f"--batch-size {args.batch_size} --lr {args.lr} --widths {' '.join(map(str, args.widths))}")
    save_bundled_weights(args.out_name, state, config=config, command=command, fp16=True,
                         test_accuracy=fp16_accuracy, test_accuracy_fp32=fp32_accuracy, test_split=f"test[0:{N_TEST}]",
                         seed=args.seed, train_split=f"train[0:{N_TRAIN}]", training=hparams,
                         train_seconds=round(train_seconds, 1), threads=args.threads)
    loaded, entry = load_bundled_weights(args.out_name)
    if any(not torch.equal(loaded[k], rounded[k]) for k in rounded):
        raise RuntimeError("the bundled weights differ from the fp16-rounded weights that were evaluated")
    print(f"saved {args.out_name} (sha256 {entry['sha256'][:12]}…): fp16 test acc "
          + "  ".join(f"{h} {a:.4%}" for h, a in fp16_accuracy.items())
          + f"; max |fp16 - fp32| {worst:.4%}; total wall time {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
