"""ClipExtractor and clip_score on a tiny random open_clip model saved to a local file."""

import json

import numpy as np
import open_clip
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file

from genbench.features.clip import ClipExtractor
from genbench.features.weights import WeightsError
from genbench.io import sha256_file
from genbench.metrics.clip_score import clip_score
from genbench.features.registry import get_extractor

ARCH = "genbench-test-tiny-clip"
CONFIG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}
CAPTIONS = ["a large red star on a gray background", "a small blue circle on a white background", "x",
            "hello world", "triangle", "green square on black"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(open_clip model, eval preprocess, tokenizer, weights path) for a random tiny CLIP."""
    root = tmp_path_factory.mktemp("tiny_clip")
    (root / f"{ARCH}.json").write_text(json.dumps(CONFIG))
    open_clip.add_model_config(root / f"{ARCH}.json")
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(ARCH)
    path = root / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return model.eval(), preprocess, open_clip.get_tokenizer(ARCH), path


@pytest.fixture(scope="module")
def extractor(tiny):
    return ClipExtractor(ARCH, weights=tiny[3], device="cpu")


@pytest.fixture(scope="module")
def images():
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8, generator=g)
    x[3:] = torch.linspace(0, 255, 32).round().to(torch.uint8).view(1, 1, 1, 32)  # gradients
    return x


def _cosines_by_hand(tiny, images, captions):
    model, preprocess, tokenizer, _ = tiny
    pil = [Image.fromarray(im.permute(1, 2, 0).numpy()) for im in images]
    with torch.no_grad():
        img = model.encode_image(torch.stack([preprocess(p) for p in pil]))
        txt = model.encode_text(tokenizer(captions))
    return (F.normalize(img.double(), dim=-1) * F.normalize(txt.double(), dim=-1)).sum(-1)


def test_extractor_loads_file(extractor, tiny, images):
    assert extractor.name == f"clip:{ARCH}"
    assert extractor.weights_sha256 == sha256_file(tiny[3])
    assert extractor.feature_dim == 32
    assert extractor.preprocessing.startswith("open_clip preprocess: ") and "0x" not in extractor.preprocessing
    feats = extractor.features(images)
    assert feats.shape == (6, 32) and feats.dtype == torch.float32
    torch.testing.assert_close(feats.norm(dim=1), torch.ones(6), rtol=0, atol=1e-5)
    torch.testing.assert_close(extractor.encode_text(CAPTIONS).norm(dim=1), torch.ones(6), rtol=0, atol=1e-5)
    # the loaded weights are the saved ones: a freshly initialised model would give other features
    model, preprocess, _, _ = tiny
    pil = [Image.fromarray(im.permute(1, 2, 0).numpy()) for im in images]
    with torch.no_grad():
        ref = F.normalize(model.encode_image(torch.stack([preprocess(p) for p in pil])), dim=-1)
    torch.testing.assert_close(feats, ref, rtol=0, atol=1e-5)


def test_clip_score_formula(extractor, tiny, images):
    cos = _cosines_by_hand(tiny, images, CAPTIONS)
    assert (cos > 0).any() and (cos < 0).any()  # both sides of the clamp are exercised
    scores = clip_score(images, CAPTIONS, model=extractor)
    assert scores.shape == (6,) and scores.dtype == torch.float64
    torch.testing.assert_close(scores, 100 * cos.clamp(min=0), rtol=0, atol=1e-4)
    hessel = clip_score(images, CAPTIONS, model=extractor, variant="hessel")
    torch.testing.assert_close(hessel, 0.025 * scores, rtol=1e-12, atol=1e-12)
    # float input in [0, 1] gives the same numbers, and pairs scored in pieces (each with its global
    # start) go through the same micro-batches: bit for bit
    assert torch.equal(clip_score(images.double() / 255, CAPTIONS, model=extractor), scores)
    pieces = torch.cat([clip_score(images[:2], CAPTIONS[:2], model=extractor),
                        clip_score(images[2:], CAPTIONS[2:], model=extractor, start=2)])
    assert torch.equal(pieces, scores)


def test_provenance(extractor, tiny, images):
    scores = clip_score(images, CAPTIONS, model=extractor, variant="hessel")
    assert scores.provenance == {
        "model": f"clip:{ARCH}",
        "weights_sha256": sha256_file(tiny[3]),
        "variant": "hessel",
        "preprocessing": extractor.preprocessing,
    }


def test_tuple_model(extractor, tiny, images):
    model, preprocess, tokenizer, _ = tiny
    scores = clip_score(images, CAPTIONS, model=(model, preprocess, tokenizer))
    torch.testing.assert_close(scores, clip_score(images, CAPTIONS, model=extractor), rtol=0, atol=1e-6)
    assert scores.provenance["model"] == "clip:custom" and scores.provenance["weights_sha256"] is None


def test_registry_family_and_default_location(tiny, images, tmp_path, monkeypatch):
    ext = get_extractor(f"clip:{ARCH}", weights=tiny[3], device="cpu")
    assert isinstance(ext, ClipExtractor) and ext.name == f"clip:{ARCH}"
    monkeypatch.setenv("GENBENCH_HOME", str(tmp_path))
    with pytest.raises(WeightsError, match=f"clip-{ARCH}.safetensors"):
        ClipExtractor(ARCH)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / f"clip-{ARCH}.safetensors").write_bytes(tiny[3].read_bytes())
    found = ClipExtractor(ARCH, expected_sha256=sha256_file(tiny[3])[:12], device="cpu")
    torch.testing.assert_close(found.features(images), ext.features(images))


def test_weights_errors(tiny, tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        ClipExtractor(ARCH, weights=tmp_path / "missing.safetensors")
    with pytest.raises(WeightsError, match="corrupted"):
        ClipExtractor(ARCH, weights=tiny[3], expected_sha256="0" * 64)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(tiny[3].read_bytes()[:1000])
    with pytest.raises(WeightsError, match="cannot load"):
        ClipExtractor(ARCH, weights=truncated)
    wrong_layout = tmp_path / "wrong.pt"
    torch.save({"visual.proj": torch.zeros(3)}, wrong_layout)
    with pytest.raises(WeightsError, match="cannot load"):
        ClipExtractor(ARCH, weights=wrong_layout)
    with pytest.raises(ValueError, match="unknown open_clip architecture"):
        ClipExtractor("no-such-arch", weights=tiny[3])


def test_argument_errors(extractor, images):
    with pytest.raises(ValueError, match="6 images but 5 captions"):
        clip_score(images, CAPTIONS[:5], model=extractor)
    with pytest.raises(ValueError, match="'torchmetrics', 'hessel'"):
        clip_score(images, CAPTIONS, model=extractor, variant="mean")
    with pytest.raises(ValueError, match="non-finite"):
        clip_score(np.full((6, 3, 32, 32), np.nan, dtype=np.float32), CAPTIONS, model=extractor)
