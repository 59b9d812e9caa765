"""The clip-vit-l14-336 extractor (CMMD's feature space) against the CMMD reference preprocessing done
here (google-research/cmmd io_util.py + embedding.py: PIL centre crop to a square, PIL bicubic resize,
/255, CLIP mean/std, image embedding, L2 normalisation), on random open_clip weights saved as
safetensors. The full ViT-L/14@336 check is slow on a CPU; the same code path runs by default on a
small open_clip architecture (the extractor takes the architecture as a parameter)."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

from genbench.features.clip_cmmd import CMMDPreprocess
from genbench.features.weights import WeightsError
from genbench.features.registry import get_extractor

CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
TOL = 1e-4
SMALL = "ViT-S-32"  # GELU, not QuickGELU: the wrapper and preprocessing are what this checks


def cmmd_input(image: torch.Tensor, size: int) -> torch.Tensor:
    """One CHW uint8 image → the network input, as CMMD's _center_crop_and_resize / _read_image /
    compute_embeddings_for_dir / _clip_preprocess (whose bicubic resize to ``size`` is then the identity)."""
    im = Image.fromarray(image.permute(1, 2, 0).numpy())
    w, h = im.size
    side = min(w, h)
    top, left = (h - side) // 2, (w - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((size, size), resample=Image.BICUBIC)
    x = np.asarray(im).astype(np.float32) / 255.0
    return torch.from_numpy((x - CLIP_MEAN) / CLIP_STD).permute(2, 0, 1)


def cmmd_reference(model, images: list[torch.Tensor], size: int) -> torch.Tensor:
    with torch.inference_mode():
        return F.normalize(model.encode_image(torch.stack([cmmd_input(im, size) for im in images])), dim=-1)


def random_image(h: int, w: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def random_clip(architecture: str, path) -> torch.nn.Module:
    torch.manual_seed(0)
    model = open_clip.create_model(architecture).eval()
    save_file(model.state_dict(), str(path))
    return model


def check_agreement(model, ext, size: int) -> None:
    square, wide = random_image(32, 32, seed=1), random_image(24, 40, seed=2)
    ext.micro_batch = 1  # the network runs on whole micro-batches: no padding rows
    ours = torch.cat([ext.features(square[None]), ext.features(wide[None])])
    ref = cmmd_reference(model, [square, wide], size)
    assert ours.dtype == torch.float32 and torch.allclose(ours.norm(dim=1), torch.ones(2))
    assert (ours - ref).abs().max() <= TOL, (ours - ref).abs().max()
    assert (ref[0] - ref[1]).abs().max() > 1e-3  # the features depend on the image


def test_cmmd_path_matches_reference_on_a_small_architecture(tmp_path):
    path = tmp_path / "small.safetensors"
    model = random_clip(SMALL, path)
    ext = get_extractor("clip-vit-l14-336", weights=path, device="cpu", architecture=SMALL)
    check_agreement(model, ext, 224)
    assert ext.name == f"clip-cmmd:{SMALL}" and ext.feature_dim == open_clip.get_model_config(SMALL)["embed_dim"]
    assert len(ext.weights_sha256) == 64 and "pil-center-crop-square,pil-bicubic-224" in ext.preprocessing
    # the crop-then-resize order matters on a non-square image: open_clip's own transform (resize the
    # shorter side, then crop) gives another input
    wide = Image.fromarray(random_image(24, 40, seed=2).permute(1, 2, 0).numpy())
    own = open_clip.image_transform(224, is_train=False)(wide)
    assert (CMMDPreprocess(224)(wide) - own).abs().max() > 1e-2
    assert torch.equal(CMMDPreprocess(224)(wide), cmmd_input(random_image(24, 40, seed=2), 224))


def test_default_architecture_is_openai_vit_l14_336_with_quickgelu():
    from genbench.features.clip_cmmd import ARCHITECTURE

    config = open_clip.get_model_config(ARCHITECTURE)
    assert config["quick_gelu"] is True and config["embed_dim"] == 768
    assert config["vision_cfg"] == {"image_size": 336, "layers": 24, "width": 1024, "patch_size": 14}


def test_missing_or_unreadable_weights_raise_weights_error(tmp_path):
    with pytest.raises(WeightsError, match=r"clip-vit-l14-336\.safetensors not found\. Put it at .*weights"):
        get_extractor("clip-vit-l14-336")
    bad = tmp_path / "bad.safetensors"
    save_file({"visual.proj": torch.zeros(3, 3)}, str(bad))
    with pytest.raises(WeightsError, match="cannot load open_clip"):
        get_extractor("clip-vit-l14-336", weights=bad, device="cpu", architecture=SMALL)


@pytest.mark.slow
def test_vit_l14_336_matches_cmmd_reference(tmp_path):
    path = tmp_path / "clip-vit-l14-336.safetensors"
    model = random_clip("ViT-L-14-336-quickgelu", path)
    ext = get_extractor("clip-vit-l14-336", weights=path, device="cpu")
    assert ext.name == "clip-vit-l14-336" and ext.feature_dim == 768
    assert isinstance(ext.model.visual.transformer.resblocks[0].mlp.gelu, open_clip.transformer.QuickGELU)
    check_agreement(model, ext, 336)
