"""Shared fixtures."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def genbench_home(tmp_path_factory):
    """A GENBENCH_HOME of the test session (cached references, weights), inherited by subprocesses:
    tests never read or write the user's ~/.cache/genbench."""
    previous = os.environ.get("GENBENCH_HOME")
    home = tmp_path_factory.mktemp("genbench_home")
    os.environ["GENBENCH_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("GENBENCH_HOME", None)
    else:
        os.environ["GENBENCH_HOME"] = previous


@pytest.fixture(scope="session", autouse=True)
def untimed_throughput():
    """Throughput is measured over one warm-up and three calls, without the product's minimum
    timed wall time (``GENBENCH_MIN_TIMED_SECONDS``): tests check what is recorded, not how fast."""
    from genbench.harness.throughput import MIN_TIMED_SECONDS_ENV

    previous = os.environ.get(MIN_TIMED_SECONDS_ENV)
    os.environ[MIN_TIMED_SECONDS_ENV] = "0"
    yield
    if previous is None:
        os.environ.pop(MIN_TIMED_SECONDS_ENV, None)
    else:
        os.environ[MIN_TIMED_SECONDS_ENV] = previous


@pytest.fixture(scope="session", autouse=True)
def no_network(tmp_path_factory):
    """Tests never fetch anything nor read what the user downloaded: genbench offline
    (GENBENCH_OFFLINE=1, and HF_HUB_OFFLINE=1), and an empty TORCH_HOME of the session (torch.hub's
    checkpoint folder), inherited by subprocesses. Tests of fetching serve files from 127.0.0.1 and
    switch GENBENCH_OFFLINE off for themselves (monkeypatch)."""
    names = ("GENBENCH_OFFLINE", "HF_HUB_OFFLINE", "TORCH_HOME")
    previous = {name: os.environ.get(name) for name in names}
    os.environ.update(GENBENCH_OFFLINE="1", HF_HUB_OFFLINE="1", TORCH_HOME=str(tmp_path_factory.mktemp("torch_home")))
    yield
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def one_thread():
    """Run a test on one torch thread: small per-step work only gains contention from more."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def image_folder():
    """The one writer of image files: ``image_folder(folder, images, *, size=32, seed=0, fmt="png", pad=3,
    start=0, jpeg_quality=90)`` writes image i as ``folder / f"{start + i:0{pad}d}.{fmt}"`` (sorted order is
    index order; ``folder`` and its parents are made if missing, files already there are kept) and returns
    ``folder``. ``images`` is a uint8 torch tensor N×C×H×W (genbench's layout); uint8 numpy images as PIL takes
    them: an N×H×W×C array, an N×H×W array (grayscale, mode L), or a list of such H×W×C / H×W arrays of any
    sizes; or a count n: n random size×size RGB images, ``np.random.default_rng(seed)`` drawn in one call.
    ``fmt="jpg"`` writes JPEG files at ``jpeg_quality``."""
    from PIL import Image

    def write(folder: Path, images, *, size: int = 32, seed: int = 0, fmt: str = "png", pad: int = 3,
              start: int = 0, jpeg_quality: int = 90) -> Path:
        if isinstance(images, int):
            images = np.random.default_rng(seed).integers(0, 256, (images, size, size, 3), dtype=np.uint8)
        elif isinstance(images, torch.Tensor):
            images = images.permute(0, 2, 3, 1).numpy()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        options = {"quality": jpeg_quality} if fmt == "jpg" else {}
        for i, image in enumerate(images):
            Image.fromarray(image).save(folder / f"{start + i:0{pad}d}.{fmt}", **options)
        return folder

    return write


@pytest.fixture(scope="session")
def random_inception_state() -> dict:
    """Random FID Inception weights in pytorch-fid's layout, scaled so that activations stay O(1)."""
    from torch import nn

    from genbench.features.inception import FIDInception3

    torch.manual_seed(0)
    net = FIDInception3()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0.0, 0.1)
                m.running_mean.normal_(0.0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    return net.state_dict()


@pytest.fixture(scope="session")
def random_inception_weights(random_inception_state, tmp_path_factory):
    """``random_inception_state`` saved as a .pth file in pytorch-fid's layout (also torch-fidelity's)."""
    path = tmp_path_factory.mktemp("weights") / "random_inception.pth"
    torch.save(random_inception_state, path)
    return path


@pytest.fixture
def random_bundled_assets(tmp_path, monkeypatch):
    """A GENBENCH_ASSETS root whose reference_models hold small randomly initialised vae,
    gan-generator, ddpm-unet, ldm-autoencoder and ldm-unet weights (saved and sha256-recorded the
    bundled way) beside copies of the real evaluator weights, with the real reference_stats linked
    in: the bundled generators' code paths without trained weights."""
    from genbench import assets
    from genbench.nn.gan import Generator as GANNetwork
    from genbench.nn.unet import UNet
    from genbench.nn.vae import ConvVAE

    import shutil

    real_stats, real_models = assets.stats_dir(), assets.models_dir()
    monkeypatch.setenv("GENBENCH_ASSETS", str(tmp_path))
    (tmp_path / "reference_stats").symlink_to(real_stats)
    (tmp_path / "reference_models").mkdir()
    for name in ("manifest.json", "shapes-net.safetensors", "shapes-clip.safetensors"):  # the evaluators stay real
        shutil.copy(real_models / name, tmp_path / "reference_models" / name)
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
    _save_random_ldm(assets)
    return tmp_path


def _save_random_ldm(assets) -> None:
    """Small random ``ldm-autoencoder`` and ``ldm-unet`` (text encoder + conditioned U-Net) weights,
    the latter recording the former's sha256 as the generator requires."""
    from genbench.generators.ldm import build_denoiser
    from genbench.nn.autoencoder import KLAutoencoder

    ae_cfg = {"architecture": "KLAutoencoder", "in_channels": 3, "latent_channels": 4, "channels": [8, 8, 8],
              "num_res_blocks": 1, "groups": 4, "downsample": 4, "scale_factor": 2.0}
    ae_entry = assets.save_bundled_weights("ldm-autoencoder", KLAutoencoder.from_config(ae_cfg).state_dict(), ae_cfg,
                                           command="test", fp16=True)
    unet_cfg = {"in_channels": 4, "patch_size": 1, "channels": [16, 16], "num_res_blocks": 1,
                "attention_levels": [1], "heads": 4, "groups": 8}
    text_cfg = {"width": 16, "layers": 1, "heads": 4, "context_length": 12}
    denoiser = build_denoiser(unet_cfg, text_cfg)
    for p in [*denoiser["unet"].out.parameters(), *denoiser["unet"].context_emb.parameters()]:
        torch.nn.init.normal_(p, std=0.05)  # the real init zeroes these: random values make samples vary
    for module in denoiser["unet"].modules():
        if type(module).__name__ == "CrossAttention":
            torch.nn.init.normal_(module.proj.weight, std=0.05)
    assets.save_bundled_weights("ldm-unet", denoiser.state_dict(), {
        "architecture": "LDM", "unet": unet_cfg, "text_encoder": text_cfg, "T": 1000, "beta_start": 1e-4,
        "beta_end": 0.02, "schedule": "linear", "null_caption": "", "autoencoder": "ldm-autoencoder",
        "autoencoder_sha256": ae_entry["sha256"], "scale_factor": 2.0}, command="test", fp16=False)
