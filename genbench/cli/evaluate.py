"""``genbench eval`` and ``genbench baseline``: one generator evaluated as a one-model suite (the
same runner, and so the same record, as ``genbench run``)."""

from __future__ import annotations

import argparse
import sys

from genbench.cli import options
from genbench.cli.common import (generator_options, log_for, metric_list, reading_options, reference_and_extractor,
                                 warn_skipped)
from genbench.harness import distributed

GENERATOR_HELP = ("a bundled name (vae, gan, ddpm, ddim, ldm), an .npz of uint8 samples, an image folder or .zip, "
                  "diffusers:PATH, module:callable(seed, start, n), or a genbench.generators plug-in name")


def add_parsers(sub) -> None:
    p = sub("eval", help="every metric for one generator (bundled, .npz, image folder, module:callable, plug-in)")
    p.add_argument("generator", help=GENERATOR_HELP)
    options.add_eval_options(p)
    options.add_generator_options(p)
    options.add_out(p, "folder for results.json, results.csv, report.md, the sample grid")
    options.add_format(p)
    p.set_defaults(func=run_eval)
    p = sub("baseline", help="record a generator's metrics as a regression baseline (JSON)")
    p.add_argument("generator", help=GENERATOR_HELP)
    options.add_eval_options(p)
    options.add_generator_options(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="baseline JSON file to write")
    p.set_defaults(func=run_baseline)


def one_model_suite(args: argparse.Namespace):
    """The one-model suite of the command line: the preset's sizes with --num-samples, --seed,
    --batch-size, --resamples, the reference options and the generator options."""
    import dataclasses

    from genbench.harness.presets import ModelSpec, get_preset

    preset = get_preset(args.preset)
    n = preset.n if args.num_samples is None else args.num_samples
    evaluation = {k: v for k, v in (("heldout", args.heldout), ("clip_model", clip_model(args))) if v is not None}
    return dataclasses.replace(
        preset, name=args.command, description=f"genbench {args.command} of one model", n=n,
        seed=preset.seed if args.seed is None else args.seed,
        batch_size=min(n, preset.batch_size if args.batch_size is None else args.batch_size),
        resamples=preset.resamples if args.resamples is None else args.resamples,
        reference=args.ref or "shapes32:train", extractor=args.extractor, metrics=metric_list(args.metrics),
        models=(ModelSpec("", args.generator, generator_options(args)),),  # unlabelled: keeps its own name
        evaluation=evaluation)


def clip_model(args: argparse.Namespace) -> str | None:
    """--clip-model, else OpenAI's ViT-L/14 (``DEFAULT_CLIP_MODEL``) for a text-to-image diffusers folder,
    else None (EvalConfig's default: shapes-clip, the bundled ldm's)."""
    if args.clip_model:
        return args.clip_model
    from genbench.generators.text_to_image import DEFAULT_CLIP_MODEL, is_text_to_image_folder

    return DEFAULT_CLIP_MODEL if is_text_to_image_folder(args.generator.removeprefix("diffusers:")) else None


def evaluate_one(args: argparse.Namespace, out: str | None) -> dict:
    """Run the one-model suite (writing into ``out``, None: nowhere); warn on rank 0 about metrics
    skipped because of the reference (or asked for by name)."""
    from genbench.harness.suite import run_suite

    suite = one_model_suite(args)
    ref, ext = reference_and_extractor(args, suite.reference, suite.extractor)
    results = run_suite(suite, out, device=args.device, progress=not args.quiet, reference=ref, extractor=ext,
                        log=log_for(args), reference_options=reading_options(args))
    if distributed.is_main():
        for record in results["models"].values():
            warn_skipped(record["skipped"], explicit=suite.metrics is not None)
    return results


def run_eval(args: argparse.Namespace) -> int:
    from genbench.reports.results import render

    results = evaluate_one(args, args.out)
    if distributed.is_main():  # under torchrun every rank evaluates (the collectives); rank 0 prints
        print(render(results, args.format))
        if args.out:
            print(f"report: {args.out}/report.md", file=sys.stderr)
    return 0


def run_baseline(args: argparse.Namespace) -> int:
    from pathlib import Path

    from genbench.harness.outputs import RunFolder
    from genbench.testing import baseline_text

    results = evaluate_one(args, None)
    path = Path(args.output)
    if RunFolder(path.parent).write_text(path.name, baseline_text(results)) is not None:  # rank 0
        print(path)
    return 0
