"""The Denoiser (prediction types, clipping, β schedules), DPM-Solver++(2M) and the samplers over it,
and DenoiserGenerator / load_denoiser_generator, on analytic models (no diffusers needed)."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import pytest
import torch

import genbench as gb
from genbench.diffusion import (
    Denoiser,
    diffusers_betas,
    dpm_solver_timesteps,
    row_generators,
    run_sampler,
    sample_ddim,
    sample_dpmsolver,
    sampler_options,
)
from genbench.generators.bundled import DiffusionGenerator
from genbench.generators.diffusion_model import (
    DenoiserGenerator,
    load_denoiser_generator,
    random_class_labels,
)
from genbench.images import signed_unit_to_uint8

pytestmark = pytest.mark.usefixtures("one_thread")
M, S = 0.3, 0.4  # data x0 ~ N(M, S² I)


def gaussian_net(prediction: str, T: int = 1000, beta_schedule: str = "linear"):
    """The exact network output for data N(M, S² I) under ``prediction`` (float64 ᾱ of diffusers_betas)."""
    alpha_bars = torch.cumprod(1 - diffusers_betas(beta_schedule, T).double(), 0)

    def net(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = alpha_bars.to(x.dtype)[t].reshape(-1, *([1] * (x.ndim - 1)))
        x0 = M + a.sqrt() * S ** 2 * (x - a.sqrt() * M) / (a * S ** 2 + 1 - a)  # E[x0 | x_t]
        eps = (x - a.sqrt() * x0) / (1 - a).sqrt()
        return {"epsilon": eps, "sample": x0, "v_prediction": a.sqrt() * eps - (1 - a).sqrt() * x0}[prediction]

    return net


def gaussian(prediction: str = "epsilon", **kwargs) -> Denoiser:
    T, schedule = kwargs.pop("T", 1000), kwargs.pop("beta_schedule", "linear")
    return Denoiser.from_callable(gaussian_net(prediction, T, schedule), schedule, T=T, prediction=prediction, **kwargs)


# --- the Denoiser ---------------------------------------------------------------------------------

@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction", "sample"])
def test_predict_recovers_eps_and_x0_for_every_prediction_type(prediction):
    x0, eps = torch.randn(3, 2, 4, 4, dtype=torch.float64) * 0.5, torch.randn(3, 2, 4, 4, dtype=torch.float64)
    schedule = diffusers_betas("linear", 1000)
    for t in (0, 400, 999):
        a = torch.cumprod(1 - schedule.double(), 0)[t]
        xt = a.sqrt() * x0 + (1 - a).sqrt() * eps
        out = {"epsilon": eps, "sample": x0, "v_prediction": a.sqrt() * eps - (1 - a).sqrt() * x0}[prediction]
        den = Denoiser(lambda x, tt, out=out: out, schedule, prediction)
        eps_hat, x0_hat = den.predict(xt, t)
        assert torch.allclose(eps_hat, eps, atol=1e-8) and torch.allclose(x0_hat, x0, atol=1e-8 / math.sqrt(a))


def test_clipping_clamps_x0_and_rederives_eps():
    den = Denoiser(lambda x, t: torch.full_like(x, -3.0), diffusers_betas(), "sample", clip_sample=1.0)
    x = torch.randn(2, 3)
    eps, x0 = den.predict(x, 500)
    a = den.alpha_bar(500)
    assert torch.equal(x0, torch.full_like(x, -1.0))
    assert torch.allclose(eps, (x - math.sqrt(a) * x0) / math.sqrt(1 - a))
    assert den.replace(clip_sample=None).predict(x, 500)[1].eq(-3.0).all()


def test_beta_schedules():
    assert torch.equal(diffusers_betas("linear", 10, 1e-4, 0.02), torch.linspace(1e-4, 0.02, 10))
    assert torch.allclose(diffusers_betas("scaled_linear", 5, 0.01, 0.04), torch.linspace(0.1, 0.2, 5) ** 2)
    cosine = diffusers_betas("squaredcos_cap_v2", 1000).double()
    alpha_bar = torch.cumprod(1 - cosine, 0)
    f = lambda s: math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
    assert alpha_bar[499].item() == pytest.approx(f(0.5) / f(0), rel=1e-5) and cosine.max().item() == pytest.approx(0.999)
    with pytest.raises(ValueError, match="beta_schedule"):
        diffusers_betas("cubic")


def test_constructor_checks_and_bind():
    with pytest.raises(ValueError, match="prediction"):
        Denoiser(lambda x, t: x, diffusers_betas(), "noise")
    with pytest.raises(ValueError, match="clip_sample"):
        Denoiser(lambda x, t: x, diffusers_betas(), clip_sample=0.0)
    cond = Denoiser(lambda x, t, y: x * 0 + y.reshape(-1, 1).to(x.dtype), diffusers_betas(), num_classes=4)
    with pytest.raises(ValueError, match="bind"):
        cond.predict(torch.zeros(2, 3), 10)
    with pytest.raises(ValueError, match="class_labels"):
        cond.bind(torch.tensor([0, 4]))
    bound = cond.bind(torch.tensor([1, 3]))
    assert bound.num_classes is None and torch.equal(bound.model_output(torch.zeros(2, 3), 10)[:, 0], torch.tensor([1.0, 3.0]))


# --- samplers over Denoisers ----------------------------------------------------------------------

@pytest.mark.parametrize("sampler, options", [("ddim", {"steps": 10}), ("ddim", {"steps": 10, "eta": 1.0}),
                                              ("dpmsolver++", {"steps": 10}), ("ddpm", {})])
def test_samplers_do_not_depend_on_the_parameterisation(sampler, options):
    """The same model as ε-, v- or x0-prediction gives the same samples (up to float64 rounding)."""
    T = 1000 if sampler != "ddpm" else 100
    outs = [run_sampler(gaussian(p, T=T), (64, 4), sampler, sampler_options(sampler, T, **options),
                        generator=torch.Generator().manual_seed(0), dtype=torch.float64)
            for p in ("epsilon", "v_prediction", "sample")]
    assert torch.allclose(outs[0], outs[1], atol=1e-9) and torch.allclose(outs[0], outs[2], atol=1e-9)


def test_dpmsolver_is_second_order():
    """On the exact Gaussian denoiser the probability-flow ODE keeps (x_t − √ᾱ_t M)/√(ᾱ_t S² + 1 − ᾱ_t)
    constant, so from x_T at t = 999 it ends at x0 = M + S z. DPM-Solver++(2M)'s error falls about
    as S⁻² (ratio > 2.7 from S = 50 to 100; DDIM's, first order, as S⁻¹) and is far below DDIM's."""
    den, noise = gaussian(), torch.randn(256, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a = den.alpha_bar(999)
    exact = M + S * (noise - math.sqrt(a) * M) / math.sqrt(a * S ** 2 + 1 - a)
    err = {s: (sample_dpmsolver(den, noise.shape, steps=s, spacing="trailing", noise=noise) - exact).abs().max().item()
           for s in (50, 100)}
    ddim = (sample_ddim(den, noise.shape, steps=100, spacing="trailing", noise=noise) - exact).abs().max().item()
    assert err[50] / err[100] > 2.7 and err[100] < ddim / 10


def test_dpm_solver_timesteps():
    assert dpm_solver_timesteps(1000, 10) == [999, 899, 799, 699, 599, 500, 400, 300, 200, 100]
    assert dpm_solver_timesteps(1000, 10, "leading") == list(range(900, 0, -90))
    assert dpm_solver_timesteps(1000, 10, "trailing") == list(range(999, 0, -100))
    with pytest.raises(ValueError, match="spacing"):
        dpm_solver_timesteps(1000, 10, "uniform")
    with pytest.raises(ValueError, match="distinct"):
        dpm_solver_timesteps(10, 10, "leading")  # T // (S + 1) = 0


def test_sampler_options_resolve_defaults_and_refuse_bad_values():
    assert sampler_options("ddim", 1000) == {"steps": 50, "eta": 0.0, "spacing": "uniform", "sigma_hat": False}
    assert sampler_options("dpmsolver++", 1000, steps=20) == {"steps": 20, "spacing": "linspace", "final_sigma": "zero"}
    assert sampler_options("ddpm", 1000, variance="beta_tilde") == {"variance": "beta_tilde"}
    for sampler, kwargs, match in [("euler", {}, "sampler"), ("dpmsolver++", {"spacing": "uniform"}, "spacing"),
                                   ("ddim", {"spacing": "leading"}, "spacing"), ("ddim", {"steps": 0}, "steps"),
                                   ("dpmsolver++", {"final_sigma": "one"}, "final_sigma"), ("ddim", {"eta": 2}, "eta"),
                                   ("ddpm", {"variance": "large"}, "variance")]:
        with pytest.raises(ValueError, match=match):
            sampler_options(sampler, 1000, **kwargs)


# --- DenoiserGenerator ----------------------------------------------------------------------------

@pytest.mark.parametrize("sampler, options, nfe", [("ddim", {"steps": 4, "eta": 1.0}, 4),
                                                   ("dpmsolver++", {"steps": 5, "spacing": "trailing"}, 5),
                                                   ("ddpm", {}, 20)])
def test_denoiser_generator_sample_i_depends_only_on_seed_and_i(sampler, options, nfe):
    den = gaussian("v_prediction", T=20 if sampler == "ddpm" else 1000, clip_sample=1.0).replace(sample_shape=(3, 4, 5))
    gen = DenoiserGenerator(den, sampler, micro_batch=3, device="cpu", **options)
    assert gen.meta.nfe == nfe and gen.meta.resolution == (4, 5) and gen.meta.options["prediction"] == "v_prediction"
    whole = gen.sample(7, seed=3)
    assert whole.dtype == torch.uint8 and whole.shape == (7, 3, 4, 5)
    assert torch.equal(whole, torch.cat([gen.sample_range(3, 0, 2), gen.sample_range(3, 2, 4), gen.sample_range(3, 6, 1)]))
    assert not torch.equal(whole, gen.sample(7, seed=4))


def test_denoiser_generator_shapes_and_labels():
    den = gaussian()
    with pytest.raises(ValueError, match="shape"):
        DenoiserGenerator(den, device="cpu")
    gray = DenoiserGenerator(den, "ddim", steps=2, shape=(1, 4, 4), micro_batch=2, device="cpu").sample(3)
    assert gray.shape == (3, 3, 4, 4) and torch.equal(gray[:, 0], gray[:, 2])
    with pytest.raises(ValueError, match="class-conditional"):
        DenoiserGenerator(den, shape=(3, 4, 4), class_labels=1, device="cpu")
    labels = random_class_labels(0, 0, 200, 10)
    assert torch.equal(labels[50:60], random_class_labels(0, 50, 10, 10)) and set(labels.tolist()) == set(range(10))
    cond = Denoiser(lambda x, t, y: x * 0 + y.reshape(-1, 1, 1, 1).to(x.dtype), diffusers_betas(), "sample",
                    num_classes=10, sample_shape=(3, 2, 2))
    gen = DenoiserGenerator(cond, "ddim", steps=1, class_labels=[7, 2], micro_batch=2, device="cpu")
    assert gen.labels_for(0, 1, 3).tolist() == [2, 7, 2]
    with pytest.raises(ValueError, match="class_labels"):
        DenoiserGenerator(cond, class_labels=[10], device="cpu")


def test_load_denoiser_generator_module_object(tmp_path, monkeypatch):
    (tmp_path / "my_denoisers.py").write_text(textwrap.dedent("""
        import torch
        from genbench.diffusion import Denoiser

        def make():
            return Denoiser.from_callable(lambda x, t: torch.zeros_like(x), "squaredcos_cap_v2", T=100,
                                          sample_shape=(3, 4, 4))

        READY = make()
        NOT_ONE = 3
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec in ("my_denoisers:make", "my_denoisers:READY"):
        gen = load_denoiser_generator(spec, sampler="ddim", steps=5, micro_batch=2, device="cpu")
        assert gen.meta.name == spec and gen.meta.nfe == 5 and gen.meta.options["T"] == 100
        assert gen.sample(2).shape == (2, 3, 4, 4)
    with pytest.raises(ValueError, match="not a Denoiser"):
        load_denoiser_generator("my_denoisers:NOT_ONE")
    with pytest.raises(ValueError, match="diffusers:PATH"):
        load_denoiser_generator("my_denoisers")


def test_diffusers_is_imported_only_by_from_diffusers():
    code = ("import sys, genbench.generators.diffusion_model, genbench.generators.bundled, genbench.diffusion; "
            "assert 'diffusers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the bundled U-Net with DPM-Solver++ ----------------------------------------------------------

@pytest.mark.usefixtures("random_bundled_assets")
def test_bundled_unet_with_dpmsolver():
    gen = gb.get_generator("ddim", sampler="dpmsolver++", steps=4, device="cpu", micro_batch=4)
    assert isinstance(gen, DiffusionGenerator) and gen.meta.name == "dpmsolver++" and gen.meta.nfe == 4
    assert gen.meta.options | {"weights": None} == {"sampler": "dpmsolver++", "steps": 4, "spacing": "linspace",
                                                    "final_sigma": "zero", "clip_x0": 1.0, "weights": None,
                                                    "weights_sha256": gen.meta.options["weights_sha256"],
                                                    "micro_batch": 4}
    whole = gen.sample(5, seed=1)
    assert torch.equal(whole, torch.cat([gen.sample_range(1, 0, 3), gen.sample_range(1, 3, 2)]))
    expected = sample_dpmsolver(gen.denoiser, (4, 3, 32, 32), steps=4, generator=row_generators(1, 0, 4))
    assert torch.equal(whole[:4], signed_unit_to_uint8(expected))
    with pytest.raises(ValueError, match="deterministic"):
        DiffusionGenerator("dpmsolver++", eta=0.5, device="cpu")
