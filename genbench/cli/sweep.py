"""``genbench sweep ddim`` (sampling steps against quality, DDIM's Table 1) and ``genbench sweep
guidance`` (the classifier-free guidance scale against quality and prompt following)."""

from __future__ import annotations

import argparse

from genbench.cli import options
from genbench.cli.common import float_list, int_list, log_for, reference_and_extractor
from genbench.errors import GenbenchError
from genbench.harness import distributed

DDIM_SAMPLES, GUIDANCE_SAMPLES = 500, 1000


def add_parser(sub) -> None:
    from genbench.diffusion.denoiser import BETA_SCHEDULES, PREDICTIONS
    from genbench.diffusion.schedule import SPACINGS
    from genbench.generators.text_to_image import DTYPES

    p = sub("sweep", help="DDIM steps against quality (DDIM Table 1), or the LDM guidance scale against quality "
                          "and prompt following")
    p.add_argument("sampler", choices=["ddim", "guidance"],
                   help="ddim: S × η grid over the DDPM denoiser; guidance: classifier-free guidance scales of ldm")
    p.add_argument("--steps", default=None, help="ddim: comma-separated numbers of steps S (default "
                                                 "10,20,50,100,1000); guidance: comma-separated sampler steps "
                                                 "(default 50)")
    p.add_argument("--eta", default=None, help="ddim: comma-separated η values in [0, 1] (default 0,0.2,0.5,1); "
                                               "guidance: one η (default 0)")
    p.add_argument("--no-sigma-hat", action="store_true", help="ddim: leave out the σ̂ (larger-variance DDPM) row")
    p.add_argument("--spacing", default="uniform", choices=list(SPACINGS), help="ddim: timestep spacing of the DDIM rows")
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
    p.add_argument("--dtype", default=None, choices=list(DTYPES), help="guidance with --model: network dtype "
                                                                       "(default fp32)")
    p.add_argument("--micro-batch", type=int, default=None,
                   help="guidance: samples per network call (default: the model's: 50 for ldm, 8 for pipelines)")
    p.add_argument("--clip-model", default=None, metavar="NAME",
                   help="guidance: CLIP score model (default: shapes-clip for ldm, clip:ViT-L-14-quickgelu:openai "
                        "with --model)")
    p.add_argument("--beta-schedule", default=None, choices=list(BETA_SCHEDULES),
                   help="ddim with --model module:net: the network's β schedule (T = 1000, diffusers' defaults)")
    p.add_argument("--prediction-type", default="epsilon", choices=list(PREDICTIONS),
                   help="ddim with --model module:net and --beta-schedule: what the network predicts")
    p.add_argument("--sample-shape", default="3,32,32", metavar="C,H,W",
                   help="ddim with --model module:net and --beta-schedule: the shape of one sample (default 3,32,32)")
    p.add_argument("--scales", default=None, help="guidance: comma-separated scales s >= 0, e.g. 1,2,3,5,7.5")
    p.add_argument("--pairs", type=int, default=100,
                   help="guidance: captions drawn twice (seeds s, s + 1) for the same-prompt SSIM")
    options.add_num_samples(p, f"samples per cell (default: ddim {DDIM_SAMPLES}; guidance {GUIDANCE_SAMPLES} "
                               "held-out captions)")
    options.add_seed(p)
    options.add_batch_size(p)
    p.add_argument("--resamples", type=int, default=20, help="half-sampling resamples for the FID intervals")
    options.add_report_options(p, "folder for sweep.* (ddim) or guidance.* (guidance): json, csv, md, png")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from genbench.reference import resolve_extractor

    spec = args.ref or "shapes32:train"
    reference = {"reference": spec, "extractor": resolve_extractor([spec], args.extractor)}
    samplers = tuple(v.strip() for v in args.samplers.split(",") if v.strip())
    if args.sampler == "guidance":
        from genbench.harness.guidance_sweep import GuidanceSweepConfig, guidance_markdown, run_guidance_sweep

        if args.scales is None:
            raise GenbenchError("sweep guidance needs --scales, e.g. --scales 1,2,3,5,7.5")
        steps, etas = int_list(args.steps or "50", "--steps"), float_list(args.eta or "0", "--eta")
        if not steps or len(etas) != 1:
            raise GenbenchError("sweep guidance takes one or more --steps values and one --eta value")
        if args.beta_schedule is not None:
            raise GenbenchError("--beta-schedule is for sweep ddim; a text-to-image pipeline carries its scheduler "
                                "config")
        cfg = GuidanceSweepConfig(
            scales=tuple(float_list(args.scales, "--scales")), steps=steps[0] if len(steps) == 1 else tuple(steps),
            eta=etas[0], samplers=samplers, n=GUIDANCE_SAMPLES if args.num_samples is None else args.num_samples,
            seed=args.seed, batch_size=args.batch_size, resamples=args.resamples, pairs=args.pairs, model=args.model,
            prompts=args.prompts, negative_prompt=args.negative_prompt, dtype=args.dtype or "fp32",
            micro_batch=args.micro_batch, clip_model=args.clip_model, **reference)
        sweep, markdown = run_guidance_sweep, guidance_markdown
    else:
        from genbench.harness.sweep import SweepConfig, run_sweep, sweep_denoiser, sweep_markdown

        cfg = SweepConfig(steps=tuple(int_list(args.steps or "10,20,50,100,1000", "--steps")),
                          etas=tuple(float_list(args.eta or "0,0.2,0.5,1", "--eta")),
                          sigma_hat=not args.no_sigma_hat, spacing=args.spacing,
                          n=DDIM_SAMPLES if args.num_samples is None else args.num_samples, seed=args.seed,
                          batch_size=args.batch_size, resamples=args.resamples, samplers=samplers, model=args.model,
                          **reference)
        denoiser = sweep_denoiser(args.model, args.beta_schedule, args.prediction_type,
                                  tuple(int_list(args.sample_shape, "--sample-shape")))

        def sweep(*a, **k):
            return run_sweep(*a, denoiser=denoiser, **k)

        markdown = sweep_markdown
    ref, ext = reference_and_extractor(args)
    df = sweep(cfg, args.out, device=args.device, progress=not args.quiet, log=log_for(args), reference=ref,
               extractor=ext)
    if not distributed.is_main():
        return 0
    if args.format == "json":
        print(df.to_json(orient="records", indent=2))
    elif args.format == "csv":
        print(df.to_csv(index=False), end="")
    else:  # the image lines only mean something beside the files
        text = markdown(df, cfg)
        print(text if args.format == "md" else "\n".join(l for l in text.splitlines() if not l.startswith("![")).strip())
    return 0
