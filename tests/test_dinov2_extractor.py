"""The dinov2-vit-l14 extractor against the official DINOv2 code (vendored in tests/reference_impl/dinov2):
random weights in the official checkpoint's layout (a 518-sized ViT-L/14, as hubconf's dinov2_vitl14 builds
it), dgm-eval's preprocessing done here with PIL and torchvision, features equal to the official forward."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms as TF
from PIL import Image
from reference_impl.dinov2.models.vision_transformer import vit_large

from genbench.features.dinov2 import WEIGHTS, interpolate_pos_embed
from genbench.features.weights import WeightsError
from genbench.features.registry import get_extractor

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])
TOL = 1e-4


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """The official dinov2_vitl14 network with random weights (a little beyond init, so LayerNorms,
    biases and layer scales are not trivial) and its state dict saved as a plain .pth."""
    torch.manual_seed(0)
    model = vit_large(patch_size=14, img_size=518, init_values=1.0, block_chunks=0).eval()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1:  # LayerNorm weights/biases, linear biases, layer-scale gammas
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
        model.pos_embed.mul_(20.0)  # std 0.4: the resampled grid matters in the features
        model.cls_token.normal_(0.0, 0.5, generator=gen)
    path = tmp_path_factory.mktemp("dinov2") / WEIGHTS.filename
    torch.save({k: v.clone() for k, v in model.state_dict().items()}, path)
    return model, path


def reference_features(model, images: torch.Tensor) -> torch.Tensor:
    """dgm-eval's DINOv2Encoder: PIL → Resize((224, 224), BICUBIC) → ToTensor → Normalize, then model(x)."""
    prep = TF.Compose([TF.Resize((224, 224), TF.InterpolationMode.BICUBIC), TF.ToTensor()])
    norm = TF.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    x = torch.stack([norm(prep(Image.fromarray(im.permute(1, 2, 0).numpy()))) for im in images])
    with torch.inference_mode():
        return model(x)


def random_images(n: int, h: int, w: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_pos_embed_resampled_as_the_official_model_does(official):
    model, _ = official
    ours = interpolate_pos_embed(model.pos_embed.detach())
    with torch.no_grad():
        theirs = model.interpolate_pos_encoding(torch.zeros(1, 257, 1024), 224, 224)
    assert torch.equal(ours, theirs)
    # the 0.1 offset matters: resampling to size (16, 16) instead gives other numbers
    patch = model.pos_embed.detach()[:, 1:].reshape(1, 37, 37, 1024).permute(0, 3, 1, 2)
    plain = F.interpolate(patch, size=(16, 16), mode="bicubic").permute(0, 2, 3, 1).reshape(1, 256, 1024)
    assert (plain - theirs[:, 1:]).abs().max() > 1e-3


def test_features_match_official_model_with_dgm_eval_preprocessing(official, tmp_path, monkeypatch):
    model, path = official
    ext = get_extractor("dinov2-vit-l14", weights=path, device="cpu")
    square, wide = random_images(2, 32, 32, seed=2), random_images(1, 24, 40, seed=3)
    ext.micro_batch = 2  # the network runs on whole micro-batches: no padding rows on ViT-L's CPU time
    ours_square = ext.features(square)
    ext.micro_batch = 1
    ours = torch.cat([ours_square, ext.features(wide)])
    ref = torch.cat([reference_features(model, square), reference_features(model, wide)])
    assert ours.shape == (3, 1024) and ours.dtype == torch.float32
    assert (ours - ref).abs().max() <= TOL, (ours - ref).abs().max()
    assert (ref[0] - ref[1]).abs().max() > 0.1  # the features depend on the image
    assert ext.feature_dim == 1024 and ext.name == "dinov2-vit-l14"
    prov = ext.provenance()
    assert prov["weights_sha256"] and len(prov["weights_sha256"]) == 64 and "pil-bicubic" in prov["preprocessing"]

    # the same state dict as .safetensors, found at the default place: the same network, bit for bit
    from safetensors.torch import save_file

    home = tmp_path / "home"
    (home / "weights").mkdir(parents=True)
    save_file(model.state_dict(), str(home / "weights" / "dinov2_vitl14_pretrain.safetensors"))
    monkeypatch.setenv("GENBENCH_HOME", str(home))
    st = get_extractor("dinov2-vit-l14", device="cpu")
    assert st.weights_sha256 != ext.weights_sha256
    ours_state, st_state = ext.model.state_dict(), st.model.state_dict()
    assert ours_state.keys() == st_state.keys()
    assert all(torch.equal(ours_state[k], st_state[k]) for k in ours_state)


def antialias_definition(images: torch.Tensor) -> torch.Tensor:
    """EDM2's fast mode: F.interpolate bicubic with antialias to 224×224 on [0, 1] floats, then ImageNet mean/std."""
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
    x = F.interpolate(images.float() / 255, size=(224, 224), mode="bicubic", antialias=True)
    return (x - mean) / std


def test_torch_bicubic_antialias_mode_is_its_definition(official):
    """The network input is the definition's (uint8 and float [0, 1] input alike); the network is the
    one checked above (the whole forward: the slow test below)."""
    _, path = official
    ext = get_extractor("dinov2-vit-l14", weights=path, device="cpu", resize="torch-bicubic-antialias")
    images = random_images(2, 24, 40, seed=4)
    expected = antialias_definition(images)
    assert torch.allclose(ext._normalise(images), expected, rtol=0, atol=1e-6)
    assert torch.allclose(ext._normalise(images.float() / 255), expected, rtol=0, atol=1e-6)
    assert "torch-bicubic-antialias" in ext.preprocessing and ext.provenance()["preprocessing"] == ext.preprocessing
    pil = get_extractor("dinov2-vit-l14", weights=path, device="cpu")
    assert (pil._normalise(images) - expected).abs().max() > 1e-3  # the two modes do differ


@pytest.mark.slow
def test_torch_bicubic_antialias_mode_features(official):
    model, path = official
    ext = get_extractor("dinov2-vit-l14", weights=path, device="cpu", resize="torch-bicubic-antialias")
    ext.micro_batch = 1
    images = random_images(1, 24, 40, seed=4)
    with torch.inference_mode():
        ref = model(antialias_definition(images))
    assert (ext.features(images) - ref).abs().max() <= TOL


def test_other_layouts_raise_weights_error(tmp_path):
    state = {"cls_token": torch.zeros(1, 1, 1024), "pos_embed": torch.zeros(1, 1370, 1024),
             "norm.weight": torch.zeros(768), "blocks.0.ls1.gamma": torch.zeros(1024)}
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"not an official DINOv2.*missing keys.*norm\.weight \(768,\)") as err:
        get_extractor("dinov2-vit-l14", weights=path, device="cpu").model  # loaded when first needed
    assert "\n" not in str(err.value)
    torch.save({**state, "pos_embed": torch.zeros(1, 1000, 1024)}, path)
    with pytest.raises(WeightsError, match=r"pos_embed \(1, 1000, 1024\)"):
        get_extractor("dinov2-vit-l14", weights=path, device="cpu").model
    with pytest.raises(WeightsError, match="dinov2_vitl14_pretrain.pth not found.*offline"):  # no published digest:
        get_extractor("dinov2-vit-l14", device="cpu")  # the file names the feature space, so it is looked up at once
    with pytest.raises(ValueError, match="resize"):
        get_extractor("dinov2-vit-l14", weights=path, resize="tf")
