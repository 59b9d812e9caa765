"""The bundled generators' code paths (on small random weights; the trained ones are checked by
the quality tests): sample i depends only on (seed, i), outputs are uint8 NCHW, weights are
sha256-checked, options are validated, and metadata states NFE and parameters."""

from __future__ import annotations

import pytest
import torch

import genbench as gb
from genbench.assets import models_dir
from genbench.features.weights import WeightsError

pytestmark = pytest.mark.usefixtures("one_thread", "random_bundled_assets")

CASES = [("vae", {}, 1), ("gan", {}, 1), ("ddim", {"steps": 5, "eta": 0.0}, 5),
         ("ddim", {"steps": 4, "eta": 1.0, "spacing": "trailing"}, 4),
         ("ddim", {"steps": 3, "sigma_hat": True, "spacing": "quadratic"}, 3)]


@pytest.mark.parametrize("name, options, nfe", CASES)
def test_sample_i_depends_only_on_seed_and_i(name, options, nfe):
    gen = gb.get_generator(name, device="cpu", **options)
    assert gen.meta.nfe == nfe and gen.meta.parameters > 0 and gen.meta.resolution == (32, 32)
    whole = gen.sample(7, seed=3)
    assert whole.dtype == torch.uint8 and whole.shape == (7, 3, 32, 32)
    pieces = torch.cat([gen.sample_range(3, 0, 2), gen.sample_range(3, 2, 4), gen.sample_range(3, 6, 1)])
    assert torch.equal(whole, pieces)
    assert torch.equal(torch.cat(list(gen.batches(7, seed=3, batch_size=3))), whole)
    other_seed = gen.sample(7, seed=4)
    assert not torch.equal(whole, other_seed)
    assert len({bytes(img.numpy()) for img in whole}) == 7  # samples differ from each other


def test_ddpm_full_chain_runs_with_its_nfe():
    gen = gb.get_generator("ddpm", device="cpu", micro_batch=2)  # 1000 steps: the smallest useful micro-batch
    assert gen.meta.nfe == 1000 and gen.meta.options["sampler"] == "ddpm"
    a = gen.sample_range(0, 5, 1)
    assert torch.equal(a, gen.sample_range(0, 4, 2)[1:])


def test_ddim_eta0_is_deterministic_given_the_initial_noise():
    gen = gb.get_generator("ddim", device="cpu", steps=5, eta=0.0)
    assert torch.equal(gen.sample(3, seed=1), gen.sample(3, seed=1))


@pytest.mark.parametrize("name, options, match", [
    ("ddim", {"steps": 0}, "steps"), ("ddim", {"eta": 1.5}, "eta"), ("ddim", {"spacing": "cubic"}, "spacing"),
    ("ddpm", {"variance": "huge"}, "variance"), ("nope", {}, "unknown generator")])
def test_bad_options_are_refused_with_clear_errors(name, options, match):
    with pytest.raises(ValueError, match=match):
        gb.get_generator(name, **options)


def test_tampered_weights_are_refused():
    path = models_dir() / "vae.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        gb.get_generator("vae")
