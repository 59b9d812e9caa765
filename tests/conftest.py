"""Shared fixtures."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """Run a test on one torch thread: small per-step work only gains contention from more."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def random_bundled_assets(tmp_path, monkeypatch):
    """A GENBENCH_ASSETS root whose reference_models hold small randomly initialised vae,
    gan-generator and ddpm-unet weights (saved and sha256-recorded the bundled way), with the real
    reference_stats linked in: the bundled generators' code paths without trained weights."""
    from genbench import assets
    from genbench.nn.gan import Generator as GANNetwork
    from genbench.nn.unet import UNet
    from genbench.nn.vae import ConvVAE

    real_stats = assets.stats_dir()
    monkeypatch.setenv("GENBENCH_ASSETS", str(tmp_path))
    (tmp_path / "reference_stats").symlink_to(real_stats)
    torch.manual_seed(0)
    unet_cfg = {"in_channels": 3, "patch_size": 2, "channels": [16, 16, 16, 32], "num_res_blocks": 1,
                "attention_levels": [3], "heads": 2, "groups": 8}
    unet = UNet(**{k: tuple(v) if isinstance(v, list) else v for k, v in unet_cfg.items()})
    for p in unet.out.parameters():  # the real init zeroes the output layer; random ε makes samples vary
        torch.nn.init.normal_(p, std=0.02)
    assets.save_bundled_weights("ddpm-unet", unet.state_dict(), {"architecture": "UNet", **unet_cfg, "T": 1000,
                                "beta_start": 1e-4, "beta_end": 0.02}, command="test", fp16=False)
    vae = ConvVAE(latent_dim=8, widths=(8, 8, 16))
    assets.save_bundled_weights("vae", vae.state_dict(), {"architecture": "ConvVAE", "latent_dim": 8,
                                "widths": [8, 8, 16]}, command="test", fp16=True)
    gan = GANNetwork(z_dim=16, width=8).eval()
    assets.save_bundled_weights("gan-generator", gan.state_dict(), {"z_dim": 16, "width": 8}, command="test")
    return tmp_path
