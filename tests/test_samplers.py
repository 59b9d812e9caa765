"""Schedule, timestep spacings and the DDPM / DDIM samplers, checked on a Gaussian with a known optimal denoiser."""

import math
from functools import lru_cache

import pytest
import torch

from genbench.diffusion import Denoiser, ddim_sample, linear_schedule, sample_ddpm

SCHEDULE = linear_schedule()
T = SCHEDULE.T
ALPHA_BAR = SCHEDULE.alphas_cumprod
M, S, D, N = 0.5, 0.3, 4, 20_000           # data N(M, S² I) in D dims; N samples per run
SE_MEAN = S / math.sqrt(N * D)             # standard error of the pooled sample mean (entries are independent)
SE_STD = S / math.sqrt(2 * N * D)          # standard error of the pooled sample std (Gaussian)


def optimal_eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The exact ε-prediction for data x0 ~ N(M, S² I).

    x_t = √ᾱ_t x0 + √(1−ᾱ_t) ε is jointly Gaussian with ε: E x_t = √ᾱ_t M,
    Var x_t = ᾱ_t S² + 1 − ᾱ_t and Cov(ε, x_t) = √(1−ᾱ_t), per coordinate. The MSE-optimal
    predictor is the conditional mean E[ε | x_t] = Cov(ε, x_t)/Var(x_t) · (x_t − E x_t):
    ε*(x_t, t) = √(1−ᾱ_t) (x_t − √ᾱ_t M)/(ᾱ_t S² + 1 − ᾱ_t), the score of the true marginal times −√(1−ᾱ_t).
    """
    alpha_bar = ALPHA_BAR.to(x.device, x.dtype)[t].reshape(-1, *([1] * (x.ndim - 1)))
    return (1 - alpha_bar).sqrt() * (x - alpha_bar.sqrt() * M) / (alpha_bar * S ** 2 + 1 - alpha_bar)


def eps_denoiser(eps_model=optimal_eps, clip_x0: float | None = None) -> Denoiser:
    """The ε-prediction ``eps_model`` on SCHEDULE as a Denoiser, x̂0 clipped to [−clip_x0, clip_x0]."""
    return Denoiser(eps_model, SCHEDULE, "epsilon", clip_x0)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Per-step work here is a few elementwise ops on 80k values: threads only add contention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@lru_cache(maxsize=None)
def gaussian_samples(sampler: str, seed: int = 0, **kwargs) -> torch.Tensor:
    """(N, D) float64 samples of the analytic model; cached so tests share the 1000-step runs."""
    if sampler == "ddpm":
        return sample_ddpm(eps_denoiser(), (N, D), generator=torch.Generator().manual_seed(seed),
                           dtype=torch.float64, **kwargs)
    return ddim_sample(optimal_eps, (N, D), SCHEDULE, clip_x0=None, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64, **kwargs)


def moment_errors(x: torch.Tensor) -> tuple[float, float]:
    return x.mean().item() - M, x.std().item() - S


def ddpm_exact_moments(variance: str) -> tuple[float, float]:
    """Exact output mean and std of the T-step DDPM chain driven by ε*, from x_T ~ N(0, 1).

    With ε* above, Algorithm 2's step is affine in x_t: x_{t−1} = ((1 − k_t) x_t + k_t √ᾱ_t M)/√α_t + σ_t z
    with k_t = β_t/(ᾱ_t S² + 1 − ᾱ_t), so mean and variance propagate exactly. They differ from (M, S)
    only by the chain's discretisation (the reverse kernels are Gaussians with fixed variance).
    """
    betas, alphas, alpha_bars = SCHEDULE.betas.tolist(), SCHEDULE.alphas.tolist(), ALPHA_BAR.tolist()
    noise_vars = (SCHEDULE.betas if variance == "beta" else SCHEDULE.posterior_variance).tolist()
    mean, var = 0.0, 1.0
    for t in reversed(range(T)):
        k = betas[t] / (alpha_bars[t] * S ** 2 + 1 - alpha_bars[t])
        mean = ((1 - k) * mean + k * math.sqrt(alpha_bars[t]) * M) / math.sqrt(alphas[t])
        var = (1 - k) ** 2 * var / alphas[t] + (noise_vars[t] if t > 0 else 0.0)
    return mean, math.sqrt(var)


# --- schedule and spacings -----------------------------------------------------------------------

def test_linear_schedule():
    assert SCHEDULE.betas.dtype == torch.float64 and T == 1000
    assert SCHEDULE.betas[0].item() == pytest.approx(1e-4) and SCHEDULE.betas[-1].item() == pytest.approx(0.02)
    assert torch.allclose(ALPHA_BAR, torch.cumprod(1 - SCHEDULE.betas, 0))
    assert SCHEDULE.posterior_variance[0].item() == 0.0


def test_q_sample_broadcasts_per_sample_timesteps():
    x0, noise, t = torch.ones(3, 2, 4, 4), torch.full((3, 2, 4, 4), 2.0), torch.tensor([0, 500, 999])
    xt = SCHEDULE.q_sample(x0, t, noise)
    expected = ALPHA_BAR[t].sqrt() + 2 * (1 - ALPHA_BAR[t]).sqrt()
    assert torch.allclose(xt, expected.float().reshape(3, 1, 1, 1).expand(3, 2, 4, 4))


@pytest.mark.parametrize("spacing, expected", [
    ("uniform", [900, 800, 700, 600, 500, 400, 300, 200, 100, 0]),
    ("trailing", [999, 899, 799, 699, 599, 499, 399, 299, 199, 99]),
    ("quadratic", [800, 632, 483, 355, 246, 158, 88, 39, 9, 0]),
    ("linspace", [999, 888, 777, 666, 555, 444, 333, 222, 111, 0]),
])
def test_documented_timesteps(spacing, expected):
    assert SCHEDULE.timesteps(10, spacing) == expected


@pytest.mark.parametrize("spacing", ["uniform", "trailing", "quadratic", "linspace"])
@pytest.mark.parametrize("steps", [1, 3, 7, 29, 300, 1000])
def test_timesteps_are_distinct_descending_in_range(spacing, steps):
    if spacing == "quadratic" and steps > 29:
        with pytest.raises(ValueError, match="distinct"):
            SCHEDULE.timesteps(steps, spacing)
        return
    ts = SCHEDULE.timesteps(steps, spacing)
    assert len(ts) == steps and ts == sorted(set(ts), reverse=True) and 0 <= ts[-1] and ts[0] <= T - 1
    assert all(isinstance(t, int) for t in ts)
    if spacing == "trailing":
        assert ts[0] == T - 1
    if spacing == "uniform" and steps < T:
        assert T - 1 not in ts


@pytest.mark.parametrize("steps", [0, -1, T + 1])
def test_bad_step_counts_raise(steps):
    with pytest.raises(ValueError, match="steps"):
        SCHEDULE.timesteps(steps)


def test_unknown_spacing_lists_allowed_ones():
    with pytest.raises(ValueError, match="uniform, trailing, quadratic, linspace"):
        SCHEDULE.timesteps(10, "leading")


# --- sampler mechanics ---------------------------------------------------------------------------

def test_ddim_visits_listed_timesteps_and_steps_to_the_listed_previous_one():
    """Trailing S = 7 (T/S not an integer): t − T/S would be wrong after the first step.

    With ε̂ = 0 and η = 0 a step is x_prev = √(ᾱ_prev/ᾱ_τi) x, so the x seen at call i is
    x_T √(ᾱ_τi/ᾱ_τ0) exactly when ᾱ_prev was read at the next listed timestep; the output is x_T/√ᾱ_τ0.
    """
    calls = []

    def recording_zero_eps(x, t):
        calls.append((t.clone(), x.clone()))
        return torch.zeros_like(x)

    x_T = torch.randn(5, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    out = ddim_sample(recording_zero_eps, x_T.shape, SCHEDULE, steps=7, spacing="trailing", clip_x0=None, noise=x_T)
    listed = SCHEDULE.timesteps(7, "trailing")
    assert listed == [999, 856, 713, 570, 428, 285, 142]
    assert len(calls) == 7  # NFE = steps
    for (t, x), tau in zip(calls, listed):
        assert t.dtype == torch.long and t.shape == (5,) and (t == tau).all()
        assert torch.allclose(x, x_T * math.sqrt(ALPHA_BAR[tau] / ALPHA_BAR[listed[0]]), rtol=1e-12)
    assert torch.allclose(out, x_T / math.sqrt(ALPHA_BAR[listed[0]]), rtol=1e-12)


def test_ddpm_calls_the_model_at_every_timestep():
    seen = []
    sample_ddpm(eps_denoiser(lambda x, t: seen.append(int(t[0])) or torch.zeros_like(x)), (2, 3),
                generator=torch.Generator().manual_seed(0))
    assert seen == list(range(T - 1, -1, -1))  # NFE = T


def test_passed_noise_equals_generator_noise():
    """x_T is the generator's first draw; the per-step z continue the same stream."""
    shape = (64, D)
    generator = torch.Generator().manual_seed(3)
    x_T = torch.randn(shape, generator=generator, dtype=torch.float64)
    from_noise = ddim_sample(optimal_eps, shape, SCHEDULE, steps=20, eta=0.5, noise=x_T, generator=generator)
    from_seed = ddim_sample(optimal_eps, shape, SCHEDULE, steps=20, eta=0.5, dtype=torch.float64,
                            generator=torch.Generator().manual_seed(3))
    assert torch.equal(from_noise, from_seed)


@pytest.mark.parametrize("clip_x0", [None, 0.6])
@pytest.mark.parametrize("ddim_kwargs, variance", [({"eta": 1.0}, "beta_tilde"), ({"sigma_hat": True}, "beta")])
def test_ddim_with_all_timesteps_is_ddpm(ddim_kwargs, variance, clip_x0):
    """η = 1 is DDPM with β̃ and σ̂ is DDPM with β, step for step under the same noise; clip 0.6 clamps often."""
    shape = (256, D)
    ddim = ddim_sample(optimal_eps, shape, SCHEDULE, steps=T, clip_x0=clip_x0, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(1), **ddim_kwargs)
    ddpm = sample_ddpm(eps_denoiser(clip_x0=clip_x0), shape, variance=variance, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(1))
    assert torch.allclose(ddim, ddpm, rtol=0, atol=1e-10)
    if clip_x0 is not None:  # the last step returns the clamped x̂0, and the clamp binds
        assert ddpm.abs().max().item() == pytest.approx(clip_x0, abs=1e-9)


def test_clipping_that_never_binds_is_the_plain_ddpm_formula():
    run = lambda clip: sample_ddpm(eps_denoiser(clip_x0=clip), (256, D), dtype=torch.float64,  # noqa: E731
                                   generator=torch.Generator().manual_seed(2))
    assert torch.allclose(run(None), run(100.0), rtol=0, atol=1e-10)


@pytest.mark.parametrize("kwargs", [{"eta": -0.1}, {"eta": 1.5}, {"eta": 0.5, "sigma_hat": True}, {"steps": 0},
                                    {"steps": T + 1}, {"spacing": "leading"}, {"clip_x0": 0.0}])
def test_ddim_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        ddim_sample(optimal_eps, (2, D), SCHEDULE, **kwargs)


def test_ddpm_bad_arguments_raise():
    with pytest.raises(ValueError, match="beta, beta_tilde"):
        sample_ddpm(eps_denoiser(), (2, D), variance="large")
    with pytest.raises(ValueError, match="shape"):
        sample_ddpm(eps_denoiser(), (2, D), noise=torch.zeros(3, D))


# --- distributions on the analytic Gaussian (float64, no clipping) --------------------------------

@pytest.mark.parametrize("variance", ["beta", "beta_tilde"])
def test_ddpm_reproduces_the_gaussian(variance):
    exact_mean, exact_std = ddpm_exact_moments(variance)
    # The T = 1000 chain itself is within 0.005 of (M, S) (β̃: std −0.0037, β: +0.0009) ...
    assert abs(exact_mean - M) < 1e-4 and abs(exact_std - S) < 0.005
    # ... and the sampler hits the chain's exact moments up to sampling error.
    x = gaussian_samples("ddpm", variance=variance)
    assert abs(x.mean().item() - exact_mean) < 4 * SE_MEAN
    assert abs(x.std().item() - exact_std) < 4 * SE_STD


def test_ddim_eta0_is_deterministic_in_the_noise():
    shape = (64, D)
    run = lambda seed: ddim_sample(optimal_eps, shape, SCHEDULE, steps=10, dtype=torch.float64,  # noqa: E731
                                   generator=torch.Generator().manual_seed(seed))
    assert torch.equal(run(0), run(0))
    assert not torch.allclose(run(0), run(1))
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    assert torch.equal(ddim_sample(optimal_eps, shape, SCHEDULE, steps=10, noise=x_T),
                       ddim_sample(optimal_eps, shape, SCHEDULE, steps=10, noise=x_T,
                                   generator=torch.Generator().manual_seed(9)))


def test_ddim_eta0_other_seed_same_distribution():
    a, b = gaussian_samples("ddim", seed=0, steps=100), gaussian_samples("ddim", seed=1, steps=100)
    assert not torch.allclose(a, b)
    assert abs(a.mean().item() - b.mean().item()) < 4 * math.sqrt(2) * SE_MEAN
    assert abs(a.std().item() - b.std().item()) < 4 * math.sqrt(2) * SE_STD


def test_ddim_eta0_converges_with_steps():
    errors = {steps: moment_errors(gaussian_samples("ddim", steps=steps)) for steps in (10, 100, 1000)}
    size = {steps: math.hypot(*err) for steps, err in errors.items()}
    assert size[1000] <= size[100] <= size[10]
    mean_err, std_err = errors[1000]
    assert abs(mean_err) < 4 * SE_MEAN and abs(std_err) < 4 * SE_STD


def test_ddim_eta1_with_all_steps_matches_ddpm_beta_tilde_in_distribution():
    ddim = gaussian_samples("ddim", seed=3, steps=T, eta=1.0)
    ddpm = gaussian_samples("ddpm", variance="beta_tilde")
    assert abs(ddim.mean().item() - ddpm.mean().item()) < 4 * math.sqrt(2) * SE_MEAN
    assert abs(ddim.std().item() - ddpm.std().item()) < 4 * math.sqrt(2) * SE_STD
