"""Train shapes-clip contrastively on shapes32 (image, caption) pairs; bundle the fp16 weights.

    python -m genbench.training.train_shapes_clip [--epochs 16] [--seed 0] [--threads 1]

All 50,000 train images are rendered once. Each epoch visits them in a fixed permutation of
(seed, epoch) in batches of ``BATCH_SIZE`` (the last partial batch is dropped). Loss: symmetric
InfoNCE with open_clip's learnable ``logit_scale`` (clamped at ln 100). Only 960 distinct captions
exist, so in a batch of 256 about a quarter of the images share their caption with another; a
shared caption is a positive, never a negative: each distinct caption of the batch is encoded once,
image→text is a softmax over the distinct captions with the image's own caption as the target,
and text→image is a softmax over the batch's images with a soft target spread uniformly over the
images that carry that caption. AdamW (weight decay on tensors of ≥ 2 dims only, as open_clip's trainer) with a linear
warm-up and a cosine decay to 0, per step.

Steps, log and checkpoints: ``genbench.training.loop.TrainLoop``; epoch e's order comes from a
generator seeded with seed·1,000,003 + e, so a run resumed mid-epoch continues exactly.
Outputs in ``reports/training/shapes-clip/``: ``checkpoint.pt`` (every 5 minutes, on SIGINT/SIGTERM
and at the end; written atomically; a rerun with the same arguments resumes from it), ``log.csv``
(a row per epoch: mean loss, images/s, seconds, then the learning rate of the epoch's last step,
the logit scale and the zero-shot accuracy on test images 0..1999), ``curve.png``; and the
bundled weights ``reference_models/shapes-clip.safetensors`` (fp16) with their manifest entry,
holding zero-shot accuracy and matched/mismatched CLIP scores measured with the fp16 weights on
the 10,000 test images through the same path users take (PIL preprocessing, ``ClipExtractor``).
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

from genbench.assets import save_bundled_weights
from genbench.data.shapes32 import CATEGORICAL_LABELS, SPLIT_SIZES, shapes32
from genbench.features.clip import ClipExtractor
from genbench.metrics.clip_score import clip_score
from genbench.metrics.zero_shot import prompt_index, prompts, shapes32_zero_shot, zero_shot_accuracy
from genbench.nn.shapes_clip import (ARCHITECTURE, CONFIG_PATH, IMAGE_MEAN, IMAGE_STD, build_shapes_clip,
                                     normalize_images)
from genbench.training.bundling import fp16_rounded
from genbench.training.curves import plot_curves
from genbench.training.loop import TrainLoop, default_log_dir
from genbench.training.optim import optimizer_step, set_learning_rate, warmup_cosine
from genbench.training.seeding import offset_generator

BATCH_SIZE = 256
LR = 2e-3
WARMUP_STEPS = 100
WEIGHT_DECAY = 0.1
BETAS = (0.9, 0.98)
EPS = 1e-6
EVAL_IMAGES = 2000  # test images for the per-epoch zero-shot check
MAX_LOGIT_SCALE = math.log(100)


def contrastive_loss(image_emb: torch.Tensor, caption_emb: torch.Tensor, caption_index: torch.Tensor,
                     logit_scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE over a batch's distinct captions. ``image_emb`` (B, d) and ``caption_emb``
    (U, d) are L2-normalised; image i carries caption ``caption_index[i]`` in 0..U−1."""
    logits = logit_scale * image_emb @ caption_emb.T  # (B, U)
    image_to_text = F.cross_entropy(logits, caption_index)
    target = F.one_hot(caption_index, caption_emb.shape[0]).T.float()  # (U, B)
    text_to_image = F.cross_entropy(logits.T, target / target.sum(dim=1, keepdim=True))
    return (image_to_text + text_to_image) / 2


@torch.no_grad()
def quick_zero_shot(model: torch.nn.Module, images: torch.Tensor, labels: dict[str, torch.Tensor],
                    prompt_tokens: torch.Tensor) -> dict[str, float]:
    """Zero-shot accuracy through the tensor path (``normalize_images``), for progress logging."""
    model.eval()
    image_emb = torch.cat([F.normalize(model.encode_image(normalize_images(images[i:i + 500])), dim=-1)
                           for i in range(0, len(images), 500)])
    prompt_emb = F.normalize(model.encode_text(prompt_tokens), dim=-1)
    model.train()
    return zero_shot_accuracy(image_emb, prompt_emb, labels, model.logit_scale.exp().item())


def final_evaluation(state: dict[str, torch.Tensor]) -> tuple[dict[str, float], dict[str, float]]:
    """Zero-shot accuracy and mean CLIP scores (matched pairs; captions rolled by one) of the
    fp16-rounded weights on the 10,000 test images, via ``ClipExtractor`` (PIL preprocessing)."""
    model, preprocess, tokenizer = build_shapes_clip(fp16_rounded(state))
    clip = ClipExtractor.from_model(model, preprocess, tokenizer, name=ARCHITECTURE)
    test = shapes32("test", 0, SPLIT_SIZES["test"])
    accuracy = shapes32_zero_shot(clip, test)
    mismatched_captions = test.captions[1:] + test.captions[:1]
    scores = {"matched": clip_score(test.images, test.captions, model=clip).mean().item(),
              "mismatched": clip_score(test.images, mismatched_captions, model=clip).mean().item()}
    return accuracy, scores


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    log_dir = default_log_dir(ARCHITECTURE)

    t0 = time.perf_counter()
    train = shapes32("train", 0, SPLIT_SIZES["train"])
    evaluation = shapes32("test", 0, EVAL_IMAGES)
    codes = prompt_index(train.labels)
    print(f"rendered {len(train)} train + {len(evaluation)} test images in {time.perf_counter() - t0:.1f} s",
          flush=True)

    torch.manual_seed(args.seed)
    model, _, tokenizer = build_shapes_clip()
    model.train()
    prompt_tokens = tokenizer(prompts())
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]  # biases, norm scales, logit_scale
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=LR, betas=BETAS, eps=EPS)
    steps_per_epoch = len(train) // BATCH_SIZE
    total_steps = args.epochs * steps_per_epoch
    config = {"architecture": ARCHITECTURE, "open_clip_config": json.loads(CONFIG_PATH.read_text()),
              "tokenizer": "genbench.nn.shapes_clip.ShapesTokenizer", "image_mean": list(IMAGE_MEAN),
              "image_std": list(IMAGE_STD),
              "training": {"epochs": args.epochs, "batch_size": BATCH_SIZE, "lr": LR, "warmup_steps": WARMUP_STEPS,
                           "weight_decay": WEIGHT_DECAY, "betas": list(BETAS), "eps": EPS}}
    accuracy_keys = [f"acc_{k}" for k in CATEGORICAL_LABELS]
    loop = TrainLoop(log_dir, {"model": model, "optimizer": optimizer}, {"seed": args.seed}, config, BATCH_SIZE,
                     log_every=steps_per_epoch, sample_every=steps_per_epoch,
                     plot=lambda rows: plot_curves(log_dir / "curve.png", rows, ["loss"], accuracy_keys,
                                                   title="shapes-clip training", log_left=True,
                                                   left_label="contrastive loss (train, epoch mean)",
                                                   right_label=f"zero-shot accuracy (test, {EVAL_IMAGES} images)",
                                                   right_ylim=(0, 1.01)))
    loop.resume()
    order: dict[int, torch.Tensor] = {}

    def step_fn(step: int) -> dict[str, float]:
        epoch, i = divmod(step, steps_per_epoch)
        if epoch not in order:
            order.clear()
            order[epoch] = torch.randperm(len(train), generator=offset_generator(args.seed, epoch))
        set_learning_rate(warmup_cosine(step, LR, WARMUP_STEPS, total_steps), optimizer)
        idx = order[epoch][i * BATCH_SIZE:(i + 1) * BATCH_SIZE]
        unique_codes, caption_index = torch.unique(codes[idx], return_inverse=True)
        image_emb = F.normalize(model.encode_image(normalize_images(train.images[idx])), dim=-1)
        caption_emb = F.normalize(model.encode_text(prompt_tokens[unique_codes]), dim=-1)
        loss = contrastive_loss(image_emb, caption_emb, caption_index, model.logit_scale.exp())
        optimizer_step(optimizer, loss)
        with torch.no_grad():
            model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
        return {"loss": loss.item()}

    def monitor_fn(step: int) -> dict[str, float]:
        if step < 0:
            return dict.fromkeys(["lr_end", "logit_scale", *accuracy_keys], math.nan)
        accuracy = quick_zero_shot(model, evaluation.images, evaluation.labels, prompt_tokens)
        return {"lr_end": warmup_cosine(step - 1, LR, WARMUP_STEPS, total_steps),
                "logit_scale": model.logit_scale.exp().item(), **{f"acc_{k}": v for k, v in accuracy.items()}}

    loop.run(total_steps, step_fn, monitor_fn)
    state = model.state_dict()
    accuracy, scores = final_evaluation(state)
    print(f"fp16 weights, 10,000 test images: zero-shot {accuracy}; CLIP score {scores}", flush=True)
    # config goes into the file's metadata, so run-dependent facts (wall time) stay in the manifest only
    entry = save_bundled_weights(
        ARCHITECTURE, state, config=config,
        command=f"python -m genbench.training.train_shapes_clip --epochs {args.epochs} --seed {args.seed}",
        fp16=True, zero_shot_accuracy=accuracy, clip_score=scores, seed=args.seed,
        training_wall_time_s=round(loop.train_seconds, 1), training_threads=args.threads)
    print(f"saved reference_models/{entry['file']} sha256 {entry['sha256']}", flush=True)


if __name__ == "__main__":
    main()
