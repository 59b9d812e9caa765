"""The bundled VAE and GAN networks and their training entry points: output contracts, a VAE
that learns, a GAN whose losses stay finite, spectral norm on every discriminator layer, and exact
resume from checkpoints (the EMA update is tested with the shared loop, ``test_training_loop``)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from genbench.data.shapes32 import shapes32
from genbench.nn.gan import Discriminator, Generator
from genbench.nn.vae import ConvVAE
from genbench.training import train_gan, train_latent_gan, train_projected_gan, train_vae


pytestmark = pytest.mark.usefixtures("one_thread")


def test_vae_shapes_and_ranges():
    torch.manual_seed(0)
    vae = ConvVAE(latent_dim=16, widths=(8, 16, 32))
    x = torch.rand(5, 3, 32, 32)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (5, 16)
    out = vae.decode(4.0 * torch.randn(5, 16))
    assert out.shape == (5, 3, 32, 32) and out.min() >= 0.0 and out.max() <= 1.0


def test_gan_shapes_and_ranges():
    torch.manual_seed(0)
    G, D = Generator(z_dim=32, width=16), Discriminator(width=8)
    fake = G(3.0 * torch.randn(6, 32))
    assert fake.shape == (6, 3, 32, 32) and fake.min() >= -1.0 and fake.max() <= 1.0
    assert D(fake).shape == (6,)


def test_vae_elbo_decreases_on_fixed_batch():
    torch.manual_seed(0)
    vae = ConvVAE(latent_dim=16, widths=(8, 16, 32))
    x = shapes32("train", 0, 16).images.float() / 255.0
    noise = torch.randn(16, 16)
    opt = torch.optim.Adam(vae.parameters(), lr=2e-3)
    losses = []
    for _ in range(15):
        loss, recon, kl = vae.negative_elbo(x, noise)
        assert torch.isclose(loss, recon + kl) and kl >= 0
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # the Bernoulli likelihood on grey-level targets has a high floor (their entropy), so ask for nats, not a ratio
    assert losses[-1] < losses[0] - 50.0 and all(b < a for a, b in zip(losses, losses[1:])), losses


def test_spectral_norm_on_every_discriminator_layer():
    torch.manual_seed(0)
    D = Discriminator(width=8).train()
    layers = [m for m in D.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    assert len(layers) == 8
    assert all(parametrize.is_parametrized(m, "weight") for m in layers)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())
    with torch.no_grad():
        for _ in range(300):  # each training-mode forward runs one power iteration per layer
            D(torch.randn(2, 3, 32, 32))
    D.eval()
    for m in layers:
        sigma = torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2)
        assert sigma.item() == pytest.approx(1.0, abs=5e-3)


def _log(log_dir: Path) -> list[dict[str, float]]:
    with open(log_dir / "log.csv") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


TINY = {
    train_vae: ["--n-train", "64", "--batch-size", "16", "--latent-dim", "8", "--widths", "8", "16", "16"],
    train_gan: ["--n-train", "64", "--batch-size", "8", "--z-dim", "16", "--g-width", "8", "--d-width", "8"],
    train_latent_gan: ["--n-train", "64", "--batch-size", "8", "--z-dim", "16", "--g-width", "8", "--d-width", "8"],
    train_projected_gan: ["--n-train", "64", "--batch-size", "8", "--d-width", "8", "--lr-decay-from", "100"],
}
LOSSES = {train_vae: ("loss", "recon", "kl"), train_gan: ("d_loss", "g_loss", "d_real", "d_fake"),
          train_latent_gan: ("d_loss", "g_loss", "d_real", "d_fake"),
          train_projected_gan: ("d_loss", "g_loss", "d_real", "d_fake")}


@pytest.mark.parametrize("module", [train_vae, train_gan, train_latent_gan, train_projected_gan],
                         ids=["vae", "gan", "latent-gan", "projected-gan"])
def test_resume_reproduces_uninterrupted_run(module, tmp_path):
    common = [*TINY[module], "--log-every", "1", "--monitor", "0", "--no-bundle", "--seed", "3"]
    module.main([*common, "--steps", "6", "--log-dir", str(tmp_path / "straight")])
    module.main([*common, "--steps", "3", "--log-dir", str(tmp_path / "resumed")])
    assert len(_log(tmp_path / "resumed")) == 3
    module.main([*common, "--steps", "6", "--log-dir", str(tmp_path / "resumed")])
    straight, resumed = _log(tmp_path / "straight"), _log(tmp_path / "resumed")
    assert [r["step"] for r in resumed] == [r["step"] for r in straight] == [1, 2, 3, 4, 5, 6]
    for a, b in zip(straight, resumed):
        for key in LOSSES[module]:
            assert math.isfinite(a[key])
            assert b[key] == pytest.approx(a[key], abs=1e-6, rel=0)
    assert (tmp_path / "straight" / "curve.png").is_file()


def test_a_resumed_run_writes_the_whole_log_again(tmp_path):
    """log.csv lost (or truncated) after the checkpoint: rerunning at the reached step restores it."""
    common = [*TINY[train_vae], "--log-every", "1", "--monitor", "0", "--no-bundle", "--log-dir", str(tmp_path)]
    train_vae.main([*common, "--steps", "4"])
    whole = (tmp_path / "log.csv").read_text()
    (tmp_path / "log.csv").write_text(whole.splitlines()[0] + "\n")
    train_vae.main([*common, "--steps", "4"])
    assert (tmp_path / "log.csv").read_text() == whole and len(_log(tmp_path)) == 4


def test_resume_refuses_other_settings(tmp_path):
    common = [*TINY[train_vae], "--monitor", "0", "--no-bundle", "--steps", "1", "--log-dir", str(tmp_path)]
    train_vae.main(common)
    with pytest.raises(SystemExit, match="other settings"):
        train_vae.main([*common, "--beta", "0.5"])


def test_latent_gan_lr_decays_linearly_and_binds_the_step_count(tmp_path):
    """The linear decay runs from --lr-decay-from to --steps, so extending a decayed run is another run."""
    common = [*TINY[train_latent_gan], "--monitor", "0", "--no-bundle", "--log-dir", str(tmp_path), "--lr-decay-from", "1"]
    train_latent_gan.main([*common, "--steps", "3"])
    ckpt = torch.load(tmp_path / "checkpoint.pt", map_location="cpu", weights_only=True)
    assert ckpt["hparams"]["lr_linear_decay_steps"] == [1, 3]
    # the last step (index 2) trained at lr · (3 − 2) / (3 − 1)
    assert [g["lr"] for g in ckpt["state"]["opt_g"]["param_groups"]] == [pytest.approx(2e-4 / 2)]
    with pytest.raises(SystemExit, match="other settings"):
        train_latent_gan.main([*common, "--steps", "6"])


@pytest.mark.usefixtures("random_bundled_assets")
def test_projected_gan_starts_at_the_vae_and_the_bundled_generator_reads_it(tmp_path):
    """With G's learning rate 0 the bundled GAN is the VAE's decoder: GANGenerator (which reads the
    VAEDecoderGenerator weights) draws the VAE's samples, up to one uint8 level of rounding."""
    from genbench.generators.bundled import GANGenerator, VAEGenerator

    train_projected_gan.main([*TINY[train_projected_gan], "--steps", "2", "--g-lr", "0", "--monitor", "0",
                              "--log-dir", str(tmp_path)])
    gan, vae = GANGenerator(device="cpu", micro_batch=10), VAEGenerator(device="cpu", micro_batch=10)
    assert gan.meta.nfe == 1 and gan.meta.options["weights_sha256"] != vae.meta.options["weights_sha256"]
    a, b = gan.sample_range(5, 0, 20).int(), vae.sample_range(5, 0, 20).int()
    assert (a - b).abs().max() <= 1 and (a == b).float().mean() > 0.99
    assert not torch.equal(a, GANGenerator(device="cpu", micro_batch=10).sample_range(6, 0, 20).int())
