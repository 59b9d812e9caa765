"""The ``genbench`` command line."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
from pathlib import Path

from genbench import __version__
from genbench.errors import GenbenchError
from genbench.harness import distributed


def _cmd_selfcheck(args: argparse.Namespace) -> int:
    from genbench.selfcheck import format_checks, run_checks

    checks = run_checks(seed=args.seed)
    print(format_checks(checks))
    failed = [c.name for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def _cmd_extractors(args: argparse.Namespace) -> int:
    from genbench.registry import available_extractors

    print("\n".join(available_extractors()))
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    from genbench.bundled_models import bundled_models, format_reproduction

    if args.name is not None:
        print(format_reproduction(args.name))
        return 0
    table = bundled_models(verify=args.verify)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    print(f"{table['size_mb'].sum():.1f} MB in {len(table)} files under reference_models/"
          + ("" if args.verify else "; --verify checks every sha256"))
    bad = table[~table["status"].isin(["ok", "not checked"])]
    if len(bad):
        print(f"genbench: error: {', '.join(f'{n} ({s})' for n, s in zip(bad['name'], bad['status']))}",
              file=sys.stderr)
    return 1 if len(bad) else 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from genbench.data.sources import image_source
    from genbench.reference import compute_reference, resolve_extractor, save_reference, save_reference_file

    source = image_source(args.source, args.split, resize_inputs=args.resize_inputs)
    n = source.n if args.num_samples is None else args.num_samples
    if not 1 <= n <= source.n:
        raise ValueError(f"{source.name} has {source.n} images; --num-samples must be in [1, {source.n}], got {n}")
    if args.output is not None:  # one file, one feature space
        if args.out_dir is not None or len(args.extractor or []) > 1:
            raise GenbenchError("-o writes one file for one feature space: give at most one --extractor, no --out-dir")
        names = args.extractor or [resolve_extractor([args.source], None)]  # shapes-net for shapes32, else Inception
    else:
        if args.out_dir is None and source.name != "shapes32":
            raise GenbenchError("give -o FILE (or --out-dir) for sources other than shapes32 "
                                "(the bundled folder holds shapes32)")
        names = args.extractor or ["shapes-net", "shapes-clip"]
    for name in names:
        ext = _extractor(name, args)
        ref = compute_reference(source, n, ext, source.name, args.split, sample_n=min(args.sample_n, n),
                                batch_size=args.batch_size, progress=not args.quiet, workers=args.workers)
        ref.provenance["input"] = source.provenance()
        paths = ([save_reference_file(ref, args.output)] if args.output is not None
                 else save_reference(ref, None if args.out_dir is None else Path(args.out_dir)))
        for path in paths:
            print(path)
    return 0


def _extractor(name: str, args: argparse.Namespace, specs: list[str] = ()):
    """The extractor ``name`` with the weights options given on the command line (FID Inception, CLIP),
    and for the Inception the resize that references ``specs`` imply (clean-fid's statistics) unless given."""
    from genbench.reference import implied_extractor_options
    from genbench.registry import get_extractor

    options = {k: v for k in ("weights", "resize", "device") if (v := getattr(args, k, None)) is not None}
    if name == "inception-v3-fid":
        options = {**implied_extractor_options(list(specs)), **options}
    if getattr(args, "any_weights", False):
        options["expected_sha256"] = None
    try:
        return get_extractor(name, **options)
    except TypeError:  # an option the extractor does not have (else a bug: let it show)
        flags = {"weights": "--weights", "resize": "--resize", "expected_sha256": "--any-weights"}
        given = [flag for key, flag in flags.items() if key in options]
        if not given:
            raise
        raise GenbenchError(f"extractor {name!r} does not take {', '.join(given)}") from None


def _cmd_fid(args: argparse.Namespace) -> int:
    import json

    from genbench.metrics.frechet import frechet_distance
    from genbench.reference import resolve_extractor

    ext = _extractor(resolve_extractor([args.a, args.b], args.extractor), args, [args.a, args.b])
    a, b = (_load_ref(spec, ext, args, args.batch_size) for spec in (args.a, args.b))
    value = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
    if args.json:
        print(json.dumps({"fid": value, "a": a.provenance, "b": b.provenance, "extractor": ext.provenance()},
                         indent=2, default=str))
    else:
        print(f"{value:.6f}" if args.quiet else f"FID:  {value}")
    return 0


def _load_ref(spec: str, ext, args: argparse.Namespace, batch_size: int = 500):
    """The reference ``spec`` in ``ext``'s space, with the command line's reading options (under
    torchrun, rank 0 computes an image reference first and the others read its cache)."""
    from genbench.harness.runner import load_reference_once

    return load_reference_once(spec, ext, declared=args.extractor is not None, batch_size=batch_size,
                               progress=not args.quiet and distributed.is_main(), workers=args.workers,
                               resize_inputs=args.resize_inputs, cache=not args.no_cache)


def _cmd_disturb(args: argparse.Namespace) -> int:
    from genbench.disturbance_study import disturbance_study, study_table
    from genbench.io import atomic_write_text
    from genbench.reports.tables import markdown_table

    df = disturbance_study(n=args.num_samples, extractor=args.extractor, seed=args.seed, progress=not args.quiet)
    fid, is_ = study_table(df, "fid"), study_table(df, "is_mean")
    text = (f"FID against shapes32 train statistics ({args.extractor}), test split, n = {args.num_samples} per cell; "
            f"columns are disturbance levels (0 = clean)\n\n{markdown_table(fid, '.2f')}\n\n"
            f"Inception Score ({args.extractor} classifier, 10 splits; nan without one)\n\n{markdown_table(is_, '.3f')}\n")
    print(text)
    if args.out:
        out = Path(args.out)
        atomic_write_text(out / "disturbance.md", text)
        atomic_write_text(out / "disturbance.csv", df.to_csv(index=False))
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from genbench.harness.throughput import TimedGenerator
    from genbench.reports.grids import save_grid, save_grid_prompts
    from genbench.reports.results import render, write_results

    gen = TimedGenerator(_generator(args), keep_first=64)
    # every rank evaluates its shard, then all metrics; sampling is timed inside the evaluation, apart from metric work
    record = _evaluate(gen, args, progress=not args.quiet)
    if not distributed.is_main():  # under torchrun, rank 0 alone prints and writes (its own shard's timing)
        return 0
    if not getattr(gen.inner, "stored", False):  # every sampled generator is timed; stored samples have no speed
        record["throughput"] = gen.throughput()
    provenance = record.pop("provenance")
    results = {"models": {gen.meta.name: record}, "provenance": provenance}
    print(render(results, args.format))
    if args.out:
        paths = write_results(results, args.out)
        if gen.first is not None:
            paths.append(save_grid(gen.first, Path(args.out) / "samples.png"))
            if hasattr(gen, "captions_for"):  # caption-conditioned: the grid's prompts, row by row
                paths.append(save_grid_prompts(gen.captions_for(0, len(gen.first)), paths[-1]))
        if hasattr(gen, "captions_for"):  # the prompt of every sample, one JSON line each
            paths.append(_write_prompts(gen, provenance["config"]["n"], Path(args.out) / "prompts.jsonl"))
        for path in paths:
            print(path, file=sys.stderr)
    return 0


def _write_prompts(gen, n: int, path: Path) -> Path:
    """``{"index": i, "prompt": caption i}`` for the n samples of a caption-conditioned generator."""
    import json

    from genbench.io import atomic_write_text

    atomic_write_text(path, "".join(json.dumps({"index": i, "prompt": p}, ensure_ascii=False) + "\n"
                                    for i, p in enumerate(gen.captions_for(0, n))))
    return path


GENERATOR_OPTIONS = ("sampler", "steps", "eta", "spacing", "sigma_hat", "variance", "guidance", "device", "micro_batch",
                     "negative_prompt", "dtype")


def _generator(args: argparse.Namespace):
    """The generator named on the command line, with the generator options that were given."""
    from genbench.generators.bundled import BUNDLED
    from genbench.generators.sources import load_generator
    from genbench.harness.presets import get_preset

    # `is not`, not `in (None, False)`: 0 == False, so `--guidance 0` / `--eta 0` would be dropped;
    # store_true flags (False when absent) are passed only when given
    options = {k: v for k in GENERATOR_OPTIONS if (v := getattr(args, k, None)) is not None and v is not False}
    if "micro_batch" not in options and getattr(args, "preset", None) and args.generator in BUNDLED:
        options["micro_batch"] = get_preset(args.preset).micro_batch  # the preset's, as `genbench run` uses
    if getattr(args, "prompts", None) is not None:
        from genbench.data.prompts import load_prompts, prompts_provenance

        prompts = load_prompts(args.prompts)
        if args.generator == "ldm":
            options["captions"] = prompts
        elif args.generator in BUNDLED:
            raise GenbenchError(f"--prompts applies to caption-conditioned generators (ldm, a text-to-image "
                                f"diffusers folder), not {args.generator}")
        else:
            options |= {"prompts": prompts, "prompts_source": prompts_provenance(args.prompts, prompts)}
    return load_generator(args.generator, **options)


def _eval_config(args: argparse.Namespace):
    from genbench.harness.presets import get_preset
    from genbench.harness.runner import EvalConfig

    preset = get_preset(args.preset)
    n = preset.n if args.num_samples is None else args.num_samples
    return EvalConfig(n=n, seed=preset.seed if args.seed is None else args.seed,
                      batch_size=min(n, preset.batch_size if args.batch_size is None else args.batch_size),
                      extractor=args.extractor, reference=args.ref or "shapes32:train",
                      metrics=_metric_list(args.metrics), heldout=getattr(args, "heldout", None),
                      resamples=preset.resamples if args.resamples is None else args.resamples,
                      kid_subset_size=min(1000, n), **_clip_model(args))


def _clip_model(args: argparse.Namespace) -> dict[str, str]:
    """``clip_model`` for EvalConfig: --clip-model, else OpenAI's ViT-L/14 for a text-to-image diffusers
    folder (``DEFAULT_CLIP_MODEL``), else EvalConfig's default (shapes-clip, the bundled ldm's)."""
    if getattr(args, "clip_model", None):
        return {"clip_model": args.clip_model}
    spec = getattr(args, "generator", None)
    if spec:
        from genbench.generators.text_to_image import DEFAULT_CLIP_MODEL, is_text_to_image_folder

        if is_text_to_image_folder(spec.removeprefix("diffusers:")):
            return {"clip_model": DEFAULT_CLIP_MODEL}
    return {}


def _metric_list(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    if not names:
        raise GenbenchError("--metrics takes comma-separated names, e.g. --metrics fid,kid")
    return names


def _evaluate(gen, args: argparse.Namespace, progress: bool) -> dict:
    """``evaluate`` with the command line's reference, extractor (weights options) and metrics;
    skipped metrics are reported on stderr (rank 0)."""
    from genbench.harness.runner import evaluate

    cfg = _eval_config(args)
    ref, ext = _reference_and_extractor(args)
    record = evaluate(gen, ref, config=cfg, extractor=ext, progress=progress,
                      reference_options={"workers": args.workers, "resize_inputs": args.resize_inputs,
                                         "cache": not args.no_cache})
    if distributed.is_main():
        _warn_skipped(record["skipped"], explicit=cfg.metrics is not None)
    return record


def _reference_and_extractor(args: argparse.Namespace, spec: str = "shapes32:train", extractor: str | None = None):
    """(the --ref reference, else ``spec``; the --extractor, else ``extractor``, else the reference's,
    with the weights options)."""
    from genbench.reference import resolve_extractor

    spec = args.ref or spec
    ext = _extractor(resolve_extractor([spec], args.extractor or extractor), args, [spec])
    return _load_ref(spec, ext, args), ext


def _warn_skipped(skipped: dict[str, str], explicit: bool, label: str = "") -> None:
    """One stderr line per metric family that did not run because of the reference (or that was asked for)."""
    for family, reason in skipped.items():
        if explicit or "reference" in reason:
            print(f"genbench: warning: {label}{family} skipped: {reason}", file=sys.stderr)


def _cmd_run(args: argparse.Namespace) -> int:
    import datetime as dt

    from genbench.harness.presets import get_preset
    from genbench.harness.suite import run_suite
    from genbench.reports.results import render
    from genbench.reports.trilemma import trilemma_markdown, trilemma_text

    from genbench.harness.presets import load_suite

    preset = load_suite(args.config) if args.config else get_preset(args.preset)
    if args.models:
        preset = preset.with_models(args.models.split(","))
    if args.num_samples is not None or args.seed is not None:
        preset = dataclasses.replace(preset, n=preset.n if args.num_samples is None else args.num_samples,
                                     seed=preset.seed if args.seed is None else args.seed)
    name = args.name or f"{preset.name}-{dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    out = Path(args.out) if args.out else Path("reports") / name
    ref, ext = _reference_and_extractor(args, preset.reference, preset.extractor)
    results = run_suite(preset, out, device=args.device, progress=not args.quiet, reference=ref, extractor=ext,
                        log=(lambda *a, **k: None) if args.quiet else print)
    if not distributed.is_main():
        return 0
    for label, reason in results["skipped"].items():
        print(f"genbench: warning: {label} skipped: {reason}", file=sys.stderr)
    for label, record in results["models"].items():
        _warn_skipped(record.get("skipped", {}), explicit=False, label=f"{label}: ")
    if args.format == "table":
        print(trilemma_text(results))
    elif args.format == "md":
        print(trilemma_markdown(results))
    else:
        print(render(results, args.format))
    print(f"report: {out / 'report.md'}", file=sys.stderr)
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    if args.sampler == "guidance":
        return _cmd_sweep_guidance(args)
    from genbench.harness.sweep import SweepConfig, run_sweep, sweep_markdown

    cfg = SweepConfig(steps=tuple(_int_list(args.steps or "10,20,50,100,1000", "--steps")),
                      etas=tuple(_float_list(args.eta or "0,0.2,0.5,1", "--eta")),
                      sigma_hat=not args.no_sigma_hat, spacing=args.spacing, n=args.num_samples or 500,
                      seed=args.seed, batch_size=args.batch_size, resamples=args.resamples,
                      samplers=tuple(v.strip() for v in args.samplers.split(",") if v.strip()), model=args.model,
                      **_sweep_reference(args))
    denoiser = _sweep_denoiser(args)
    return _run_sweep_and_print(args, cfg, functools.partial(run_sweep, denoiser=denoiser), sweep_markdown,
                                "![FID against time per image](sweep.png)")


def _sweep_denoiser(args: argparse.Namespace):
    """The ``--model`` Denoiser (None: the bundled U-Net); with ``--beta-schedule`` the object is a
    network ``net(x, t)`` wrapped with that schedule and ``--prediction-type``."""
    if args.model is None:
        if args.beta_schedule is not None:
            raise GenbenchError("--beta-schedule describes a --model network; the bundled U-Net has its own schedule")
        return None
    from genbench.generators.diffusion_model import load_denoiser

    if args.beta_schedule is None:
        return load_denoiser(args.model)
    from genbench.diffusion import Denoiser
    from genbench.generators.sources import import_object

    if args.model.startswith("diffusers:") or ":" not in args.model:
        raise GenbenchError("--beta-schedule takes --model module:net (a network net(x, t)); a diffusers folder "
                            "carries its own scheduler config")
    shape = _int_list(args.sample_shape, "--sample-shape")
    if len(shape) != 3:
        raise GenbenchError(f"--sample-shape takes C,H,W, got {args.sample_shape!r}")
    return Denoiser.from_callable(import_object(args.model), beta_schedule=args.beta_schedule,
                                  prediction=args.prediction_type, sample_shape=tuple(shape))


def _cmd_sweep_guidance(args: argparse.Namespace) -> int:
    from genbench.harness.guidance_sweep import GuidanceSweepConfig, guidance_markdown, run_guidance_sweep

    if args.scales is None:
        raise ValueError("sweep guidance needs --scales, e.g. --scales 1,2,3,5,7.5")
    steps, etas = _int_list(args.steps or "50", "--steps"), _float_list(args.eta or "0", "--eta")
    if not steps or len(etas) != 1:
        raise ValueError("sweep guidance takes one or more --steps values and one --eta value")
    samplers = tuple(v.strip() for v in args.samplers.split(",") if v.strip())
    if args.beta_schedule is not None:
        raise GenbenchError("--beta-schedule is for sweep ddim; a text-to-image pipeline carries its scheduler config")
    cfg = GuidanceSweepConfig(scales=tuple(_float_list(args.scales, "--scales")),
                              steps=steps[0] if len(steps) == 1 else tuple(steps), eta=etas[0], samplers=samplers,
                              n=args.num_samples or 1000, seed=args.seed, batch_size=args.batch_size,
                              resamples=args.resamples, pairs=args.pairs, model=args.model, prompts=args.prompts,
                              negative_prompt=args.negative_prompt, dtype=args.dtype or "fp32",
                              micro_batch=args.micro_batch, clip_model=args.clip_model, **_sweep_reference(args))
    return _run_sweep_and_print(args, cfg, run_guidance_sweep, guidance_markdown,
                                ("![FID and prompt accuracy against the guidance scale](guidance.png)",
                                 "![FID against CLIP score, one curve per sampler and steps](guidance_tradeoff.png)"))


def _sweep_reference(args: argparse.Namespace) -> dict[str, str]:
    from genbench.reference import resolve_extractor

    spec = args.ref or "shapes32:train"
    return {"reference": spec, "extractor": resolve_extractor([spec], args.extractor)}


def _run_sweep_and_print(args: argparse.Namespace, cfg, run, markdown, image_line: str) -> int:
    """Run a sweep (``run(cfg, out_dir, device=…, progress=…, log=…)``) and, on rank 0, print its rows
    as json / csv or its ``markdown(df, cfg)`` report (without ``image_line`` for the terminal)."""
    out = Path(args.out) if args.out else None
    ref, ext = _reference_and_extractor(args)
    df = run(cfg, out, device=args.device, progress=not args.quiet, log=(lambda *a, **k: None) if args.quiet else print,
             reference=ref, extractor=ext)
    if not distributed.is_main():
        return 0
    if args.format == "json":
        print(df.to_json(orient="records", indent=2))
    elif args.format == "csv":
        print(df.to_csv(index=False), end="")
    else:
        text = markdown(df, cfg)
        if args.format != "md":  # the image lines only mean something beside the files
            for line in (image_line,) if isinstance(image_line, str) else image_line:
                text = text.replace(line, "")
        print(text.strip() if args.format != "md" else text)
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from genbench.reports.leaderboard import (board_warnings, leaderboard, load_models, rank_rule, render_board,
                                              run_figures)

    models, origins = load_models(args.results)
    board = leaderboard(models, args.metric)  # refuses an unrankable metric before any warning
    warnings = board_warnings(models, args.metric)
    for warning in warnings:
        print(f"genbench: warning: {warning}", file=sys.stderr)
    if args.format == "html":
        from genbench.reports.html import leaderboard_html

        grids, plots = run_figures(models, origins)
        print(leaderboard_html(board, f"genbench leaderboard by {args.metric}",
                               [rank_rule(args.metric), *(f"Warning: {w}." for w in warnings),
                                "Results: " + ", ".join(args.results)], grids=grids, plots=plots))
    else:
        print(render_board(models, args.metric, args.format))
    return 0


def _int_list(text: str, flag: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{flag} takes comma-separated integers, got {text!r}") from None


def _float_list(text: str, flag: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{flag} takes comma-separated numbers, got {text!r}") from None


def _cmd_baseline(args: argparse.Namespace) -> int:
    from genbench.io import atomic_write_text
    from genbench.testing import baseline_record

    record = _evaluate(_generator(args), args, progress=not args.quiet)
    if distributed.is_main():  # under torchrun every rank evaluates (the collectives); rank 0 writes
        atomic_write_text(args.output, baseline_record(record))
        print(args.output)
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from genbench.testing import check_against_baseline, recorded_micro_batch

    tolerances = {}
    for item in args.tolerance:
        metric, sep, value = item.partition("=")
        try:
            tolerances[metric] = float(value)
        except ValueError:
            raise ValueError(f"--tolerance takes METRIC=VALUE with a number, got {item!r}") from None
    if args.micro_batch is None:  # sample the computation the baseline sampled
        args.micro_batch = recorded_micro_batch(args.baseline)
    table, passed = check_against_baseline(_generator(args), args.baseline, tolerances,
                                           progress=not args.quiet and distributed.is_main())
    if not distributed.is_main():
        return 0
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    print("PASS: no metric got worse beyond its interval or tolerance" if passed else "FAIL: sample quality regressed")
    return 0 if passed else 1


def _add_generator_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("generator options (bundled generators; plug-in classes receive them as keywords)")
    g.add_argument("--sampler", default=None, choices=["ddpm", "ddim", "dpmsolver++"],
                   help="diffusion sampler (ddpm/ddim bundled names, ldm, diffusers:PATH and Denoiser objects; "
                        "default: the model's, ddim for diffusers:PATH)")
    g.add_argument("--steps", type=int, default=None, help="sampling steps (ddim, dpmsolver++, ldm)")
    g.add_argument("--eta", type=float, default=None, help="DDIM η in [0, 1] (ddim, ldm)")
    g.add_argument("--spacing", default=None, choices=["uniform", "leading", "trailing", "quadratic", "linspace"],
                   help="timestep spacing: ddim uniform (= diffusers' leading) | trailing | quadratic | linspace; "
                        "dpmsolver++ linspace (default) | leading | trailing (diffusers' DPMSolverMultistepScheduler)")
    g.add_argument("--sigma-hat", action="store_true", help="DDIM Table 1's σ̂ row (ddim)")
    g.add_argument("--variance", default=None, choices=["beta", "beta_tilde"], help="DDPM σ² (ddpm)")
    g.add_argument("--guidance", type=float, default=None,
                   help="classifier-free guidance scale (ldm; text-to-image diffusers folders, default 7.5)")
    g.add_argument("--prompts", default=None, metavar="FILE",
                   help="prompts of caption-conditioned generators (ldm, text-to-image diffusers folders): .txt one "
                        "per line, .jsonl / .csv with a caption, text or prompt column, or COCO captions_*.json "
                        "(sorted by annotation id); sample i gets prompt i mod len")
    g.add_argument("--negative-prompt", default=None, help="text-to-image diffusers folders: the unconditional "
                                                           "prompt of every sample (default empty)")
    g.add_argument("--dtype", default=None, choices=["fp32", "fp16", "bf16"],
                   help="text-to-image diffusers folders: network dtype (default fp32; latents stay float32)")
    g.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: cuda when present)")
    g.add_argument("--micro-batch", type=int, default=None,
                   help="samples per network call, aligned to sample indices (bundled generators; default 50); "
                        "part of what a sample is: another value may change the last bits of the samples")


def _add_weights_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--weights", default=None, help="the extractor's weights file (inception-v3-fid: pytorch-fid's "
                                                   "layout; dinov2-vit-l14: the official state dict)")
    p.add_argument("--resize", default=None, choices=["tf", "bilinear", "clean", "torchmetrics", "pil-bicubic",
                                                      "torch-bicubic-antialias"],
                   help="inception-v3-fid: tf (torch-fidelity, the default), bilinear (pytorch-fid), clean "
                        "(clean-fid's default mode) or torchmetrics (torchmetrics >= 1.8's antialiased default); "
                        "dinov2-vit-l14: pil-bicubic (dgm-eval, the default) or torch-bicubic-antialias (EDM2)")
    p.add_argument("--any-weights", action="store_true",
                   help="inception-v3-fid: no warning for a --weights file other than the canonical one (its "
                        "sha256 is recorded either way)")


def _add_reading_options(p: argparse.ArgumentParser, cache: bool = True) -> None:
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


def _add_reference_options(p: argparse.ArgumentParser, with_metrics: bool = True) -> None:
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
    _add_weights_options(g)
    _add_reading_options(g)


def _add_eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", default="default", help="sizes from a preset (smoke | default | large | paper); "
                                                       "--num-samples, --batch-size, --resamples override it")
    p.add_argument("-n", "--num-samples", type=int, metavar="N", default=None, help="samples (default: the preset's)")
    p.add_argument("--seed", type=int, default=None, help="sampling seed (default 0)")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--resamples", type=int, default=None, help="half-sampling resamples for the 95%% intervals")
    p.add_argument("--quiet", action="store_true")
    _add_reference_options(p)


def build_parser() -> argparse.ArgumentParser:
    # allow_abbrev=False: only whole option names (and the short forms listed), so that an option
    # never silently means another and genbench's options stay apart from torchrun's
    parser = argparse.ArgumentParser(prog="genbench", description="Evaluate and benchmark image generative models.",
                                     allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"genbench {__version__}")
    offline_help = ("no network access: weights and published statistics that are not on disk are not fetched, "
                    "and their absence fails naming the file and where to put it (also GENBENCH_OFFLINE=1)")
    parser.add_argument("--offline", action="store_true", help=offline_help)
    common = argparse.ArgumentParser(add_help=False)  # --offline is taken after the command name too
    common.add_argument("--offline", action="store_true", default=argparse.SUPPRESS, help=offline_help)
    sub = parser.add_subparsers(dest="command", required=True)
    add_command = functools.partial(sub.add_parser, allow_abbrev=False, parents=[common])
    p = add_command("run", help="evaluate the bundled generators and write the trilemma report (the main job)")
    p.add_argument("--preset", default="default",
                   help="smoke | default | large | paper (docs/guide.md lists their sizes)")
    p.add_argument("--config", default=None, metavar="SUITE.toml",
                   help="a suite of your own models (TOML: n, seed, reference, extractor, metrics, [[models]] with "
                        "label, generator, options, nfe); replaces --preset; started again with the same --out, "
                        "it resumes")
    p.add_argument("--models", default=None, help="comma-separated subset of the preset's models, e.g. vae,gan")
    p.add_argument("-n", "--num-samples", type=int, metavar="N", default=None,
                   help="samples per model (default: the preset's)")
    p.add_argument("--seed", type=int, default=None, help="sampling seed (default: the preset's, 0)")
    p.add_argument("--name", default=None, help="run name: the report goes to reports/<name>/ (default: preset-time)")
    p.add_argument("--out", default=None, help="report folder (overrides --name)")
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: cuda when present)")
    p.add_argument("--format", default="table", choices=["table", "json", "csv", "md"])
    p.add_argument("--quiet", action="store_true", help="no progress bars or log lines on stderr")
    _add_reference_options(p, with_metrics=False)
    p.set_defaults(func=_cmd_run)
    p = add_command("sweep", help="DDIM steps against quality (DDIM Table 1), or the LDM guidance scale "
                                  "against quality and prompt following")
    p.add_argument("sampler", choices=["ddim", "guidance"],
                   help="ddim: S × η grid over the DDPM denoiser; guidance: classifier-free guidance scales of ldm")
    p.add_argument("--steps", default=None, help="ddim: comma-separated numbers of steps S (default "
                                                 "10,20,50,100,1000); guidance: comma-separated sampler steps "
                                                 "(default 50)")
    p.add_argument("--eta", default=None, help="ddim: comma-separated η values in [0, 1] (default 0,0.2,0.5,1); "
                                               "guidance: one η (default 0)")
    p.add_argument("--no-sigma-hat", action="store_true", help="ddim: leave out the σ̂ (larger-variance DDPM) row")
    p.add_argument("--spacing", default="uniform", choices=["uniform", "trailing", "quadratic", "linspace"],
                   help="ddim: timestep spacing of the DDIM rows")
    p.add_argument("--sampler", dest="samplers", default="ddim", metavar="LIST",
                   help="ddim: comma-separated samplers, rows for each: ddim (the η rows and σ̂), dpmsolver++ "
                        "(DPM-Solver++(2M)); guidance: comma-separated samplers (ddim, dpmsolver++, ddpm), "
                        "a curve each")
    p.add_argument("--model", default=None, metavar="SPEC",
                   help="ddim: the denoiser swept: diffusers:PATH (a diffusers UNet2DModel folder with its scheduler "
                        "config; pip install genbench[diffusers]) or module:object (a Denoiser, a callable returning "
                        "one, or with --beta-schedule a network net(x, t)); default: the bundled DDPM U-Net; "
                        "guidance: diffusers:PATH of a Stable Diffusion-layout pipeline (default: the bundled ldm)")
    p.add_argument("--prompts", default=None, metavar="FILE",
                   help="guidance: prompts (.txt, .jsonl, .csv, COCO captions_*.json); required with --model; "
                        "sample i gets prompt i mod len")
    p.add_argument("--negative-prompt", default=None, help="guidance with --model: the unconditional prompt")
    p.add_argument("--dtype", default=None, choices=["fp32", "fp16", "bf16"],
                   help="guidance with --model: network dtype (default fp32)")
    p.add_argument("--micro-batch", type=int, default=None,
                   help="guidance: samples per network call (default: the model's: 50 for ldm, 8 for pipelines)")
    p.add_argument("--clip-model", default=None, metavar="NAME",
                   help="guidance: CLIP score model (default: shapes-clip for ldm, clip:ViT-L-14-quickgelu:openai "
                        "with --model)")
    p.add_argument("--beta-schedule", default=None, choices=["linear", "scaled_linear", "squaredcos_cap_v2"],
                   help="ddim with --model module:net: the network's β schedule (T = 1000, diffusers' defaults)")
    p.add_argument("--prediction-type", default="epsilon", choices=["epsilon", "v_prediction", "sample"],
                   help="ddim with --model module:net and --beta-schedule: what the network predicts")
    p.add_argument("--sample-shape", default="3,32,32", metavar="C,H,W",
                   help="ddim with --model module:net and --beta-schedule: the shape of one sample (default 3,32,32)")
    p.add_argument("--scales", default=None, help="guidance: comma-separated scales s >= 0, e.g. 1,2,3,5,7.5")
    p.add_argument("--pairs", type=int, default=100,
                   help="guidance: captions drawn twice (seeds s, s + 1) for the same-prompt SSIM")
    p.add_argument("-n", "--num-samples", type=int, metavar="N", default=None,
                   help="samples per cell (default: ddim 500; guidance 1000 held-out captions)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=125)
    p.add_argument("--resamples", type=int, default=20, help="half-sampling resamples for the FID intervals")
    p.add_argument("--out", default=None, help="folder for sweep.* (ddim) or guidance.* (guidance): json, csv, md, png")
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: cuda when present)")
    p.add_argument("--format", default="table", choices=["table", "json", "csv", "md"])
    p.add_argument("--quiet", action="store_true")
    _add_reference_options(p, with_metrics=False)
    p.set_defaults(func=_cmd_sweep)
    p = add_command("fid", help="the FID between two sides: folders, .npz samples, statistics files "
                                "(genbench, pytorch-fid, clean-fid, ADM), clean-fid's published statistics "
                                "(cleanfid:DATASET/MODE/SPLIT/RES), a torchvision root or shapes32[:split]")
    p.add_argument("a", help="first side")
    p.add_argument("b", help="second side")
    p.add_argument("--extractor", default=None,
                   help="feature space (default: the one a genbench statistics side records; shapes-net for "
                        "shapes32; else inception-v3-fid, as pytorch-fid; required for foreign statistics)")
    _add_weights_options(p)
    _add_reading_options(p)
    p.add_argument("--batch-size", type=int, default=50, help="images per batch (rounded up to micro-batches)")
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: cuda when present)")
    p.add_argument("--json", action="store_true", help="print the record: value, both sides' provenance, extractor")
    p.add_argument("--quiet", action="store_true", help="no progress bars; print the number alone")
    p.set_defaults(func=_cmd_fid)
    p = add_command("compare", help="a leaderboard from results.json files; a model's rank counts the models "
                                    "better than it with confidence (95%% intervals apart)")
    p.add_argument("results", nargs="+", help="results.json files (from run, eval or baseline)")
    p.add_argument("--metric", default="fid", help="rank by this metric (default fid)")
    p.add_argument("--format", default="table", choices=["table", "json", "csv", "md", "html"],
                   help="html: one self-contained page with the trilemma plot, sample thumbnails and sortable "
                        "columns (redirect it to a file)")
    p.set_defaults(func=_cmd_compare)
    p = add_command("selfcheck", help="compute every metric on closed-form cases and verify the answers")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_cmd_selfcheck)
    p = add_command("stats", help="compute reference statistics (FeatureStats, feature sample, provenance)")
    p.add_argument("source", help="shapes32, a folder of images (flat or class subfolders), or a torchvision "
                                  "dataset root (CIFAR-10/100, MNIST; not downloaded)")
    p.add_argument("--split", default="train", choices=["train", "test"])
    p.add_argument("-n", "--num-samples", type=int, metavar="N", default=None,
                   help="images (default: the split's nominal size)")
    p.add_argument("--extractor", action="append", default=None,
                   help="feature extractor (repeatable with --out-dir; default: with -o, shapes-net for shapes32 "
                        "and inception-v3-fid for other images; with --out-dir, shapes-net and shapes-clip)")
    p.add_argument("--sample-n", type=int, default=10_000, help="feature rows kept for KID / PR (float16)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("-o", "--output", default=None,
                   help="one .npz for one extractor (mu and sigma as pytorch-fid reads them, n, a feature sample, "
                        "provenance): a side for `genbench fid`")
    p.add_argument("--out-dir", default=None, help="the file pair per extractor (default: the bundled reference_stats/)")
    _add_weights_options(p)
    _add_reading_options(p, cache=False)
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N (default: cuda when present)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_stats)
    p = add_command("disturb", help="the FID paper's disturbance experiment on shapes32")
    p.add_argument("-n", "--num-samples", type=int, metavar="N", default=10_000, help="images per cell")
    p.add_argument("--extractor", default="shapes-net")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder for disturbance.md / disturbance.csv")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_disturb)
    for name, help_text in (("eval", "every metric for one generator (bundled, .npz, image folder, module:callable, "
                                     "plug-in)"),
                            ("baseline", "record a generator's metrics as a regression baseline (JSON)")):
        p = add_command(name, help=help_text)
        p.add_argument("generator", help="a bundled name (vae, gan, ddpm, ddim, ldm), an .npz of uint8 samples, an "
                                         "image folder, module:callable(seed, start, n), or a genbench.generators "
                                         "plug-in name")
        _add_eval_options(p)
        _add_generator_options(p)
        if name == "eval":
            p.add_argument("--out", default=None, help="folder for results.json, results.csv, report.md, samples.png")
            p.add_argument("--format", default="table", choices=["table", "json", "csv", "md"])
            p.set_defaults(func=_cmd_eval)
        else:
            p.add_argument("-o", "--output", required=True, help="baseline JSON file to write")
            p.set_defaults(func=_cmd_baseline)
    p = add_command("check", help="re-run a generator with a baseline's settings; exit 1 if a metric got worse")
    p.add_argument("generator")
    p.add_argument("--baseline", required=True)
    p.add_argument("--tolerance", action="append", default=[], metavar="METRIC=VALUE",
                   help="judge METRIC by this absolute tolerance instead of its interval (repeatable)")
    p.add_argument("--quiet", action="store_true")
    _add_generator_options(p)
    p.set_defaults(func=_cmd_check)
    p = add_command("models", help="the bundled weights (size, steps, device, sha256), or how one was made")
    p.add_argument("name", nargs="?", default=None,
                   help="a manifest name (e.g. ddpm-unet): print the commands that made it, oldest first")
    p.add_argument("--verify", action="store_true", help="hash every file against the manifest (exit 1 on a mismatch)")
    p.set_defaults(func=_cmd_models)
    p = add_command("extractors", help="list registered feature extractors")
    p.set_defaults(func=_cmd_extractors)
    return parser


def _format_warning(message, category, filename, lineno, line=None) -> str:
    return f"genbench: warning: {message}\n"  # one line, like the errors


def main(argv: list[str] | None = None) -> int:
    import warnings

    previous_format, warnings.formatwarning = warnings.formatwarning, _format_warning
    try:
        return _main(argv)
    finally:
        warnings.formatwarning = previous_format


def _main(argv: list[str] | None) -> int:
    from genbench.fetch import offline

    args = build_parser().parse_args(argv)
    # under torchrun (WORLD_SIZE > 1): join the process group (nccl for a CUDA device, else gloo), leave it at the end
    with distributed.session(getattr(args, "device", None)), offline(args.offline):
        try:
            return args.func(args)
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        except (ValueError, FileNotFoundError) as exc:  # bad input (GenbenchError is a ValueError); the rest are bugs
            print(f"genbench: error: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
