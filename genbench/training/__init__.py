"""Reproducible training entry points for the bundled networks (``python -m genbench.training.train_<name>``)
and the library they all run on.

Library (one job per module): ``loop`` (``TrainLoop``: steps, CSV log, checkpoint/resume, signals;
the shared command-line options), ``seeding`` (per-step and per-epoch generators), ``optim``
(optimizer step with gradient clipping, learning-rate warm-up and decay), ``ema`` (weight averages),
``curves`` (log plots), ``monitors`` (shapes-net's view of samples), ``bundling`` (CPU copies, fp16
rounding and the fp16-or-fp32 decision), ``warm_start`` (continuing another run's weights),
``device`` (``--device``), ``pixels`` and ``latents`` (signed-image convention, autoencoder
posteriors), ``gan`` (hinge GAN steps and options) and ``diffusion`` (what the ε-prediction trainers
share). Sample grids are written with ``genbench.reports.grids.save_grid(images, path)``.

Trainers (scripts; none imports another): ``train_vae``, ``train_gan``, ``train_latent_gan``,
``train_autoencoder``, ``train_ldm``, ``train_ddpm``, ``train_shapes_net``, ``train_shapes_clip``,
``train_diffusers_unet``.
"""
