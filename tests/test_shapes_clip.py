"""shapes-clip: tokenizer, preprocessing, zero-shot marginalisation, and the bundled weights."""

import json

import pytest
import torch
from PIL import Image

import genbench
from genbench.assets import read_manifest
from genbench.data.shapes32 import shapes32
from genbench.metrics.zero_shot import FACTOR_SIZES, prompt_index, prompts, shapes32_zero_shot, zero_shot_predict
from genbench.nn.shapes_clip import CONFIG_PATH, WORDS, ShapesTokenizer, build_shapes_clip, normalize_images


@pytest.fixture(scope="module")
def random_clip():
    torch.manual_seed(0)
    return build_shapes_clip()


@pytest.fixture(scope="module")
def test_batch():
    return shapes32("test", 0, 1000)


def test_tokenizer_round_trip_and_layout():
    tok = ShapesTokenizer()
    config = json.loads(CONFIG_PATH.read_text())["text_cfg"]
    assert tok.vocab_size == config["vocab_size"] == len(WORDS) + 4
    assert tok.context_length == config["context_length"]
    captions = prompts()
    tokens = tok(captions)
    assert tokens.shape == (960, 16) and tokens.dtype == torch.long
    assert [tok.decode(row) for row in tokens] == captions
    assert (tokens[:, 0] == tok.sot_id).all() and tok.eot_id == tokens.max() == tok.vocab_size - 1
    assert torch.equal(tok("A Large, RED star on a gray background!"), tok("a large red star on a gray background"))


def test_unknown_words_and_truncation():
    tok = ShapesTokenizer()
    row = tok("a zebra on a gray background")[0]
    assert row[2] == tok.unk_id and tok.decode(row) == "a <unk> on a gray background"
    long = tok(" ".join(["red"] * 40))[0]
    assert long[-1] == tok.eot_id and (long[1:-1] == tok.word_ids["red"]).all()
    assert tok("").tolist() == [[tok.sot_id, tok.eot_id] + [0] * 14]


def test_text_tower_pools_at_eot(random_clip):
    """open_clip's argmax pooling reads the eot position: tokens after it (under the causal mask)
    do not matter, the words before it do."""
    model, _, tok = random_clip
    tokens = tok(["a small red circle on a black background", "a large blue heart on a white background"])
    eot_position = (tokens == tok.eot_id).int().argmax(dim=-1)
    assert torch.equal(tokens.argmax(dim=-1), eot_position) and eot_position.tolist() == [9, 9]
    after = tokens.clone()
    after[:, 10:] = tok.word_ids["star"]
    before = tokens.clone()
    before[:, 4] = tok.word_ids["star"]
    with torch.no_grad():
        ref, changed_after, changed_before = (model.encode_text(t) for t in (tokens, after, before))
    torch.testing.assert_close(changed_after, ref, rtol=0, atol=1e-6)
    assert (changed_before - ref).abs().max() > 1e-3


def test_pil_preprocess_equals_training_normalisation(random_clip, test_batch):
    _, preprocess, _ = random_clip
    images = test_batch.images[:64]
    pil = torch.stack([preprocess(Image.fromarray(im.permute(1, 2, 0).numpy())) for im in images])
    assert torch.equal(pil, normalize_images(images))


def test_marginalisation_recovers_labels_from_perfect_embeddings(test_batch):
    """``prompt_index`` indexes ``prompts()`` and the softmax marginals come back in factor order."""
    codes = prompt_index(test_batch.labels)
    assert [prompts()[c] for c in codes[:50]] == test_batch.captions[:50]
    prompt_emb = torch.nn.functional.normalize(torch.randn(960, 64, generator=torch.Generator().manual_seed(0)), dim=-1)
    predicted = zero_shot_predict(prompt_emb[codes], prompt_emb, logit_scale=100.0)
    assert all(torch.equal(predicted[k], test_batch.labels[k]) for k in predicted)
    assert len(prompts()) == 960 == torch.Size(FACTOR_SIZES).numel()


@pytest.fixture(scope="module")
def bundled():
    return genbench.get_extractor("shapes-clip", device="cpu")


def test_bundled_provenance(bundled):
    assert bundled.name == "shapes-clip"
    assert bundled.weights_sha256 == read_manifest()["shapes-clip"]["sha256"]


def test_bundled_clip_score_separates_matched_from_mismatched(bundled, test_batch):
    images, captions = test_batch.images[:500], test_batch.captions[:500]
    matched = genbench.clip_score(images, captions, model="shapes-clip")
    mismatched = genbench.clip_score(images, captions[1:] + captions[:1], model=bundled)
    assert matched.provenance["model"] == "shapes-clip"
    assert matched.provenance["weights_sha256"] == read_manifest()["shapes-clip"]["sha256"]
    assert matched.mean() > mismatched.mean() + 50, (matched.mean(), mismatched.mean())


def test_bundled_zero_shot_accuracy(bundled, test_batch):
    accuracy = shapes32_zero_shot(bundled, test_batch)
    assert all(acc >= 0.95 for acc in accuracy.values()), accuracy
