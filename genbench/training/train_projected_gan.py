"""Train the bundled shapes32 GAN: the bundled VAE's decoder, warm-started, fine-tuned against a
projected discriminator on the frozen KL autoencoder's encoder; bundle its EMA generator as
``reference_models/gan-generator.safetensors``.

    python -m genbench.training.train_projected_gan [--steps 800] [--lr-decay-from 400] [--threads 1]

Networks (``genbench.nn.projected_gan``): G = ``VAEDecoderGenerator`` initialised from the bundled
``vae`` weights (z ~ N(0, I) of the VAE's latent size → images in [−1, 1], one network evaluation);
D = ``ProjectedDiscriminator``: small spectrally normalised heads on three feature scales of the
frozen ``ldm-autoencoder`` encoder (no evaluator network — shapes-net, shapes-clip — is involved).
Data: shapes32 train[0:50000] as x = u8/127.5 − 1, batches drawn with replacement. Loss: hinge —
D: mean relu(1 − D(x)) + mean relu(1 + D(G(z))) over every logit position of every scale; G:
−mean D(G(z)). One D step then one G step per step, Adam β ``--betas`` at ``--lr`` (D) and
``--g-lr`` (G); with ``--lr-decay-from S`` both fall linearly to 0 between step S and ``--steps``.
After every G step the EMA generator follows ema ← decay·ema + (1 − decay)·param; it starts at the
VAE's decoder.

Monitor (reporting only): every ``--sample-every`` steps, FID and recall of ``--monitor`` EMA samples
in shapes-net space (``FIDRecallMonitor``), and the grid of the first 64.

Reproducibility: D's initial weights from ``torch.manual_seed(seed)``; step s's batch indices and
latents come from a generator seeded with (seed, 0, s), so a run resumed from
``<log-dir>/checkpoint.pt`` follows the stream of an uninterrupted one (same thread count).
"""

from __future__ import annotations

import argparse
import math

import torch

from genbench.assets import load_bundled_weights
from genbench.data.shapes32 import shapes32
from genbench.generators.autoencoder import AUTOENCODER_WEIGHTS, load_autoencoder
from genbench.images import signed_unit_to_uint8
from genbench.nn.projected_gan import FEATURE_TAPS, ProjectedDiscriminator, VAEDecoderGenerator
from genbench.nn.vae import ConvVAE
from genbench.reports.grids import save_grid
from genbench.training.bundling import bundle_by_pixels
from genbench.training.curves import plot_curves
from genbench.training.device import device_option
from genbench.training.gan import hinge_gan_step
from genbench.training.loop import TrainLoop, add_loop_args, begin_run
from genbench.training.monitors import FID_MONITOR_HELP, N_GRID, N_MONITOR, FIDRecallMonitor
from genbench.training.optim import linear_decay, set_learning_rate
from genbench.training.pixels import uint8_to_signed_unit
from genbench.training.seeding import seeded_generator

LOSS_KEYS = ["d_loss", "g_loss", "d_real", "d_fake"]
VAE_WEIGHTS = "vae"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m genbench.training.train_projected_gan",
                                description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=800, help="G steps (one D step each)")
    p.add_argument("--ema", type=float, default=0.995, help="EMA decay of the bundled generator")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-4, help="Adam learning rate of D")
    p.add_argument("--g-lr", type=float, default=1e-4, help="Adam learning rate of G (the warm-started decoder)")
    p.add_argument("--betas", type=float, nargs=2, default=[0.0, 0.9])
    p.add_argument("--d-width", type=int, default=64, help="channels of every discriminator head")
    p.add_argument("--lr-decay-from", type=int, default=400, metavar="STEP",
                   help="decay both learning rates linearly to 0 from STEP to --steps (>= --steps: constant)")
    add_loop_args(p, log_every=20, sample_every=100, monitor=N_MONITOR,
                  monitor_help=FID_MONITOR_HELP)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started, device, log_dir = begin_run(args, "projected-gan")
    if args.lr_decay_from < 0:
        raise SystemExit(f"--lr-decay-from must be >= 0, got {args.lr_decay_from}")
    decay_from = args.lr_decay_from if args.lr_decay_from < args.steps else None  # None: constant rates
    vae_state, vae_entry = load_bundled_weights(VAE_WEIGHTS)
    vae = ConvVAE(vae_entry["config"]["latent_dim"], tuple(vae_entry["config"]["widths"]))
    vae.load_state_dict({k: v.float() for k, v in vae_state.items()})
    autoencoder, ae_entry = load_autoencoder()
    hparams = {"seed": args.seed, "batch_size": args.batch_size, "lr_d": args.lr, "lr_g": args.g_lr,
               "betas": args.betas, "ema": args.ema, "n_train": args.n_train, "d_width": args.d_width,
               "optimizer": "Adam",
               "loss": "hinge, projected (frozen autoencoder encoder features)", "d_steps_per_g_step": 1,
               "d_features": {"encoder": AUTOENCODER_WEIGHTS, "encoder_sha256": ae_entry["sha256"],
                              "taps": list(FEATURE_TAPS)},
               "init": {"weights": VAE_WEIGHTS, "sha256": vae_entry["sha256"]}}
    if decay_from is not None:  # the schedule binds the step count: a resumed run must keep --steps
        hparams["lr_linear_decay_steps"] = [decay_from, args.steps]
    config = {"architecture": "VAEDecoderGenerator", "latent_dim": vae.latent_dim, "widths": list(vae.widths),
              "output": "G(z), z ~ N(0, I) (latent_dim): 2 * sigmoid(decoder logits) - 1, float RGB in [-1, 1], "
                        "NCHW, 32x32; EMA weights"}

    images = shapes32("train", 0, args.n_train).images.to(device)
    G = VAEDecoderGenerator.from_vae(vae).to(device)
    torch.manual_seed(args.seed)
    D = ProjectedDiscriminator(autoencoder.encoder.to(device), args.d_width).to(device)
    G_ema = VAEDecoderGenerator.from_vae(vae).to(device).eval().requires_grad_(False)
    opt_g = torch.optim.Adam(G.parameters(), lr=args.g_lr, betas=tuple(args.betas))
    opt_d = torch.optim.Adam(D.parameters(), lr=args.lr, betas=tuple(args.betas))
    state = {"G": G, "D": D, "G_ema": G_ema, "opt_g": opt_g, "opt_d": opt_d}
    loop = TrainLoop(log_dir, state, hparams, config, args.batch_size, args.log_every, args.sample_every,
                     60 * args.checkpoint_minutes,
                     plot=lambda rows: plot_curves(log_dir / "curve.png", rows, LOSS_KEYS, ["ema_fid"],
                                                   title="projected hinge GAN losses", log_right=True,
                                                   right_title="EMA samples (monitor only)",
                                                   right_label=f"FID in shapes-net space, {args.monitor} samples"))
    if args.resume:
        loop.resume()
    fixed_z = torch.randn(max(N_GRID, args.monitor), vae.latent_dim,
                          generator=seeded_generator(args.seed, 2)).to(device)
    monitor = FIDRecallMonitor(args.monitor) if args.monitor else None

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        set_learning_rate(linear_decay(step, args.lr, decay_from, args.steps), opt_d)
        set_learning_rate(linear_decay(step, args.g_lr, decay_from, args.steps), opt_g)
        gen = seeded_generator(args.seed, 0, step, device=device)
        idx = torch.randint(len(images), (args.batch_size,), generator=gen, device=device)
        real = uint8_to_signed_unit(images[idx])
        z_d, z_g = torch.randn(2, args.batch_size, vae.latent_dim, generator=gen, device=device)
        return hinge_gan_step(real, z_d, z_g, G, D, G_ema, opt_g, opt_d, args.ema)

    @torch.inference_mode()
    def render(z: torch.Tensor) -> torch.Tensor:
        return ((G_ema.eval()(z) + 1) / 2).cpu()

    @torch.inference_mode()
    def monitor_fn(step: int) -> dict[str, float]:
        if step < 0 or monitor is None:
            return {f"ema_{k}": math.nan for k in FIDRecallMonitor.KEYS}
        samples = G_ema.eval()(fixed_z).cpu()
        save_grid(signed_unit_to_uint8(samples[:N_GRID]), log_dir / f"samples_step{step}.png")
        return {f"ema_{k}": v for k, v in monitor(signed_unit_to_uint8(samples[:args.monitor])).items()}

    loop.run(args.steps, step_fn, monitor_fn)
    if not args.bundle:
        return
    command = (f"python -m genbench.training.train_projected_gan --steps {loop.step} --seed {args.seed} "
               f"--ema {args.ema} --batch-size {args.batch_size} --lr {args.lr} --g-lr {args.g_lr} "
               f"--betas {args.betas[0]} {args.betas[1]} --d-width {args.d_width} "
               f"--lr-decay-from {args.lr_decay_from} --threads {args.threads}" + device_option(device))
    bundle_by_pixels("gan-generator", G_ema, lambda: render(fixed_z[:N_GRID]), command=command, config=config,
                     hparams=hparams, args=args, loop=loop, device=device, started=started)


if __name__ == "__main__":
    main()
