"""The guidance sweep's helpers (``genbench.harness.guidance_sweep``): the same-prompt SSIM."""

import math

import pytest
import torch


def test_same_prompt_ssim_is_one_when_the_noise_is_ignored():
    """A generator whose samples depend on the caption alone has no diversity per prompt: SSIM 1."""
    from genbench.harness.guidance_sweep import GuidanceSweepConfig, same_prompt_ssim

    class CaptionOnly:
        def sample_range(self, seed, start, n):
            return torch.stack([torch.full((3, 32, 32), 7 * (start + i) % 256, dtype=torch.uint8)
                                for i in range(n)])

    gen = CaptionOnly()
    cfg = GuidanceSweepConfig(n=10, pairs=8, batch_size=3, resamples=5)
    result = same_prompt_ssim(gen, gen.sample_range(0, 0, 8), cfg)
    assert result["same_prompt_ssim"] == pytest.approx(1.0)
    assert math.isnan(same_prompt_ssim(gen, None, cfg)["same_prompt_ssim"])
