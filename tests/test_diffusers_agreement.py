"""Full sampling loops agree with diffusers' schedulers, and diffusers folders load as Denoisers.

The model is the exact ε- (or v-) prediction for data x0 ~ N(0, S_DATA² I) plus a small multiple
of a tiny randomly initialised ``diffusers.UNet2DModel`` (8×8, seeded): a nonlinear network whose
x̂0 stays O(1) like a trained model's (a bare random network's x̂0 at t = 999 is ~100 and float32
rounding alone then exceeds 1e-4). genbench's samplers and diffusers' scheduler loops start from
the same x_T and add the same per-step noise (DDIM: diffusers' ``variance_noise`` gets the z
genbench drew; DDPM: both draw from the same per-row generators, which diffusers' ``randn_tensor``
reads row by row as genbench does). The final x_0 must agree to ``TOL`` max abs.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch

diffusers = pytest.importorskip("diffusers")

from genbench.diffusion import (
    Denoiser,
    diffusers_betas,
    dpm_solver_timesteps,
    row_generators,
    sample_ddim,
    sample_ddpm,
    sample_dpmsolver,
    standard_normal,
)
from genbench.diffusion.schedule import spaced_timesteps
from genbench.generators.diffusion_model import (
    DenoiserGenerator,
    load_denoiser_generator,
)
from genbench.images import signed_unit_to_uint8

pytestmark = pytest.mark.usefixtures("one_thread")
TOL = 1e-4
SHAPE = (2, 3, 8, 8)
S_DATA, NET_SCALE = 0.5, 0.05


def tiny_unet(num_class_embeds: int | None = None) -> torch.nn.Module:
    torch.manual_seed(0)
    return diffusers.UNet2DModel(sample_size=8, in_channels=3, out_channels=3, block_out_channels=(8, 16),
                                 layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D"),
                                 up_block_types=("UpBlock2D", "UpBlock2D"), norm_num_groups=4,
                                 num_class_embeds=num_class_embeds).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def unet() -> torch.nn.Module:
    return tiny_unet()


def x_T(seed: int = 0) -> torch.Tensor:
    return torch.randn(SHAPE, generator=torch.Generator().manual_seed(seed))


def model(unet, prediction: str, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
    """(x_t, t) -> exact prediction for x0 ~ N(0, S_DATA² I) + NET_SCALE · unet(x_t, t), on a linear schedule."""
    alpha_bars = torch.cumprod(1 - diffusers_betas("linear", T, beta_start, beta_end).double(), 0).float()

    def net(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a = alpha_bars[t].reshape(-1, 1, 1, 1)
        scale = ((1 - a).sqrt() if prediction == "epsilon" else (a * (1 - a)).sqrt() * (1 - S_DATA ** 2))
        return scale * x / (a * S_DATA ** 2 + 1 - a) + NET_SCALE * unet(x, t).sample

    return net


def denoiser(net, prediction: str, clip: float | None = None, **schedule) -> Denoiser:
    return Denoiser.from_callable(net, prediction=prediction, clip_sample=clip, **schedule)


def check(ours: torch.Tensor, theirs: torch.Tensor) -> None:
    err = (ours - theirs).abs().max().item()
    print(f"max abs {err:.2e} (|x0| max {theirs.abs().max().item():.2f})")
    assert err <= TOL


# --- schedules and timestep spacings -------------------------------------------------------------

@pytest.mark.parametrize("schedule", ["linear", "scaled_linear", "squaredcos_cap_v2"])
def test_betas_are_diffusers_betas(schedule):
    ref = diffusers.DDPMScheduler(num_train_timesteps=1000, beta_schedule=schedule, beta_start=0.00085, beta_end=0.012)
    assert torch.equal(diffusers_betas(schedule, 1000, 0.00085, 0.012), ref.betas)


@pytest.mark.parametrize("steps", [1, 3, 7, 10, 50, 999])
def test_spacing_names_map_to_diffusers(steps):
    """genbench DDIM "uniform" = diffusers "leading"; "trailing" and "linspace" keep their names;
    DPM-Solver's spacings are DPMSolverMultistepScheduler's."""
    for ours, theirs in [("uniform", "leading"), ("trailing", "trailing"), ("linspace", "linspace")]:
        ddim = diffusers.DDIMScheduler(timestep_spacing=theirs)
        ddim.set_timesteps(steps)
        assert spaced_timesteps(1000, steps, ours) == ddim.timesteps.tolist()
    for spacing in ("linspace", "leading", "trailing"):
        dpm = diffusers.DPMSolverMultistepScheduler(timestep_spacing=spacing)
        try:
            ours = dpm_solver_timesteps(1000, steps, spacing)
        except ValueError:  # repeated timesteps, refused here; diffusers would take zero-length steps
            continue
        dpm.set_timesteps(steps)
        assert ours == dpm.timesteps.tolist()


# --- full loops -----------------------------------------------------------------------------------

@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("eta", [0.0, 1.0])
@pytest.mark.parametrize("spacing, diffusers_spacing", [("uniform", "leading"), ("trailing", "trailing")])
def test_ddim_matches_diffusers(unet, prediction, eta, spacing, diffusers_spacing, clip=None, steps=10):
    noise, net = x_T(), model(unet, prediction)
    ours = sample_ddim(denoiser(net, prediction, clip), SHAPE, steps=steps, eta=eta, spacing=spacing, noise=noise,
                       generator=torch.Generator().manual_seed(1))
    sched = diffusers.DDIMScheduler(prediction_type=prediction, clip_sample=clip is not None,
                                    clip_sample_range=clip or 1.0, timestep_spacing=diffusers_spacing)
    sched.set_timesteps(steps)
    x, gen = noise.clone(), torch.Generator().manual_seed(1)
    for i, t in enumerate(sched.timesteps):
        z = None
        if eta > 0:  # genbench draws a z for every step but the last (whose σ is 0)
            z = torch.randn(SHAPE, generator=gen) if i < steps - 1 else torch.zeros(SHAPE)
        x = sched.step(net(x, t), t, x, eta=eta, variance_noise=z, use_clipped_model_output=True).prev_sample
    check(ours, x)


def test_ddim_with_clipping_matches_diffusers(unet):
    """clip_sample=True ↔ clip_sample=1.0 (diffusers with use_clipped_model_output=True)."""
    test_ddim_matches_diffusers(unet, "epsilon", 0.0, "uniform", "leading", clip=1.0)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("variance, variance_type", [("beta_tilde", "fixed_small"), ("beta", "fixed_large")])
def test_ddpm_matches_diffusers(unet, prediction, variance, variance_type):
    """All T steps of a short (T = 50) schedule; per-row generators on both sides."""
    schedule = {"T": 50, "beta_start": 1e-3, "beta_end": 0.2}
    noise, net = x_T(), model(unet, prediction, **schedule)
    ours = sample_ddpm(denoiser(net, prediction, **schedule), SHAPE, variance=variance, noise=noise,
                       generator=row_generators(7, 0, SHAPE[0]))
    sched = diffusers.DDPMScheduler(num_train_timesteps=50, beta_start=1e-3, beta_end=0.2, prediction_type=prediction,
                                    clip_sample=False, variance_type=variance_type)
    sched.set_timesteps(50)
    x, gens = noise.clone(), row_generators(7, 0, SHAPE[0])
    for t in sched.timesteps:
        x = sched.step(net(x, t), t, x, generator=gens).prev_sample
    check(ours, x)


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("spacing", ["linspace", "leading", "trailing"])
def test_dpmsolver_matches_diffusers(unet, prediction, spacing, steps=10, final_sigma="zero", clip=None):
    noise, net = x_T(), model(unet, prediction)
    ours = sample_dpmsolver(denoiser(net, prediction, clip), SHAPE, steps=steps, spacing=spacing,
                            final_sigma=final_sigma, noise=noise)
    sched = diffusers.DPMSolverMultistepScheduler(
        prediction_type=prediction, algorithm_type="dpmsolver++", solver_order=2, solver_type="midpoint",
        lower_order_final=True, timestep_spacing=spacing, final_sigmas_type=final_sigma,
        thresholding=clip is not None, sample_max_value=clip or 1.0)
    sched.set_timesteps(steps)
    x = noise.clone()
    for t in sched.timesteps:
        x = sched.step(net(x, t), t, x).prev_sample
    check(ours, x)


@pytest.mark.parametrize("steps", [5, 16])
def test_dpmsolver_sigma_min_final_matches_diffusers(unet, steps):
    """final_sigmas_type="sigma_min": S < 15 ends with a first-order step, S ≥ 15 with a second-order one."""
    test_dpmsolver_matches_diffusers(unet, "epsilon", "linspace", steps=steps, final_sigma="sigma_min")


def test_dpmsolver_with_clipping_matches_diffusers_thresholding(unet):
    """clip 1.0 ↔ diffusers' thresholding with sample_max_value 1 (its threshold s is then always 1)."""
    test_dpmsolver_matches_diffusers(unet, "epsilon", "linspace", clip=1.0)


# --- diffusers folders ----------------------------------------------------------------------------

def save_pipeline(unet, root, **scheduler):
    unet.save_pretrained(root / "unet", safe_serialization=True)
    diffusers.DDPMScheduler(**scheduler).save_pretrained(root / "scheduler")
    return root


def test_from_diffusers_pipeline_and_unet_folders(unet, tmp_path):
    root = save_pipeline(unet, tmp_path / "pipe", prediction_type="v_prediction", beta_schedule="scaled_linear",
                         beta_start=0.00085, beta_end=0.012, num_train_timesteps=500, clip_sample=True,
                         clip_sample_range=2.0)
    loaded = Denoiser.from_diffusers(root)
    assert (loaded.prediction, loaded.clip_sample, loaded.T, loaded.num_classes) == ("v_prediction", 2.0, 500, None)
    assert loaded.sample_shape == (3, 8, 8)
    assert torch.equal(loaded.schedule.betas, diffusers_betas("scaled_linear", 500, 0.00085, 0.012).double())
    assert loaded.info["beta_schedule"] == "scaled_linear" and loaded.info["weights_sha256"]
    x, t = x_T(), torch.tensor([3, 400])
    assert torch.equal(loaded.net(x, t), unet(x, t).sample)

    unet_only = tmp_path / "pipe" / "unet"
    (unet_only / "scheduler_config.json").write_text((root / "scheduler" / "scheduler_config.json").read_text())
    assert Denoiser.from_diffusers(unet_only).prediction == "v_prediction"
    no_clip = Denoiser.from_diffusers(unet_only, scheduler_config={"clip_sample": False})
    assert no_clip.clip_sample is None and no_clip.prediction == "epsilon" and no_clip.T == 1000


def test_from_diffusers_refuses_pickled_weights_and_missing_parts(unet, tmp_path):
    unet.save_pretrained(tmp_path / "bin", safe_serialization=False)
    diffusers.DDPMScheduler().save_pretrained(tmp_path / "bin")
    with pytest.raises(ValueError, match="refusing pickled weights"):
        Denoiser.from_diffusers(tmp_path / "bin")
    unet.save_pretrained(tmp_path / "nosched", safe_serialization=True)
    with pytest.raises(FileNotFoundError, match="scheduler_config.json"):
        Denoiser.from_diffusers(tmp_path / "nosched")
    with pytest.raises(FileNotFoundError, match="not a folder"):
        Denoiser.from_diffusers(tmp_path / "google/ddpm-cifar10-32")  # never a hub id


def test_from_diffusers_without_diffusers_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)
    with pytest.raises(ImportError, match=r"pip install genbench\[diffusers\]"):
        Denoiser.from_diffusers(tmp_path)


def test_class_conditional_folder_labels_are_used_and_reproducible(tmp_path):
    root = save_pipeline(tiny_unet(num_class_embeds=3), tmp_path / "cond", clip_sample=False)
    loaded = Denoiser.from_diffusers(root)
    assert loaded.num_classes == 3
    gen = DenoiserGenerator(loaded, "ddim", steps=3, micro_batch=4, device="cpu")
    assert gen.meta.conditioning == "class" and gen.meta.nfe == 3 and gen.meta.resolution == (8, 8)
    whole = gen.sample(6, seed=2)
    assert whole.shape == (6, 3, 8, 8) and whole.dtype == torch.uint8
    assert torch.equal(whole, torch.cat([gen.sample_range(2, 0, 1), gen.sample_range(2, 1, 5)]))
    labels = gen.labels_for(2, 0, 6)
    assert torch.equal(gen.labels_for(2, 3, 3), labels[3:])
    assert len(set(labels.tolist())) > 1 and not torch.equal(labels, gen.labels_for(3, 0, 6))
    # the same x_T under two fixed labels gives two different samples: the labels reach the network
    fixed = [DenoiserGenerator(loaded, "ddim", steps=3, micro_batch=4, device="cpu", class_labels=k).sample(2, 2)
             for k in (0, 1)]
    assert not torch.equal(fixed[0], fixed[1])
    # sample i is the fixed-label sample of its own drawn label
    by_label = {k: DenoiserGenerator(loaded, "ddim", steps=3, micro_batch=4, device="cpu", class_labels=k).sample(6, 2)
                for k in set(labels.tolist())}
    assert all(torch.equal(whole[i], by_label[int(k)][i]) for i, k in enumerate(labels))


def test_load_denoiser_generator_diffusers_spec(unet, tmp_path):
    root = save_pipeline(unet, tmp_path / "pipe", clip_sample=False)
    gen = load_denoiser_generator(f"diffusers:{root}", sampler="dpmsolver++", steps=4, micro_batch=2, device="cpu")
    assert gen.meta.nfe == 4 and gen.meta.options["spacing"] == "linspace" and gen.meta.name == f"diffusers:{root}"
    assert json.dumps(gen.meta.to_dict())  # metadata is JSON-ready
    expected = sample_dpmsolver(Denoiser.from_diffusers(root), (2, 3, 8, 8), steps=4,
                                noise=standard_normal((2, 3, 8, 8), row_generators(5, 0, 2)))
    assert torch.equal(gen.sample(2, seed=5), signed_unit_to_uint8(expected))
