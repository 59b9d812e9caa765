"""The genbench command line's options: one table of defaults and one spelling per concept.

Every command that has a concept spells it the same way and starts from the same default:

======================  =========================================================================
option                  meaning and default
======================  =========================================================================
``--seed S``            sampling seed; 0 (``run`` / ``eval`` / ``baseline``: the suite's, 0 in
                        every bundled preset)
``--batch-size B``      images per batch; 50 (``run`` / ``eval`` / ``baseline``: the suite's;
                        ``stats``: 500). Sample batches are rounded up to whole micro-batches
                        and never change a number; the batches of a reference read from
                        images (``fid``, ``stats``) may change the last bits of its sigma,
                        which is summed batch by batch
``-n, --num-samples N`` samples or images per model, cell or side; per command (the preset's,
                        500 per DDIM sweep cell, 1000 per guidance cell, the whole source)
``--out DIR``           the folder a command writes its files into (none: print only)
``-o, --output FILE``   the one file a command writes (``baseline``, ``stats``)
``--format F``          table | json | csv | md (``compare`` also html); table
``--device D``          cpu | cuda | cuda:N; CUDA when present
``--quiet``             no progress bars or log lines on stderr
======================  =========================================================================

Choices come from the library's own constants, so the command line cannot drift from it. Old
spellings (``fid --json``, ``stats --out-dir``) are accepted as hidden aliases.
"""

from __future__ import annotations

import argparse
from typing import Any

from genbench.reports.results import FORMATS

DEFAULTS: dict[str, Any] = {"seed": 0, "batch_size": 50, "format": "table"}


def add_seed(p: argparse.ArgumentParser | Any, from_suite: bool = False) -> None:
    p.add_argument("--seed", type=int, default=None if from_suite else DEFAULTS["seed"],
                   help="sampling seed (default: the suite's, 0 in every bundled preset)" if from_suite
                   else f"sampling seed (default {DEFAULTS['seed']})")


REFERENCE_BATCH_SIZE = 500  # images per feature batch of a --ref read from images (run, eval, sweep) and of stats


def add_batch_size(p: argparse.ArgumentParser | Any, from_suite: bool = False, default: int | None = None,
                   reference: bool = False) -> None:
    """``--batch-size``; ``reference``: the batches read a reference from images (module table)."""
    default = default or DEFAULTS["batch_size"]
    what = ("images per feature batch (the covariance is summed batch by batch: another value may change the "
            "last bits of sigma)" if reference else
            "images per batch, rounded up to whole micro-batches (never changes a number)")
    p.add_argument("--batch-size", type=int, default=None if from_suite else default,
                   help=f"{what}; default: " + ("the suite's" if from_suite else str(default)))


def add_num_samples(p: argparse.ArgumentParser | Any, help_text: str, default: int | None = None) -> None:
    p.add_argument("-n", "--num-samples", type=int, metavar="N", default=default, help=help_text)


def add_out(p: argparse.ArgumentParser | Any, help_text: str, old_spelling: str | None = None) -> None:
    p.add_argument("--out", default=None, metavar="DIR", help=help_text)
    if old_spelling is not None:
        p.add_argument(old_spelling, dest="out", default=None, help=argparse.SUPPRESS)


def add_format(p: argparse.ArgumentParser | Any, formats: tuple[str, ...] = FORMATS, help_text: str | None = None,
               json_flag: bool = False) -> None:
    p.add_argument("--format", default=DEFAULTS["format"], choices=list(formats), help=help_text)
    if json_flag:  # the old spelling of --format json
        p.add_argument("--json", dest="format", action="store_const", const="json", help=argparse.SUPPRESS)


def add_device(p: argparse.ArgumentParser | Any) -> None:
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: cuda when present)")


def add_quiet(p: argparse.ArgumentParser | Any, help_text: str = "no progress bars or log lines on stderr") -> None:
    p.add_argument("--quiet", action="store_true", help=help_text)


def add_weights_options(p: argparse.ArgumentParser | Any) -> None:
    from genbench.features.dinov2 import PREPROCESSING as DINOV2_RESIZES
    from genbench.features.inception import PREPROCESSING as INCEPTION_RESIZES

    p.add_argument("--weights", default=None, help="the extractor's weights file (inception-v3-fid: pytorch-fid's "
                                                   "layout; dinov2-vit-l14: the official state dict)")
    p.add_argument("--resize", default=None, choices=[*INCEPTION_RESIZES, *DINOV2_RESIZES],
                   help="inception-v3-fid: tf (torch-fidelity, the default), bilinear (pytorch-fid), clean "
                        "(clean-fid's default mode) or torchmetrics (torchmetrics >= 1.8's antialiased default); "
                        "dinov2-vit-l14: pil-bicubic (dgm-eval, the default) or torch-bicubic-antialias (EDM2)")
    p.add_argument("--any-weights", action="store_true",
                   help="inception-v3-fid: no warning for a --weights file other than the canonical one (its "
                        "sha256 is recorded either way)")


def add_reading_options(p: argparse.ArgumentParser | Any, cache: bool = True) -> None:
    p.add_argument("--workers", type=int, default=None,
                   help="processes decoding image files (default: CPU count − 1, at most 8, and 0 on machines "
                        "of at most 2 cores; 0: in this process)")
    p.add_argument("--resize-inputs", type=int, default=None, metavar="N",
                   help="center-crop and resize folder images to N×N (PIL bicubic, as clean-fid) instead of "
                        "refusing mixed sizes")
    if cache:
        p.add_argument("--no-cache", action="store_true",
                       help="recompute the features of image references instead of reading "
                            "$GENBENCH_HOME/references")


def add_reference_options(p: argparse.ArgumentParser, with_metrics: bool = True) -> None:
    g = p.add_argument_group("reference and metrics")
    g.add_argument("--ref", default=None, metavar="REF",
                   help="what samples are compared with: a statistics .npz (genbench, pytorch-fid, clean-fid, ADM), "
                        "clean-fid's published statistics by name (cleanfid:DATASET/MODE/SPLIT/RES, e.g. "
                        "cleanfid:cifar10/clean/train/32, fetched on first use), "
                        "a folder of images, an .npz of samples, a torchvision root or shapes32[:split] "
                        "(default: the bundled shapes32 train statistics)")
    g.add_argument("--extractor", default=None,
                   help="feature space (default: the one the reference records; shapes-net for shapes32, "
                        "inception-v3-fid for other images; required for foreign statistics)")
    if with_metrics:
        g.add_argument("--metrics", default=None, metavar="LIST",
                       help="comma-separated metric families or result keys: fid,kid,is,pr,dc,ssim,clip,modes,prompt,"
                            "vendi; asked for by name only: fid_inf,is_inf,authpct,ct,mifid,cmmd,fd_dinov2 "
                            "(default: every default one the reference, extractor and generator support)")
        g.add_argument("--heldout", default=None, metavar="REF",
                       help="held-out data for the C_T data-copying test (--metrics ct), in the reference's form "
                            "(default: shapes32:test when the reference is shapes32:train)")
        g.add_argument("--clip-model", default=None, metavar="NAME",
                       help="CLIP score model, e.g. clip:ViT-B-32:laion2b_s34b_b79k (default: shapes-clip for ldm, "
                            "clip:ViT-L-14-quickgelu:openai for text-to-image diffusers folders)")
    add_weights_options(g)
    add_reading_options(g)


def add_report_options(p: argparse.ArgumentParser, out_help: str) -> None:
    """The options of the commands that evaluate many models against one reference and write a
    report (``run``, ``sweep``): --out, --device, --format, --quiet and the reference options."""
    add_out(p, out_help)
    add_device(p)
    add_format(p)
    add_quiet(p)
    add_reference_options(p, with_metrics=False)


GENERATOR_OPTIONS = ("sampler", "steps", "eta", "spacing", "sigma_hat", "variance", "guidance", "micro_batch",
                     "negative_prompt", "dtype", "prompts")


def add_generator_options(p: argparse.ArgumentParser) -> None:
    from genbench.diffusion.dpm_solver import DPM_SPACINGS
    from genbench.diffusion.samplers import SAMPLERS, VARIANCES
    from genbench.diffusion.schedule import SPACINGS
    from genbench.generators.text_to_image import DTYPES

    g = p.add_argument_group("generator options (bundled generators; plug-in classes receive them as keywords)")
    g.add_argument("--sampler", default=None, choices=list(SAMPLERS),
                   help="diffusion sampler (ddpm/ddim bundled names, ldm, diffusers:PATH and Denoiser objects; "
                        "default: the model's, ddim for diffusers:PATH)")
    g.add_argument("--steps", type=int, default=None, help="sampling steps (ddim, dpmsolver++, ldm)")
    g.add_argument("--eta", type=float, default=None, help="DDIM η in [0, 1] (ddim, ldm)")
    g.add_argument("--spacing", default=None, choices=list(dict.fromkeys((*SPACINGS, *DPM_SPACINGS))),
                   help="timestep spacing: ddim uniform (= diffusers' leading) | trailing | quadratic | linspace; "
                        "dpmsolver++ linspace (default) | leading | trailing (diffusers' DPMSolverMultistepScheduler)")
    g.add_argument("--sigma-hat", action="store_true", help="DDIM Table 1's σ̂ row (ddim)")
    g.add_argument("--variance", default=None, choices=list(VARIANCES), help="DDPM σ² (ddpm)")
    g.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance scale (ldm; text-to-image diffusers folders, default 7.5)")
    g.add_argument("--prompts", default=None, metavar="FILE",
                   help="prompts of caption-conditioned generators (ldm, text-to-image diffusers folders): .txt one "
                        "per line, .jsonl / .csv with a caption, text or prompt column, or COCO captions_*.json "
                        "(sorted by annotation id); sample i gets prompt i mod len")
    g.add_argument("--negative-prompt", default=None, help="text-to-image diffusers folders: the unconditional "
                                                           "prompt of every sample (default empty)")
    g.add_argument("--dtype", default=None, choices=list(DTYPES),
                   help="text-to-image diffusers folders: network dtype (default fp32; latents stay float32)")
    add_device(g)
    g.add_argument("--micro-batch", type=int, default=None,
                   help="samples per network call, aligned to sample indices (bundled generators; default: the "
                        "preset's, 50); part of what a sample is: another value may change the last bits")


def add_eval_options(p: argparse.ArgumentParser) -> None:
    from genbench.harness.presets import PRESET_NAMES

    p.add_argument("--preset", default="default", choices=list(PRESET_NAMES),
                   help="sizes from a preset; --num-samples, --batch-size, --resamples override it")
    add_num_samples(p, "samples (default: the preset's)")
    add_seed(p, from_suite=True)
    add_batch_size(p, from_suite=True)
    p.add_argument("--resamples", type=int, default=None, help="half-sampling resamples for the 95%% intervals "
                                                               "(default: the preset's)")
    add_quiet(p)
    add_reference_options(p)
